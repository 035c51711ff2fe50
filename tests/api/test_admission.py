"""Admission: defaults, Freight identity and aliases, Promotion names and task inflation,
ProjectConfig names, Stage cycles, immutability and guarded deletion."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from kargo import errors
from kargo.api import admission, freight_id
from tests.api.lookups import API, DictLookup, freight, project, stage, warehouse

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def _lookup(*objs):
    return DictLookup(project(), warehouse(), *objs)


async def create(obj, lookup, **kw):
    return await admission.admit_create(obj, lookup, actor="admin", now=NOW, **kw)


async def test_namespaced_objects_need_an_existing_project():
    with pytest.raises(errors.NotFoundError, match='project "nope" does not exist'):
        await create(warehouse(ns="nope"), DictLookup())


async def test_namespaced_objects_need_a_namespace():
    obj = warehouse()
    del obj["metadata"]["namespace"]
    with pytest.raises(errors.ValidationError, match="must belong to a project"):
        await create(obj, _lookup())


async def test_create_applies_defaults_and_syncs_the_shard_label():
    obj = warehouse()
    obj["spec"]["shard"] = "east"
    out = await create(obj, DictLookup(project()))
    assert out["spec"]["interval"] == "5m0s"
    assert out["metadata"]["labels"]["kargo.akuity.io/shard"] == "east"
    assert "interval" not in obj["spec"], "the caller's object is not modified"


async def test_create_rejects_invalid_objects_with_every_problem():
    obj = warehouse()
    obj["spec"]["interval"] = "soon"
    obj["spec"]["subscriptions"][0]["image"]["discoveryLimit"] = 0
    with pytest.raises(errors.ValidationError) as caught:
        await create(obj, _lookup())
    assert [p.path for p in caught.value.problems] == [
        "spec.interval",
        "spec.subscriptions[0].image.discoveryLimit",
    ]


async def test_freight_is_named_by_its_id_with_discovered_at_and_a_generated_alias():
    obj = freight()
    obj["metadata"]["name"] = "user-supplied"
    out = await create(obj, _lookup(), new_alias=lambda: "wonky-wombat")
    assert out["metadata"]["name"] == freight_id.freight_id(obj)
    assert out["discoveredAt"] == "2026-03-01T12:00:00Z"
    assert out["alias"] == "wonky-wombat"
    assert out["metadata"]["labels"]["kargo.akuity.io/alias"] == "wonky-wombat"


async def test_generated_aliases_are_unique_per_project():
    taken = await create(freight("1.0"), _lookup(), new_alias=lambda: "wonky-wombat")
    lookup = _lookup(taken)
    names = iter(["wonky-wombat", "wonky-wombat", "brave-otter"])
    out = await create(freight("2.0"), lookup, new_alias=lambda: next(names))
    assert out["alias"] == "brave-otter"


async def test_default_alias_generator_gives_adjective_animal_words():
    out = await create(freight(), _lookup())
    assert re.fullmatch(r"[a-z]+-[a-z]+", out["alias"])


async def test_a_user_alias_must_be_unique():
    first = await create(freight("1.0", alias="mine"), _lookup())
    with pytest.raises(errors.ValidationError, match="alias 'mine' is already used"):
        await create(freight("2.0", alias="mine"), _lookup(first))


async def test_freight_needs_an_artifact_and_an_existing_warehouse():
    empty = freight()
    del empty["images"]
    with pytest.raises(errors.ValidationError, match="at least one artifact"):
        await create(empty, _lookup())
    with pytest.raises(errors.ValidationError, match="origin Warehouse 'w' does not exist"):
        await create(freight(), DictLookup(project()))


async def test_freight_content_is_immutable_but_alias_and_labels_are_not():
    stored = await create(freight(), _lookup(), new_alias=lambda: "a-b")
    lookup = _lookup(stored)
    changed = {**stored, "alias": "c-d", "metadata": {**stored["metadata"], "labels": {"x": "y"}}}
    out = await admission.admit_update(stored, changed, lookup, actor="admin", now=NOW)
    assert out["alias"] == "c-d"
    assert out["metadata"]["labels"] == {"x": "y", "kargo.akuity.io/alias": "c-d"}
    tampered = {**stored, "images": [{"repoURL": "nginx", "tag": "9"}]}
    with pytest.raises(errors.ValidationError, match="Freight is immutable: images"):
        await admission.admit_update(stored, tampered, lookup, actor="admin", now=NOW)


async def test_freight_in_use_by_a_stage_cannot_be_deleted():
    stored = await create(freight(), _lookup())
    name = stored["metadata"]["name"]
    test = stage("test")
    test["status"] = {"freightHistory": [{"items": {"Warehouse/w": {"name": name}}}]}
    with pytest.raises(errors.ConflictError, match="in use by Stage\\(s\\) test"):
        await admission.check_delete(stored, _lookup(test))
    await admission.check_delete(stored, _lookup(stage("test")))


async def test_project_config_must_be_named_after_its_project():
    cfg = {"apiVersion": API, "kind": "ProjectConfig", "metadata": {"name": "x", "namespace": "p"}}
    with pytest.raises(errors.ValidationError, match="must be named after its project"):
        await create(cfg, _lookup())
    cfg["metadata"]["name"] = "p"
    await create(cfg, _lookup())


@pytest.mark.parametrize(
    ("existing", "new", "cycle"),
    [
        ([], stage("a", upstream=["a"]), "a -> a"),
        ([stage("b", upstream=["a"])], stage("a", upstream=["b"]), "a -> b -> a"),
        (
            [stage("b", upstream=["c"]), stage("c", upstream=["a"]), stage("d")],
            stage("a", upstream=["d", "b"]),
            "a -> b -> c -> a",
        ),
    ],
)
async def test_stage_upstream_cycles_are_rejected_and_named(existing, new, cycle):
    with pytest.raises(errors.ValidationError, match=f"form a cycle: {cycle}"):
        await create(new, _lookup(*existing))


async def test_stage_update_that_closes_a_cycle_is_rejected():
    a, b = stage("a"), stage("b", upstream=["a"])
    lookup = _lookup(a, b)
    await create(stage("c", upstream=["b"]), lookup)
    with pytest.raises(errors.ValidationError, match="a -> b -> a"):
        await admission.admit_update(a, stage("a", upstream=["b"]), lookup, actor="admin", now=NOW)


async def _promotion_setup(test_stage, *extra):
    stored = await create(freight(), _lookup())
    lookup = _lookup(stored, test_stage, *extra)
    promo = {
        "apiVersion": API,
        "kind": "Promotion",
        "metadata": {"namespace": "p"},
        "spec": {"stage": test_stage["metadata"]["name"], "freight": stored["metadata"]["name"]},
    }
    return promo, lookup, stored["metadata"]["name"]


async def test_promotion_gets_a_name_label_actor_and_the_stage_steps():
    steps = [{"uses": "git-clone", "config": {"repoURL": "${{ vars.repo }}"}}, {"uses": "fail"}]
    promo, lookup, freight_name = await _promotion_setup(
        stage(
            "test",
            steps=steps,
            stage_vars=[{"name": "repo", "value": "r"}],
            template_vars=[{"name": "x", "value": "1"}],
        )
    )
    out = await admission.admit_create(promo, lookup, actor="alice@example.com", now=NOW)
    name = out["metadata"]["name"]
    assert re.fullmatch(rf"test\.[0-9a-z]{{26}}\.{freight_name[:7]}", name)
    assert name == name.lower()
    assert out["metadata"]["labels"]["kargo.akuity.io/stage"] == "test"
    assert out["metadata"]["annotations"]["kargo.akuity.io/create-actor"] == "alice@example.com"
    assert out["spec"]["vars"] == [{"name": "repo", "value": "r"}, {"name": "x", "value": "1"}]
    assert out["spec"]["steps"] == [
        {"uses": "git-clone", "config": {"repoURL": "${{ vars.repo }}"}, "as": "step-1"},
        {"uses": "fail", "as": "step-2"},
    ]


def test_promotion_names_sort_by_creation_time_and_fit_253():
    early = admission.promotion_name("s", "abcdef0123", NOW)
    late = admission.promotion_name("s", "abcdef0123", NOW.replace(hour=13))
    assert early < late
    long = admission.promotion_name("x" * 300, "abcdef0123", NOW)
    assert len(long) == 253
    assert long.endswith(".abcdef0")


async def test_promotion_of_a_missing_stage_or_freight_is_a_clear_error():
    promo, lookup, _ = await _promotion_setup(stage("test"))
    missing_stage = {**promo, "spec": {**promo["spec"], "stage": "nope"}}
    with pytest.raises(errors.ValidationError, match="Stage 'nope' does not exist in project 'p'"):
        await create(missing_stage, lookup)
    missing_freight = {**promo, "spec": {**promo["spec"], "freight": "f00"}}
    with pytest.raises(errors.ValidationError, match="Freight 'f00' does not exist"):
        await create(missing_freight, lookup)


async def test_promotion_to_a_control_flow_stage_is_refused():
    promo, lookup, _ = await _promotion_setup(stage("test", steps=[]))
    with pytest.raises(errors.ValidationError, match="control-flow Stage"):
        await create(promo, lookup)


async def test_promotion_by_origin_picks_the_newest_available_freight():
    older = await create(freight("1.0", discoveredAt="2026-01-01T00:00:00Z"), _lookup())
    newer = await create(freight("2.0", discoveredAt="2026-02-01T00:00:00Z"), _lookup(older))
    lookup = _lookup(older, newer, stage("test"))
    promo = {
        "apiVersion": API,
        "kind": "Promotion",
        "metadata": {"namespace": "p"},
        "spec": {"stage": "test", "origin": {"kind": "Warehouse", "name": "w"}},
    }
    out = await create(promo, lookup)
    assert out["spec"]["freight"] == newer["metadata"]["name"]
    assert "origin" not in out["spec"]


async def test_promotion_by_origin_needs_available_freight():
    stored = await create(freight(), _lookup())
    lookup = _lookup(stored, stage("uat", upstream=["test"]), stage("test"))
    promo = {
        "apiVersion": API,
        "kind": "Promotion",
        "metadata": {"namespace": "p"},
        "spec": {"stage": "uat", "origin": {"kind": "Warehouse", "name": "w"}},
    }
    with pytest.raises(errors.ValidationError, match="no Freight from Warehouse/w is available"):
        await create(promo, lookup)


async def test_promotion_spec_is_immutable():
    promo, lookup, _ = await _promotion_setup(stage("test"))
    out = await create(promo, lookup)
    out2 = {**out, "spec": {**out["spec"], "stage": "other"}}
    with pytest.raises(errors.ValidationError, match="spec of a Promotion is immutable"):
        await admission.admit_update(out, out2, lookup, actor="admin", now=NOW)
    relabelled = {**out, "metadata": {**out["metadata"], "annotations": {"a": "b"}}}
    await admission.admit_update(out, relabelled, lookup, actor="admin", now=NOW)


def _task(name, steps, task_vars=None, kind="PromotionTask"):
    meta = {"name": name} if kind == "ClusterPromotionTask" else {"name": name, "namespace": "p"}
    spec = {"steps": steps}
    if task_vars is not None:
        spec["vars"] = task_vars
    return {"apiVersion": API, "kind": kind, "metadata": meta, "spec": spec}


async def test_task_steps_are_inflated_with_aliases_and_vars():
    task = _task(
        "deploy",
        [{"uses": "git-clone"}, {"uses": "git-push", "as": "push", "vars": [{"name": "own"}]}],
        task_vars=[
            {"name": "repo", "value": "default"},
            {"name": "env"},
            {"name": "x", "value": "d"},
        ],
    )
    cluster_task = _task("notify", [{"uses": "http"}], kind="ClusterPromotionTask")
    steps = [
        {"uses": "fail"},
        {"task": {"name": "deploy"}, "vars": [{"name": "env", "value": "prod"}]},
        {"task": {"name": "notify", "kind": "ClusterPromotionTask"}, "as": "tell"},
    ]
    promo, lookup, _ = await _promotion_setup(
        stage("test", steps=steps, stage_vars=[{"name": "x", "value": "from-stage"}]),
        task,
        cluster_task,
    )
    out = await create(promo, lookup)
    assert out["spec"]["steps"] == [
        {"uses": "fail", "as": "step-1"},
        {
            "uses": "git-clone",
            "as": "task-2::step-1",
            "vars": [{"name": "repo", "value": "default"}, {"name": "env", "value": "prod"}],
        },
        {
            "uses": "git-push",
            "as": "task-2::push",
            "vars": [
                {"name": "repo", "value": "default"},
                {"name": "env", "value": "prod"},
                {"name": "own"},
            ],
        },
        {"uses": "http", "as": "tell::step-1"},
    ]


async def test_a_required_task_var_must_be_given():
    task = _task("deploy", [{"uses": "git-clone"}], task_vars=[{"name": "env"}])
    promo, lookup, _ = await _promotion_setup(
        stage("test", steps=[{"task": {"name": "deploy"}}]), task
    )
    with pytest.raises(errors.ValidationError, match='missing value for variable "env"'):
        await create(promo, lookup)


async def test_a_required_task_var_may_come_from_the_stage():
    task = _task("deploy", [{"uses": "git-clone"}], task_vars=[{"name": "env"}])
    promo, lookup, _ = await _promotion_setup(
        stage(
            "test",
            steps=[{"task": {"name": "deploy"}}],
            stage_vars=[{"name": "env", "value": "prod"}],
        ),
        task,
    )
    out = await create(promo, lookup)
    assert out["spec"]["steps"] == [{"uses": "git-clone", "as": "task-1::step-1"}]


async def test_a_missing_task_is_a_clear_error():
    promo, lookup, _ = await _promotion_setup(stage("test", steps=[{"task": {"name": "nope"}}]))
    with pytest.raises(errors.ValidationError, match="PromotionTask 'nope' not found"):
        await create(promo, lookup)


def test_long_stage_names_are_shortened_for_the_label():
    value = admission.stage_label_value("s" * 100)
    assert len(value) <= 63
    assert value != admission.stage_label_value("s" * 99)
