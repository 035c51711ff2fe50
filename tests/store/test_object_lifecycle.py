"""Create, get, list, update, update_status and delete keep Kubernetes' object semantics."""

from __future__ import annotations

import uuid

import pytest

from kargo import errors
from kargo.store import interface
from tests.store.conftest import project, stage


async def test_create_fills_store_owned_metadata(store, clock):
    created = await store.create(stage("uat", labels={"tier": "test"}))
    meta = created["metadata"]
    assert meta["name"] == "uat"
    assert meta["namespace"] == "demo"
    assert uuid.UUID(meta["uid"]).version == 4
    assert meta["generation"] == 1
    assert meta["creationTimestamp"] == "2026-01-01T00:00:00Z"
    assert meta["resourceVersion"] == await store.current_resource_version()
    assert meta["labels"] == {"tier": "test"}
    assert created["spec"] == {"requestedFreight": []}
    assert await store.get("Stage", "demo", "uat") == created


async def test_caller_cannot_set_store_owned_metadata(store):
    obj = stage("uat")
    obj["metadata"].update(
        uid="mine", resourceVersion="999", generation=7, creationTimestamp="1999-01-01T00:00:00Z"
    )
    created = await store.create(obj)
    assert created["metadata"]["uid"] != "mine"
    assert created["metadata"]["generation"] == 1
    assert created["metadata"]["resourceVersion"] != "999"
    assert created["metadata"]["creationTimestamp"] == "2026-01-01T00:00:00Z"


async def test_cluster_scoped_objects_have_no_namespace(store):
    created = await store.create(project("demo"))
    assert "namespace" not in created["metadata"]
    assert await store.get("Project", "", "demo") == created


async def test_create_of_an_existing_object_fails(store):
    await store.create(stage("uat"))
    with pytest.raises(
        errors.AlreadyExistsError, match='Stage "uat" in project "demo" already exists'
    ):
        await store.create(stage("uat"))


async def test_same_name_in_other_project_or_kind_is_another_object(store):
    await store.create(stage("uat"))
    await store.create(stage("uat", project="other"))
    await store.create({**stage("uat"), "kind": "Warehouse"})
    assert len((await store.list("Stage")).items) == 2


async def test_get_of_a_missing_object_fails(store):
    with pytest.raises(errors.NotFoundError, match='Stage "nope" in project "demo" not found'):
        await store.get("Stage", "demo", "nope")


async def test_object_without_name_is_rejected(store):
    with pytest.raises(errors.ValidationError) as info:
        await store.create({"kind": "Stage", "metadata": {"namespace": "demo"}})
    assert info.value.problems[0].path == "metadata.name"


async def test_resource_versions_increase_strictly_across_kinds(store):
    seen = []
    for i in range(5):
        seen.append(int((await store.create(stage(f"s{i}")))["metadata"]["resourceVersion"]))
        seen.append(int((await store.create(project(f"p{i}")))["metadata"]["resourceVersion"]))
    assert seen == sorted(seen)
    assert len(set(seen)) == len(seen)


async def test_update_bumps_generation_only_when_spec_changes(store):
    created = await store.create(stage("uat"))
    relabelled = dict(created, metadata={**created["metadata"], "labels": {"a": "b"}})
    relabelled = await store.update(relabelled)
    assert relabelled["metadata"]["generation"] == 1
    assert int(relabelled["metadata"]["resourceVersion"]) > int(
        created["metadata"]["resourceVersion"]
    )
    changed = await store.update(dict(relabelled, spec={"requestedFreight": [{"origin": "w"}]}))
    assert changed["metadata"]["generation"] == 2


async def test_top_level_fields_of_kinds_without_spec_count_as_spec(store):
    freight = {
        "kind": "Freight",
        "metadata": {"name": "abc", "namespace": "demo"},
        "origin": {"kind": "Warehouse", "name": "w"},
        "images": [{"repoURL": "r", "tag": "1.0.0"}],
    }
    created = await store.create(freight)
    updated = await store.update(dict(created, alias="my-alias"))
    assert updated["metadata"]["generation"] == 2
    apiversion_only = await store.update(dict(updated, apiVersion="kargo.akuity.io/v1alpha1"))
    assert apiversion_only["metadata"]["generation"] == 2


async def test_update_ignores_status(store):
    created = await store.create(stage("uat"))
    with_status = await store.update_status(dict(created, status={"phase": "Steady"}))
    updated = await store.update(dict(with_status, status={"phase": "Hacked"}, spec={"x": 1}))
    assert updated["status"] == {"phase": "Steady"}
    assert updated["spec"] == {"x": 1}


async def test_update_status_ignores_everything_else(store):
    created = await store.create(stage("uat", labels={"a": "b"}))
    changed = dict(created, spec={"x": "ignored"}, status={"phase": "Steady"})
    changed["metadata"] = {**created["metadata"], "labels": {"a": "ignored"}}
    updated = await store.update_status(changed)
    assert updated["status"] == {"phase": "Steady"}
    assert updated["spec"] == created["spec"]
    assert updated["metadata"]["labels"] == {"a": "b"}
    assert updated["metadata"]["generation"] == 1


async def test_unchanged_update_writes_nothing(store):
    created = await store.create(stage("uat"))
    rv = await store.current_resource_version()
    assert await store.update(created) == created
    assert await store.update_status(created) == created
    assert await store.current_resource_version() == rv


async def test_update_of_a_missing_object_fails(store):
    with pytest.raises(errors.NotFoundError):
        await store.update(stage("ghost"))
    with pytest.raises(errors.NotFoundError):
        await store.update_status(stage("ghost"))


async def test_update_without_resource_version_is_unconditional(store):
    await store.create(stage("uat"))
    updated = await store.update(stage("uat", spec={"x": 1}))
    assert updated["spec"] == {"x": 1}


async def test_delete_removes_the_object(store):
    await store.create(stage("uat"))
    assert await store.delete("Stage", "demo", "uat") is None
    with pytest.raises(errors.NotFoundError):
        await store.get("Stage", "demo", "uat")
    with pytest.raises(errors.NotFoundError):
        await store.delete("Stage", "demo", "uat")


async def test_recreated_object_gets_a_new_uid(store):
    first = await store.create(stage("uat"))
    await store.delete("Stage", "demo", "uat")
    second = await store.create(stage("uat"))
    assert second["metadata"]["uid"] != first["metadata"]["uid"]
    stale = dict(second, metadata={**second["metadata"], "uid": first["metadata"]["uid"]})
    del stale["metadata"]["resourceVersion"]
    with pytest.raises(errors.ConflictError, match="uid"):
        await store.update(stale)


async def test_returned_objects_are_copies(store):
    obj = stage("uat", spec={"list": [1]})
    created = await store.create(obj)
    obj["spec"]["list"].append(2)
    created["spec"]["list"].append(3)
    assert (await store.get("Stage", "demo", "uat"))["spec"] == {"list": [1]}


async def test_list_is_ordered_by_namespace_then_name(store):
    for ns, name in [("b", "x"), ("a", "y"), ("a", "x"), ("c", "a")]:
        await store.create(stage(name, project=ns))
    listed = await store.list("Stage")
    assert [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in listed.items] == [
        ("a", "x"),
        ("a", "y"),
        ("b", "x"),
        ("c", "a"),
    ]
    assert listed.resource_version == await store.current_resource_version()
    assert listed.continue_token is None
    only_a = await store.list("Stage", interface.ListOptions(namespace="a"))
    assert [o["metadata"]["name"] for o in only_a.items] == ["x", "y"]
