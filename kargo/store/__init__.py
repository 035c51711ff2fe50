"""Durable objects with Kubernetes semantics (see `interface`), on SQLite or PostgreSQL.

`open_store` is the one way in: it parses the URL, creates the engine, runs the migrations and
returns a ready `interface.Store`. Modules: `interface` (the contract), `sql` (the backend),
`objects` (Kubernetes object rules), `selectors`, `schema`, `engine` (URLs, engines,
migrations), `notify` (watch wake-ups) and `migrations` (Alembic revisions).
"""

from __future__ import annotations

from kargo import clock as clock_mod
from kargo.store import engine as engine_mod, interface, sql

EventRetention = sql.EventRetention


async def open_store(
    url: str | None = None,
    *,
    clock: clock_mod.Clock | None = None,
    retention: sql.EventRetention | None = None,
) -> interface.Store:
    """Open (creating and migrating as needed) the store at `url`.

    `url`: None or a file path or `sqlite:///path.db` for SQLite (one file, WAL);
    `postgresql://user:password@host:5432/db` for PostgreSQL (psycopg 3). Raises
    ValidationError for a URL it cannot use and UnavailableError when the database cannot be
    reached or written. Close the store with `await store.close()`.
    """
    target = engine_mod.parse_url(url)
    engine = engine_mod.create_engine(target)
    store = sql.SqlStore(
        target,
        engine,
        clock=clock or clock_mod.SystemClock(),
        retention=retention or EventRetention(),
    )
    try:
        await store._start()
    except BaseException:
        await store.close()
        raise
    return store
