"""A stale resourceVersion is a ConflictError naming the object and both versions, and of many
concurrent updates from the same version exactly one wins (in one store and across two)."""

from __future__ import annotations

import asyncio

import pytest

from kargo import errors
from kargo.store import open_store
from tests.store.conftest import stage


async def test_stale_update_is_a_conflict_naming_both_versions(store):
    created = await store.create(stage("uat"))
    newer = await store.update(dict(created, spec={"x": 1}))
    old_rv, new_rv = created["metadata"]["resourceVersion"], newer["metadata"]["resourceVersion"]
    with pytest.raises(errors.ConflictError) as info:
        await store.update(dict(created, spec={"x": 2}))
    message = str(info.value)
    assert 'Stage "uat" in project "demo"' in message
    assert f"resourceVersion {old_rv} is stale" in message
    assert f"at {new_rv}" in message
    with pytest.raises(errors.ConflictError):
        await store.update_status(dict(created, status={"phase": "x"}))
    assert (await store.get("Stage", "demo", "uat"))["spec"] == {"x": 1}


async def test_concurrent_updates_from_one_version_exactly_one_wins(store):
    created = await store.create(stage("uat"))

    async def attempt(i: int) -> str:
        try:
            await store.update(dict(created, spec={"writer": i}))
        except errors.ConflictError:
            return "conflict"
        return "won"

    outcomes = await asyncio.gather(*(attempt(i) for i in range(8)))
    assert outcomes.count("won") == 1
    assert outcomes.count("conflict") == 7


async def test_concurrent_updates_from_two_stores_exactly_one_wins(store, store_url, clock):
    other = await open_store(store_url, clock=clock)
    try:
        created = await store.create(stage("uat"))

        async def attempt(s, i: int) -> str:
            try:
                await s.update_status(dict(created, status={"writer": i}))
            except errors.ConflictError:
                return "conflict"
            return "won"

        outcomes = await asyncio.gather(*(attempt(store if i % 2 else other, i) for i in range(8)))
        assert outcomes.count("won") == 1
        final = await other.get("Stage", "demo", "uat")
        assert (
            int(final["metadata"]["resourceVersion"])
            == int(created["metadata"]["resourceVersion"]) + 1
        )
    finally:
        await other.close()


async def test_concurrent_creates_of_one_name_exactly_one_wins(store):
    async def attempt() -> str:
        try:
            await store.create(stage("uat"))
        except errors.AlreadyExistsError:
            return "exists"
        return "created"

    outcomes = await asyncio.gather(*(attempt() for _ in range(5)))
    assert outcomes.count("created") == 1
