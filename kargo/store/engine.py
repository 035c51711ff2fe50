"""Database URLs, SQLAlchemy engines and migrations for the store's two backends.

`parse_url` maps what an operator writes (`None`, a file path, `sqlite:///kargo.db`,
`postgresql://user@host/db`) to a `Target`; `create_engine` builds the one SQLAlchemy engine
`kargo.store.sql` uses; `upgrade` runs the Alembic migrations shipped in
`kargo.store.migrations` (no alembic.ini: the config is built here).
"""

from __future__ import annotations

import functools
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url

from kargo import errors

DEFAULT_SQLITE_PATH = "kargo.db"
SQLITE_BUSY_TIMEOUT_MS = 10_000
WAL_SWITCH_RETRY_MS = 20  # see _switch_to_wal
POOL_SIZE = 8
# Serialises migrations when several replicas start at once on one PostgreSQL database.
_MIGRATION_LOCK_KEY = 0x6B6172676F  # "kargo"
_MIGRATIONS = Path(__file__).with_name("migrations")
VERSION_TABLE = "kargo_schema_version"  # also named in migrations/env.py

Dialect = Literal["sqlite", "postgresql"]


@dataclass(frozen=True)
class Target:
    """Where the store lives."""

    dialect: Dialect
    url: URL  # for SQLAlchemy
    display: str  # safe to show: never contains a password
    sqlite_path: Path | None = None
    libpq_dsn: str | None = None  # for the LISTEN connection (PostgreSQL only)


def _invalid(url: str, message: str, hint: str) -> errors.ValidationError:
    return errors.ValidationError(
        "", [errors.Problem(f"database URL {url!r}: {message}", path="database", hint=hint)]
    )


_URL_HINT = "use a file path, sqlite:///path/to/kargo.db or postgresql://user:password@host:5432/db"


def parse_url(url: str | None) -> Target:
    """Interpret a database URL (None or a path means a SQLite file)."""
    if url is None or url.strip() == "":
        return _sqlite_target(Path(DEFAULT_SQLITE_PATH))
    if url.startswith(("postgresql:", "postgresql+", "postgres:")):
        try:
            parsed = make_url(url.replace("postgres://", "postgresql://", 1))
        except sa.exc.ArgumentError as err:
            raise _invalid("postgresql://…", "cannot be parsed", _URL_HINT) from err
        if parsed.drivername not in ("postgresql", "postgresql+psycopg"):
            raise _invalid(
                parsed.render_as_string(hide_password=True),
                f"driver {parsed.drivername!r} is not supported",
                "use postgresql:// (the store uses psycopg 3)",
            )
        libpq = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
        return Target(
            dialect="postgresql",
            url=parsed.set(drivername="postgresql+psycopg"),
            display=parsed.set(drivername="postgresql").render_as_string(hide_password=True),
            libpq_dsn=libpq,
        )
    if url.startswith("sqlite:"):
        try:
            parsed = make_url(url)
        except sa.exc.ArgumentError as err:
            raise _invalid(url, "cannot be parsed", _URL_HINT) from err
        if not parsed.database or parsed.database == ":memory:":
            raise _invalid(
                url,
                "an in-memory database cannot be shared between the store's connections",
                "use a file, e.g. sqlite:///kargo.db (a temporary directory works for tests)",
            )
        return _sqlite_target(Path(parsed.database))
    if "://" in url:
        raise _invalid(url.split("://", 1)[0] + "://…", "unsupported scheme", _URL_HINT)
    return _sqlite_target(Path(url))


def _sqlite_target(path: Path) -> Target:
    path = path.expanduser().absolute()
    return Target(
        dialect="sqlite",
        url=URL.create("sqlite", database=str(path)),
        display=str(path),
        sqlite_path=path,
    )


def create_engine(target: Target) -> Engine:
    """One engine per store; SQLite gets WAL, a busy timeout, foreign keys and explicit BEGINs."""
    if target.dialect == "postgresql":
        return sa.create_engine(
            target.url,
            pool_size=POOL_SIZE,
            max_overflow=POOL_SIZE,
            pool_pre_ping=True,
            connect_args={"connect_timeout": 10},
        )
    assert target.sqlite_path is not None
    try:
        target.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise errors.UnavailableError(
            f"cannot create the directory for the database {target.display}: {err.strerror}; "
            "choose a writable path"
        ) from err
    engine = sa.create_engine(
        target.url,
        pool_size=POOL_SIZE,
        max_overflow=POOL_SIZE,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transactions out of the driver's hands so BEGIN IMMEDIATE is possible.
        dbapi_connection.isolation_level = None
        cur = dbapi_connection.cursor()
        _switch_to_wal(cur)
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        # Writers take the write lock up front: a deferred BEGIN that later writes can fail with
        # SQLITE_BUSY at once instead of waiting for the busy timeout.
        immediate = conn.get_execution_options().get("kargo_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _switch_to_wal(cur: sqlite3.Cursor) -> None:
    """Put the database in WAL mode, in short attempts.

    Switching a database still in rollback-journal mode needs an exclusive lock, and the
    connection waiting for it holds a shared lock meanwhile. When another connection (another
    replica opening the same file) holds the write lock and wants to commit, each waits for the
    other, or one fails at once. Attempts that never wait hold the shared lock for an instant
    only, so the other commits between them, and the switch then goes through (or finds WAL
    already on), within the busy timeout."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    cur.execute("PRAGMA busy_timeout=0")
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or time.monotonic() >= deadline:
                raise
        time.sleep(WAL_SWITCH_RETRY_MS / 1000)


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    return cfg


@functools.cache
def head_revision() -> str | None:
    """The newest revision shipped in this package."""
    return ScriptDirectory.from_config(_config()).get_current_head()


_UPGRADE_LOCK = threading.Lock()  # stores opened at once in one process migrate one at a time


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest revision (idempotent; safe with concurrent replicas)."""
    if current_revision(engine) == head_revision():
        return
    with _UPGRADE_LOCK:
        if current_revision(engine) == head_revision():
            return
        _upgrade_locked(engine)


def _upgrade_locked(engine: Engine) -> None:
    cfg = _config()
    with engine.connect() as conn:
        conn.execution_options(kargo_write=True)
        with conn.begin():
            if engine.dialect.name == "postgresql":
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_MIGRATION_LOCK_KEY)))
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")


def current_revision(engine: Engine) -> str | None:
    """The schema revision the database is at (None before the first migration)."""
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        return ctx.get_current_revision()
