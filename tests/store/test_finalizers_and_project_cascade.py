"""Delete with finalizers only marks the object (deletionTimestamp); clearing the finalizers
removes it. Deleting a Project deletes everything in its namespace."""

from __future__ import annotations

import pytest

from kargo import errors
from tests.store.conftest import project, stage


async def test_delete_with_finalizers_marks_the_object(store, clock):
    created = await store.create(stage("uat", finalizers=["kargo.akuity.io/finalizer"]))
    clock.advance(60)
    marked = await store.delete("Stage", "demo", "uat")
    assert marked is not None
    assert marked["metadata"]["deletionTimestamp"] == "2026-01-01T00:01:00Z"
    assert marked["metadata"]["generation"] == created["metadata"]["generation"]
    assert await store.get("Stage", "demo", "uat") == marked
    # A second delete changes nothing.
    assert await store.delete("Stage", "demo", "uat") == marked


async def test_clearing_the_finalizers_removes_a_marked_object(store):
    await store.create(stage("uat", finalizers=["a", "b"]))
    marked = await store.delete("Stage", "demo", "uat")
    marked["metadata"]["finalizers"] = ["b"]
    still = await store.update(marked)
    assert still["metadata"]["finalizers"] == ["b"]
    still["metadata"]["finalizers"] = []
    gone = await store.update(still)
    assert gone["metadata"]["deletionTimestamp"]
    with pytest.raises(errors.NotFoundError):
        await store.get("Stage", "demo", "uat")


async def test_clearing_finalizers_of_a_live_object_keeps_it(store):
    created = await store.create(stage("uat", finalizers=["a"]))
    created["metadata"]["finalizers"] = []
    updated = await store.update(created)
    assert "finalizers" not in updated["metadata"]
    assert await store.get("Stage", "demo", "uat") == updated


async def test_deleting_a_project_deletes_its_namespace(store):
    await store.create(project("demo"))
    await store.create(stage("a"))
    await store.create({**stage("w"), "kind": "Warehouse"})
    await store.create(stage("a", project="other"))
    await store.create(project("other"))
    assert await store.delete("Project", "", "demo") is None
    assert (await store.list("Stage")).items[0]["metadata"]["namespace"] == "other"
    assert len((await store.list("Stage")).items) == 1
    assert (await store.list("Warehouse")).items == []
    assert [p["metadata"]["name"] for p in (await store.list("Project")).items] == ["other"]


async def test_project_waits_for_objects_with_finalizers(store):
    await store.create(project("demo"))
    await store.create(stage("plain"))
    await store.create(stage("held", finalizers=["kargo.akuity.io/finalizer"]))
    marked = await store.delete("Project", "", "demo")
    assert marked is not None
    assert marked["metadata"]["deletionTimestamp"]
    held = await store.get("Stage", "demo", "held")
    assert held["metadata"]["deletionTimestamp"]
    with pytest.raises(errors.NotFoundError):
        await store.get("Stage", "demo", "plain")
    with pytest.raises(errors.ConflictError, match="being deleted"):
        await store.create(stage("new"))
    held["metadata"]["finalizers"] = []
    await store.update(held)
    with pytest.raises(errors.NotFoundError):
        await store.get("Project", "", "demo")
    # The namespace is free again.
    await store.create(project("demo"))
    await store.create(stage("new"))


async def test_project_with_its_own_finalizer_stays_until_cleared(store):
    await store.create(project("demo", finalizers=["kargo.akuity.io/finalizer"]))
    await store.create(stage("a"))
    marked = await store.delete("Project", "", "demo")
    assert marked is not None
    assert (await store.list("Stage")).items == []
    marked["metadata"]["finalizers"] = []
    await store.update(marked)
    with pytest.raises(errors.NotFoundError):
        await store.get("Project", "", "demo")


async def test_objects_outside_projects_are_allowed(store):
    # The store is independent of kinds: a namespace needs no Project object.
    created = await store.create(stage("a", project="no-project"))
    assert created["metadata"]["namespace"] == "no-project"
