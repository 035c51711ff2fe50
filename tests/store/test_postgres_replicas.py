"""Replicas on one PostgreSQL database: a write by another process wakes this process's
watchers through LISTEN/NOTIFY (well before the long safety-net re-check), also after the
LISTEN connection was cut."""

from __future__ import annotations

import asyncio
import sys

import psycopg

from kargo.store import open_store, sql
from tests.store.conftest import next_event

_WRITER = """
import asyncio, sys
from kargo.store import open_store

async def main(url, name):
    store = await open_store(url)
    try:
        await store.create({"kind": "Stage", "metadata": {"name": name, "namespace": "demo"}})
    finally:
        await store.close()

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


async def _create_in_another_process(url: str, name: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _WRITER,
        url,
        name,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, out.decode()


async def test_a_write_by_another_replica_wakes_a_watch(pg_url, clock):
    assert sql.PG_RECHECK_SECONDS >= 30
    watcher = await open_store(pg_url, clock=clock)
    try:
        events = watcher.watch("Stage", since=await watcher.current_resource_version())
        try:
            pending = asyncio.ensure_future(next_event(events, timeout=20))
            await asyncio.sleep(0.1)
            await _create_in_another_process(pg_url, "from-another-replica")
            event = await pending
            assert event.object["metadata"]["name"] == "from-another-replica"
        finally:
            await events.aclose()
    finally:
        await watcher.close()


async def test_watch_wake_ups_survive_a_dropped_listen_connection(pg_url, clock):
    watcher = await open_store(pg_url, clock=clock)
    try:
        # Kill the LISTEN connection (as a failover or a network cut would).
        with psycopg.connect(pg_url, autocommit=True) as admin:
            killed = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE query LIKE 'LISTEN %' AND pid <> pg_backend_pid() "
                "AND datname = current_database()"
            ).fetchall()
        assert killed
        events = watcher.watch("Stage", since=await watcher.current_resource_version())
        try:
            pending = asyncio.ensure_future(next_event(events, timeout=20))
            await asyncio.sleep(1.0)  # the listener reconnects after a short backoff
            await _create_in_another_process(pg_url, "after-reconnect")
            assert (await pending).object["metadata"]["name"] == "after-reconnect"
        finally:
            await events.aclose()
    finally:
        await watcher.close()
