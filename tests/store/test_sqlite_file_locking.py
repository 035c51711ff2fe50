"""SQLite: when another process holds the write lock, a write waits (off the event loop) for
it instead of failing, and reads go on meanwhile (WAL)."""

from __future__ import annotations

import asyncio
import sqlite3

from kargo.store import open_store
from tests.store.conftest import stage


async def test_write_waits_for_another_processes_lock_without_blocking_the_loop(tmp_path, clock):
    path = tmp_path / "kargo.db"
    store = await open_store(str(path), clock=clock)
    try:
        await store.create(stage("a"))
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            write = asyncio.ensure_future(store.create(stage("b")))
            await asyncio.sleep(0.2)  # the loop keeps running while the write waits
            assert not write.done()
            assert (await store.get("Stage", "demo", "a"))["metadata"]["name"] == "a"
        finally:
            other.execute("COMMIT")
            other.close()
        created = await asyncio.wait_for(write, 10)
        assert created["metadata"]["name"] == "b"
    finally:
        await store.close()
