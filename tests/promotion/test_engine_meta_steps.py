"""The meta steps (compose-output, set-metadata, set-freight-alias, fail) and capabilities."""

from __future__ import annotations

import pytest

from kargo.clock import ManualClock
from kargo.credentials.interface import NoCredentials
from kargo.promotion import context, engine as engine_mod, registry as registry_mod, steps
from kargo.promotion.steps import meta
from kargo.store import open_store
from tests.controller.teststeps import Persisted, make_promotion, make_registry


@pytest.fixture
async def store(tmp_path):
    s = await open_store(f"sqlite:///{tmp_path}/kargo.db")
    yield s
    await s.close()


@pytest.fixture
def engine(tmp_path, store):
    services = engine_mod.EngineServices(
        control_plane=store,
        credentials=NoCredentials(),
        git_user=context.GitUser(),
        argocd=object(),
        extra={"calls": []},
    )
    return engine_mod.Engine(make_registry(), ManualClock(), services, work_root=tmp_path / "w")


def freight(name, alias):
    return {
        "apiVersion": "kargo.akuity.io/v1alpha1",
        "kind": "Freight",
        "metadata": {"name": name, "namespace": "demo", "labels": {meta.ALIAS_LABEL: alias}},
        "alias": alias,
        "origin": {"kind": "Warehouse", "name": "w"},
        "images": [{"repoURL": "ghcr.io/acme/app", "tag": "1.0.0"}],
    }


def stage(name):
    return {
        "apiVersion": "kargo.akuity.io/v1alpha1",
        "kind": "Stage",
        "metadata": {"name": name, "namespace": "demo"},
        "spec": {"requestedFreight": []},
    }


def test_builtin_families_are_listed_and_loaded_when_present():
    assert steps.BUILTIN_FAMILIES == (
        "meta",
        "git",
        "kustomize",
        "yaml",
        "jsonfile",
        "tomlfile",
        "files",
        "archives",
        "helm",
    )
    registry = steps.load_builtin_steps(registry_mod.StepRegistry())
    assert {"compose-output", "set-metadata", "set-freight-alias", "fail"} <= set(registry.names())
    assert set(steps.available_families()) <= set(steps.BUILTIN_FAMILIES)
    assert "meta" in steps.available_families()


async def test_services_are_passed_only_for_declared_capabilities(engine):
    promo = make_promotion(
        [
            {"uses": "caps-none", "as": "none", "config": {"path": "."}},
            {"uses": "caps-cp", "as": "cp", "config": {"path": "."}},
        ]
    )
    result = await engine.run(promo, Persisted())
    state = result["status"]["state"]
    assert state["none"] == {
        "controlPlane": False,
        "credentials": False,
        "gitUser": False,
        "argocd": False,
    }
    assert state["cp"] == {
        "controlPlane": True,
        "credentials": False,
        "gitUser": True,
        "argocd": False,
    }


async def test_compose_output_exports_its_keys(engine):
    promo = make_promotion([{"uses": "compose-output", "as": "out", "config": {"a": 1, "b": "x"}}])
    result = await engine.run(promo, Persisted())
    assert result["status"]["state"]["out"] == {"a": 1, "b": "x"}


async def test_compose_output_needs_at_least_one_key(engine):
    promo = make_promotion([{"uses": "compose-output", "as": "out", "config": {}}])
    result = await engine.run(promo, Persisted())
    assert result["status"]["stepExecutionMetadata"][0]["message"] == (
        'step "out" (compose-output): invalid config: value error, at least one output is required'
    )


async def test_compose_output_in_a_task_also_publishes_under_the_task_alias(engine):
    promo = make_promotion(
        [
            {"uses": "record", "as": "deploy::clone", "config": {"value": 1}},
            {"uses": "compose-output", "as": "deploy::out", "config": {"url": "u", "n": 2}},
            {"uses": "compose-output", "as": "other::out", "config": {"m": 3}},
        ]
    )
    result = await engine.run(promo, Persisted())
    state = result["status"]["state"]
    assert state["deploy"] == {"url": "u", "n": 2}
    assert state["deploy::out"] == {"url": "u", "n": 2}
    assert state["other"] == {"m": 3}
    assert "deploy::clone" in state


async def test_outputs_of_steps_without_propagation_stay_under_their_own_alias(engine):
    promo = make_promotion([{"uses": "record", "as": "t::r", "config": {"value": 1}}])
    result = await engine.run(promo, Persisted())
    assert "t" not in result["status"]["state"]


async def test_fail_fails_the_promotion_with_its_message_without_retry(engine):
    promo = make_promotion(
        [
            {
                "uses": "fail",
                "as": "stop",
                "config": {"message": "Always fails"},
                "retry": {"errorThreshold": 5},
            }
        ]
    )
    result = await engine.run(promo, Persisted())
    assert result["status"]["phase"] == "Failed"
    assert result["status"]["message"] == 'step "stop" (fail): Always fails'


async def test_set_metadata_merges_keys_into_stage_and_freight_status(engine, store):
    await store.create(freight("f1", "old"))
    created = await store.create(stage("test"))
    created["status"] = {"metadata": {"keep": True}}
    await store.update_status(created)
    promo = make_promotion(
        [
            {
                "uses": "set-metadata",
                "config": {
                    "updates": [
                        {"kind": "Stage", "name": "test", "values": {"ticket": "OPS-1"}},
                        {"kind": "Freight", "name": "f1", "values": {"tested": True}},
                    ]
                },
            }
        ]
    )
    result = await engine.run(promo, Persisted())
    assert result["status"]["phase"] == "Succeeded"
    assert (await store.get("Stage", "demo", "test"))["status"]["metadata"] == {
        "keep": True,
        "ticket": "OPS-1",
    }
    assert (await store.get("Freight", "demo", "f1"))["status"]["metadata"] == {"tested": True}


async def test_set_metadata_on_a_missing_object_errors_clearly(engine):
    promo = make_promotion(
        [
            {
                "uses": "set-metadata",
                "as": "m",
                "config": {"updates": [{"kind": "Stage", "name": "nope", "values": {}}]},
            }
        ]
    )
    result = await engine.run(promo, Persisted())
    assert result["status"]["message"] == (
        "step \"m\" (set-metadata): stage 'nope' not found in project 'demo'"
    )


async def test_set_metadata_rejects_other_kinds(engine):
    promo = make_promotion(
        [
            {
                "uses": "set-metadata",
                "as": "m",
                "config": {"updates": [{"kind": "Warehouse", "name": "w", "values": {}}]},
            }
        ]
    )
    result = await engine.run(promo, Persisted())
    assert "updates[0].kind: input should be 'Stage' or 'Freight'" in result["status"]["message"]


async def test_set_freight_alias_renames_and_relabels(engine, store):
    await store.create(freight("f1", "old"))
    promo = make_promotion(
        [{"uses": "set-freight-alias", "config": {"name": "f1", "alias": "release-1"}}]
    )
    result = await engine.run(promo, Persisted())
    assert result["status"]["phase"] == "Succeeded"
    stored = await store.get("Freight", "demo", "f1")
    assert stored["alias"] == "release-1"
    assert stored["metadata"]["labels"][meta.ALIAS_LABEL] == "release-1"


async def test_set_freight_alias_refuses_an_alias_in_use(engine, store):
    await store.create(freight("f1", "old"))
    await store.create(freight("f2", "taken"))
    promo = make_promotion(
        [{"uses": "set-freight-alias", "as": "a", "config": {"name": "f1", "alias": "taken"}}]
    )
    result = await engine.run(promo, Persisted())
    assert result["status"]["phase"] == "Errored"
    assert result["status"]["message"] == (
        "step \"a\" (set-freight-alias): alias 'taken' is already used by freight 'f2'; "
        "choose another alias"
    )
