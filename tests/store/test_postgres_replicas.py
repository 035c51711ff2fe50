"""Replicas on one PostgreSQL database: a write by one wakes the others' watchers through
LISTEN/NOTIFY (well before the long safety-net re-check)."""

from __future__ import annotations

import asyncio

from kargo.store import open_store, sql
from tests.store.conftest import next_event, stage


async def test_a_write_on_one_replica_wakes_a_watch_on_another(pg_url, clock):
    assert sql.PG_RECHECK_SECONDS >= 30
    watcher = await open_store(pg_url, clock=clock)
    writer = await open_store(pg_url, clock=clock)
    try:
        events = watcher.watch("Stage", since=await watcher.current_resource_version())
        try:
            pending = asyncio.ensure_future(next_event(events, timeout=10))
            await asyncio.sleep(0.1)
            await writer.create(stage("from-the-other-replica"))
            event = await pending
            assert event.object["metadata"]["name"] == "from-the-other-replica"
        finally:
            await events.aclose()
    finally:
        await writer.close()
        await watcher.close()
