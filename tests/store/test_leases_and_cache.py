"""Leases: one holder at a time, renewable, taken over only after expiry, released by the
holder only; correct under concurrency. Cache: a durable key-value table."""

from __future__ import annotations

import asyncio

import pytest

from kargo import errors
from kargo.store import open_store


async def test_a_lease_has_one_holder_until_it_expires(store, clock):
    assert await store.try_acquire_lease("controller", "replica-a", 10)
    assert not await store.try_acquire_lease("controller", "replica-b", 10)
    clock.advance(9)
    assert await store.try_acquire_lease("controller", "replica-a", 10)  # renew
    clock.advance(9)
    assert not await store.try_acquire_lease("controller", "replica-b", 10)
    clock.advance(2)
    assert await store.try_acquire_lease("controller", "replica-b", 10)  # expired: taken over
    assert not await store.try_acquire_lease("controller", "replica-a", 10)


async def test_only_the_holder_releases_a_lease(store):
    assert await store.try_acquire_lease("l", "a", 30)
    await store.release_lease("l", "b")
    assert not await store.try_acquire_lease("l", "b", 30)
    await store.release_lease("l", "a")
    assert await store.try_acquire_lease("l", "b", 30)


async def test_leases_are_independent_by_name(store):
    assert await store.try_acquire_lease("one", "a", 30)
    assert await store.try_acquire_lease("two", "b", 30)


async def test_concurrent_acquirers_on_two_stores_exactly_one_wins(store, store_url, clock):
    other = await open_store(store_url, clock=clock)
    try:
        results = await asyncio.gather(
            *(
                (store if i % 2 else other).try_acquire_lease("shard", f"replica-{i}", 30)
                for i in range(10)
            )
        )
        assert results.count(True) == 1
    finally:
        await other.close()


async def test_lease_ttl_must_be_positive(store):
    with pytest.raises(errors.ValidationError):
        await store.try_acquire_lease("l", "a", 0)


async def test_cache_round_trips_and_replaces(store):
    assert await store.cache_get("images", "sha256:abc") is None
    await store.cache_put("images", "sha256:abc", '{"created": "2024-01-01"}')
    assert await store.cache_get("images", "sha256:abc") == '{"created": "2024-01-01"}'
    await store.cache_put("images", "sha256:abc", "v2")
    assert await store.cache_get("images", "sha256:abc") == "v2"
    assert await store.cache_get("charts", "sha256:abc") is None


async def test_cache_and_leases_write_no_watch_events(store):
    rv = await store.current_resource_version()
    await store.cache_put("b", "k", "v")
    await store.try_acquire_lease("l", "a", 5)
    assert await store.current_resource_version() == rv


async def test_cache_survives_a_reopen(store_url, clock):
    first = await open_store(store_url, clock=clock)
    await first.cache_put("b", "k", "v")
    await first.close()
    second = await open_store(store_url, clock=clock)
    try:
        assert await second.cache_get("b", "k") == "v"
    finally:
        await second.close()
