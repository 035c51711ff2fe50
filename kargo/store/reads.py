"""Read transactions on the driver's connection, running SQL compiled once per statement.

Running a SQLAlchemy statement through a `Connection` costs more than the query itself on a
100-row page (cache-key generation, an execution context, Row objects, a pool checkout and
SQLAlchemy's BEGIN/COMMIT). Reads need none of that: their statements are fixed shapes with
bound values and their columns need no type conversion. So `Reader` compiles each statement
to SQL text once (named parameters: `:x` for sqlite3, `%(x)s` for psycopg) and runs it on the
DBAPI connection with `execute(sql, params).fetchall()`, and on SQLite keeps one connection
for the reads run inline on the event loop (a pool checkout per read would cost more than a
small query). PostgreSQL reads still take a pooled connection (REPEATABLE READ, pre-pinged);
they only skip SQLAlchemy's per-statement work. Both backends run the same read functions with
the same statements: only where the connection comes from differs. Used by `kargo.store.sql`.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import Engine
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.sql.compiler import SQLCompiler

T = TypeVar("T")

MAX_COMPILED = 1024


class Compiled:
    """One statement as SQL text for one dialect, with the values fixed in the statement
    (e.g. `id = 1`) as default parameters."""

    __slots__ = ("defaults", "sql", "stmt")

    def __init__(self, stmt: sa.ClauseElement, dialect: sa.Dialect) -> None:
        compiled = stmt.compile(dialect=dialect)
        assert isinstance(compiled, SQLCompiler)
        self.stmt = stmt  # keeps the statement alive, so its id() is never reused
        self.sql = str(compiled)
        self.defaults = {
            name: bind.value
            for bind, name in compiled.bind_names.items()
            if bind.value is not None and not bind.expanding
        }


class Reader:
    """Read transactions handing a DBAPI connection to a function; see the module docstring."""

    def __init__(self, engine: Engine, read_engine: Engine) -> None:
        self._read_engine = read_engine
        self._engine = engine
        self._sqlite = engine.dialect.name == "sqlite"
        # sqlite3 takes `:name` with a dict; SQLAlchemy's default for it is positional `?`.
        self._dialect = (
            sqlite_dialect.dialect(paramstyle="named") if self._sqlite else engine.dialect
        )
        self._compiled: dict[int, Compiled] = {}
        self._own: PoolProxiedConnection | None = None
        self._own_lock = threading.Lock()
        dbapi = engine.dialect.loaded_dbapi
        self.driver_errors: tuple[type[Exception], ...] = (
            dbapi.OperationalError,
            dbapi.InterfaceError,
        )

    def sql(self, stmt: sa.ClauseElement) -> Compiled:
        """`stmt` compiled for this database (cached by identity: pass long-lived statements)."""
        found = self._compiled.get(id(stmt))
        if found is None:
            if len(self._compiled) >= MAX_COMPILED:  # many label-selector shapes: start over
                self._compiled.clear()
            found = self._compiled[id(stmt)] = Compiled(stmt, self._dialect)
        return found

    def rows(self, raw: Any, stmt: sa.ClauseElement, params: Mapping[str, Any]) -> list[Any]:
        """All rows (tuples) of `stmt` run on the DBAPI connection `raw`."""
        c = self.sql(stmt)
        rows: list[Any] = raw.execute(
            c.sql, {**c.defaults, **params} if c.defaults else params
        ).fetchall()
        return rows

    def run(self, fn: Callable[[Any], T], *, inline: bool) -> T:
        """`fn(dbapi_connection)` in one read transaction (one snapshot). `inline` reads on
        SQLite use the store's own connection unless another thread is using it."""
        if inline and self._sqlite and self._own_lock.acquire(blocking=False):
            try:
                own = self._own
                if own is None:
                    own = self._own = self._engine.raw_connection()
                raw: Any = own.driver_connection
                try:
                    raw.execute("BEGIN")
                    try:
                        result = fn(raw)
                    except BaseException:
                        with contextlib.suppress(*self.driver_errors):
                            raw.execute("ROLLBACK")
                        raise
                    raw.execute("COMMIT")  # a read transaction: COMMIT only ends the snapshot
                except self.driver_errors:
                    # Never keep a connection in an unknown state: the next read opens another.
                    self._own = None
                    own.invalidate()
                    raise
                return result
            finally:
                self._own_lock.release()
        with self._read_engine.connect() as conn, conn.begin():
            return fn(conn.connection.driver_connection)

    def close(self) -> None:
        """Give the inline read connection back to the pool (before the pool is disposed)."""
        with self._own_lock:
            own, self._own = self._own, None
        if own is not None:
            with contextlib.suppress(*self.driver_errors):
                own.close()
