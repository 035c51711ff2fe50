"""Wake-ups for watchers: a write wakes every watcher of the same database without polling.

In one process, stores on the same database register a `Hub` under the database's identity and
a commit wakes them all (`notify_database`). Across processes (replicas on PostgreSQL), each
write transaction runs `pg_notify(CHANNEL, rv)` and `listen` turns those notifications into
wake-ups. `kargo.store.sql` owns the hubs and starts the listener.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref

import psycopg

CHANNEL = "kargo_store"

log = logging.getLogger(__name__)

_HUBS: dict[str, weakref.WeakSet[Hub]] = {}


class Hub:
    """Per-store wake-up point, bound to the event loop the store was opened on."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._event = asyncio.Event()

    def waiter(self) -> asyncio.Event:
        """Take this before reading, then wait on it: a write in between is never missed."""
        return self._event

    def notify(self) -> None:
        """Wake every current waiter (callable from any thread)."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._fire()
        elif not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._fire)

    def _fire(self) -> None:
        event, self._event = self._event, asyncio.Event()
        event.set()


def register(database: str, hub: Hub) -> None:
    """Let writes by other stores in this process on `database` wake `hub`."""
    _HUBS.setdefault(database, weakref.WeakSet()).add(hub)


def unregister(database: str, hub: Hub) -> None:
    """Stop waking `hub` (on close)."""
    hubs = _HUBS.get(database)
    if hubs is not None:
        hubs.discard(hub)
        if not hubs:
            del _HUBS[database]


def notify_database(database: str) -> None:
    """Wake every watcher in this process on `database`."""
    for hub in list(_HUBS.get(database, ())):
        hub.notify()


async def listen(dsn: str, hub: Hub, ready: asyncio.Event) -> None:
    """Forward PostgreSQL notifications on CHANNEL to `hub` until cancelled; reconnects with
    backoff and wakes the hub after each (re)connect so nothing sent meanwhile is missed."""
    backoff = 0.2
    while True:
        try:
            conn = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
            async with conn:
                await conn.execute(f"LISTEN {CHANNEL}")
                ready.set()
                hub.notify()
                backoff = 0.2
                async for _ in conn.notifies():
                    hub.notify()
        except (psycopg.Error, OSError) as err:
            log.warning("store: lost the PostgreSQL notification connection (%s); retrying", err)
            ready.set()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 10.0)
