"""`SqlStore`: the `interface.Store` on SQLAlchemy 2 Core, one code path for SQLite and PostgreSQL.

Every write runs in one transaction that first locks the single `kargo_store_state` row (SQLite:
BEGIN IMMEDIATE), so writes are serialised, resourceVersions are handed out in commit order, and
an object change and its watch event commit together. Reads run in one snapshot (PostgreSQL:
REPEATABLE READ) so a list's resourceVersion matches its items; they run SQL compiled once on
the driver's connection (`kargo.store.reads`). Blocking database calls run on a small thread
pool; watchers hold no connection while they wait (see `kargo.store.notify`). Object rules
(merges, generation, deletion marks) are in `kargo.store.objects`; selectors in
`kargo.store.selectors`; tables in `kargo.store.schema`; statements in `kargo.store.queries`;
the write transaction's state in `kargo.store.writes`; URLs, engines, migrations in
`kargo.store.engine`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg_dialect, sqlite as sqlite_dialect
from sqlalchemy.engine import Connection, Engine

from kargo import clock as clock_mod, errors
from kargo.store import (
    engine as engine_mod,
    interface,
    notify,
    objects as objs,
    queries,
    reads,
    schema,
    selectors,
    tokens,
    writes,
)

T = TypeVar("T")

WATCH_BATCH = 500
PG_RECHECK_SECONDS = 30.0  # safety net should a notification be lost (e.g. listener reconnect)

_evt = schema.events
_state = schema.store_state


EventRetention = writes.EventRetention


class SqlStore:
    """The store on one database; build it with `kargo.store.open_store`."""

    def __init__(
        self,
        target: engine_mod.Target,
        engine: Engine,
        *,
        clock: clock_mod.Clock,
        retention: EventRetention,
    ) -> None:
        self._target = target
        self._engine = engine
        self._reader = reads.Reader(
            engine,
            engine.execution_options(isolation_level="REPEATABLE READ")
            if target.dialect == "postgresql"
            else engine,
        )
        self._db_errors: tuple[type[Exception], ...] = (
            sa.exc.OperationalError,
            sa.exc.InterfaceError,
            *self._reader.driver_errors,
        )
        self._clock = clock
        self._retention = retention
        self._executor = ThreadPoolExecutor(
            max_workers=engine_mod.POOL_SIZE, thread_name_prefix="kargo-store"
        )
        self._write_lock = asyncio.Lock()
        self._hub = notify.Hub()
        self._database = target.display
        notify.register(self._database, self._hub)
        self._closed = False
        self._writes_since_compaction = 0
        self._listener: asyncio.Task[None] | None = None
        self._inline = target.dialect == "sqlite"
        self._upsert = (
            pg_dialect.insert if target.dialect == "postgresql" else sqlite_dialect.insert
        )

    # -- lifecycle ------------------------------------------------------------------------

    async def _start(self) -> None:
        await self._run(engine_mod.upgrade, self._engine)
        if self._target.libpq_dsn is not None:
            ready = asyncio.Event()
            self._listener = asyncio.create_task(
                notify.listen(self._target.libpq_dsn, self._hub, ready), name="kargo-store-listen"
            )
            await ready.wait()
        await self.compact()

    async def close(self) -> None:
        """Stop watchers, the listener and the connection pool."""
        if self._closed:
            return
        self._closed = True
        notify.unregister(self._database, self._hub)
        self._hub.notify()
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        self._reader.close()
        await asyncio.get_running_loop().run_in_executor(self._executor, self._engine.dispose)
        self._executor.shutdown(wait=False)

    @property
    def dialect(self) -> str:
        """ "sqlite" or "postgresql"."""
        return self._target.dialect

    # -- plumbing -------------------------------------------------------------------------

    def _mapped(self, fn: Callable[..., T], *args: Any) -> T:
        """Call `fn`, turning driver connection failures into UnavailableError."""
        try:
            return fn(*args)
        except self._db_errors as err:
            orig = err.orig if isinstance(err, sa.exc.DBAPIError) else err
            detail = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
            hint = "check that it is running and reachable"
            if self._inline and "locked" in detail:
                hint = (
                    "another process held the write lock for longer than the busy timeout; "
                    "run one server per SQLite file, or use PostgreSQL for several"
                )
            raise errors.UnavailableError(
                f"database {self._target.display} is unavailable: {detail}; {hint}"
            ) from err

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run blocking database work on the store's thread pool."""
        if self._closed:
            raise errors.UnavailableError("the store is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, functools.partial(self._mapped, fn, *args)
        )

    async def _read_op(self, fn: Callable[[Any], T], *, small: bool = True) -> T:
        """A read transaction `fn(dbapi_connection)` (see `kargo.store.reads`). SQLite reads in
        WAL mode never wait for a lock and are CPU-bound under the GIL, so small ones run
        inline: a thread hop would only add GIL hand-off latency (up to the 5 ms switch
        interval) and no parallelism."""
        if self._closed:
            raise errors.UnavailableError("the store is closed")
        result: T
        if self._inline and small:
            result = self._mapped(functools.partial(self._reader.run, fn, inline=True))
        else:
            result = await self._run(functools.partial(self._reader.run, fn, inline=False))
        return result

    @contextlib.contextmanager
    def _write_conn(self, nowait: bool) -> Iterator[Connection]:
        """A write transaction (SQLite: BEGIN IMMEDIATE). With `nowait`, a SQLite write lock
        held by another process raises `writes.Busy` at once instead of waiting (see `_write_call`)."""
        with self._engine.connect() as conn:
            conn.execution_options(kargo_write=True)
            raw: Any = conn.connection.driver_connection if nowait else None
            if raw is not None:
                raw.execute("PRAGMA busy_timeout=0")
            try:
                with conn.begin():
                    yield conn
            except sa.exc.OperationalError as err:
                if raw is not None and any(w in str(err.orig) for w in ("locked", "busy")):
                    raise writes.Busy from err
                raise
            finally:
                if raw is not None:
                    raw.execute(f"PRAGMA busy_timeout={engine_mod.SQLITE_BUSY_TIMEOUT_MS}")

    async def _write_call(self, fn: Callable[[bool], T]) -> T:
        """Run a write transaction `fn(nowait)`: on SQLite inline first (no thread hop), and on
        the thread pool (waiting up to the busy timeout) only when another process holds the
        write lock; on PostgreSQL always on the thread pool."""
        if self._closed:
            raise errors.UnavailableError("the store is closed")
        if self._inline:
            with contextlib.suppress(writes.Busy):
                return self._mapped(fn, True)
        return await self._run(fn, False)

    def _write(self, fn: Callable[[writes.Tx], T], nowait: bool) -> tuple[T, int]:
        with self._write_conn(nowait) as conn:
            rv: int = conn.execute(queries.STATE_LOCK).scalar_one()
            tx = writes.Tx(conn, rv, self._clock.now().timestamp())
            result = fn(tx)
            if tx.events:
                conn.execute(queries.EVENTS_INSERT, tx.events)
                conn.execute(queries.STATE_SET_RV, {"new_rv": tx.rv})
                if self._target.dialect == "postgresql":
                    conn.execute(sa.select(sa.func.pg_notify(notify.CHANNEL, str(tx.rv))))
        return result, len(tx.events)

    async def _write_op(self, fn: Callable[[writes.Tx], T]) -> T:
        async with self._write_lock:
            out: tuple[T, int] = await self._write_call(functools.partial(self._write, fn))
        result, written = out
        if written:
            notify.notify_database(self._database)
            self._writes_since_compaction += written
            if self._writes_since_compaction >= self._retention.compact_every_writes:
                await self.compact()
        return result

    # -- reads ----------------------------------------------------------------------------

    async def get(self, kind: str, namespace: str, name: str) -> interface.Object:
        """Return one object; NotFoundError if absent."""
        key = interface.ObjectKey(kind, namespace, name)
        params = queries.key_params(kind, namespace, name)
        rows = await self._read_op(lambda raw: self._reader.rows(raw, queries.BODY_BY_KEY, params))
        if not rows:
            raise errors.NotFoundError(f"{objs.describe(key)} not found")
        result: interface.Object = objs.loads(rows[0][0])
        return result

    async def list(
        self, kind: str, options: interface.ListOptions | None = None
    ) -> interface.ObjectList:
        """Objects of a kind, ordered by (namespace, name), one page at a time."""
        opts = options or interface.ListOptions()
        reqs = selectors.parse_label_selector(opts.label_selector)
        fields = selectors.parse_field_selector(opts.field_selector)
        if opts.limit is not None and opts.limit < 0:
            raise errors.ValidationError(
                "", [errors.Problem(f"limit must not be negative, got {opts.limit}", path="limit")]
            )
        limit = opts.limit or None
        after: tuple[str, str] | None = None
        token_rv: str | None = None
        if opts.continue_token:
            ns, name, token_rv = tokens.decode_continue(opts.continue_token, kind)
            after = (ns, name)

        namespace = opts.namespace
        if "metadata.namespace" in fields:
            if namespace is not None and namespace != fields["metadata.namespace"]:
                return interface.ObjectList([], token_rv or await self.current_resource_version())
            namespace = fields["metadata.namespace"]
        if after is not None and namespace is not None and after[0] != namespace:
            raise tokens.bad_continue(opts.continue_token or "")
        stmt, params = queries.list_page(
            kind,
            namespace,
            fields.get("metadata.name"),
            after,
            None if limit is None else limit + 1,
            reqs,
        )

        reader = self._reader

        def read(raw: Any) -> tuple[Sequence[Any], int]:
            rows = reader.rows(raw, stmt, params)
            rv: int = rows[0][1] if rows else reader.rows(raw, queries.RV_NOW, {})[0][0]
            return rows, rv

        rows, rv = await self._read_op(read, small=limit is not None and limit <= WATCH_BATCH)
        token: str | None = None
        list_rv = token_rv or str(rv)
        more = limit is not None and len(rows) > limit
        loads = objs.loads
        items = [loads(row[0]) for row in (rows[:limit] if more else rows)]
        if more:
            meta = items[-1]["metadata"]
            token = tokens.encode_continue(kind, meta.get("namespace") or "", meta["name"], list_rv)
        return interface.ObjectList(items=items, resource_version=list_rv, continue_token=token)

    async def current_resource_version(self) -> str:
        """The newest resourceVersion the store has handed out."""
        rows = await self._read_op(lambda raw: self._reader.rows(raw, queries.RV_NOW, {}))
        return str(rows[0][0])

    # -- writes ---------------------------------------------------------------------------

    @staticmethod
    def _row(conn: Connection, key: interface.ObjectKey) -> tuple[int, interface.Object] | None:
        row = conn.execute(
            queries.ROW_BY_KEY, queries.key_params(key.kind, key.namespace, key.name)
        ).one_or_none()
        return None if row is None else (row[0], objs.loads(row[1]))

    @staticmethod
    def _set_labels(conn: Connection, object_id: int, labels: dict[str, str], fresh: bool) -> None:
        if not fresh:
            conn.execute(queries.LABELS_DELETE, {"oid": object_id})
        if labels:
            conn.execute(
                queries.LABELS_INSERT,
                [{"object_id": object_id, "key": k, "value": v} for k, v in labels.items()],
            )

    async def create(self, obj: interface.Object) -> interface.Object:
        """Store a new object; AlreadyExistsError if the key is taken. Returns it as stored."""
        key = objs.key_of(obj)

        def tx_fn(tx: writes.Tx) -> interface.Object:
            if key.namespace:
                project = self._row(
                    tx.conn, interface.ObjectKey(objs.PROJECT_KIND, "", key.namespace)
                )
                if project is not None and objs.is_deleting(project[1]):
                    raise errors.ConflictError(
                        f"cannot create {objs.describe(key)}: the project is being deleted"
                    )
            if self._row(tx.conn, key) is not None:
                raise errors.AlreadyExistsError(
                    f"{objs.describe(key)} already exists; update it instead, or delete it first"
                )
            rv = tx.bump()
            stored = objs.build_created(obj, key, str(uuid.uuid4()), rv, self._clock.now())
            body = objs.dumps(stored)
            object_id: int = tx.conn.execute(
                queries.OBJECT_INSERT,
                {"kind": key.kind, "namespace": key.namespace, "name": key.name, "body": body},
            ).scalar_one()
            self._set_labels(tx.conn, object_id, selectors.labels_of(stored), fresh=True)
            tx.emit("ADDED", key, rv, body)
            return stored

        stored: interface.Object = objs.loads(objs.dumps(await self._write_op(tx_fn)))
        return stored

    def _replace(
        self,
        tx: writes.Tx,
        object_id: int,
        key: interface.ObjectKey,
        old: interface.Object,
        new: interface.Object,
    ) -> interface.Object:
        """Write a changed object (or remove it when its last finalizer went while deleting)."""
        rv = tx.bump()
        objs.with_resource_version(new, rv)
        if objs.is_deleting(new) and not objs.finalizers_of(new) and not self._holds_back(tx, key):
            return self._remove(tx, object_id, key, new, rv)
        body = objs.dumps(new)
        tx.conn.execute(queries.OBJECT_SET_BODY, {"oid": object_id, "new_body": body})
        old_labels, new_labels = selectors.labels_of(old), selectors.labels_of(new)
        if old_labels != new_labels:
            self._set_labels(tx.conn, object_id, new_labels, fresh=False)
        tx.emit("MODIFIED", key, rv, body, old_labels if old_labels != new_labels else None)
        result: interface.Object = objs.loads(body)
        return result

    def _holds_back(self, tx: writes.Tx, key: interface.ObjectKey) -> bool:
        """A deleting Project stays until its namespace is empty."""
        if key.kind != objs.PROJECT_KIND or key.namespace:
            return False
        first = tx.conn.execute(queries.ANY_IN_NAMESPACE, {"ns": key.name}).first()
        return first is not None

    def _remove(
        self,
        tx: writes.Tx,
        object_id: int,
        key: interface.ObjectKey,
        final: interface.Object,
        rv: int,
    ) -> interface.Object:
        """Remove an object for good (a DELETED event); returns its final state."""
        body = objs.dumps(final)
        tx.conn.execute(queries.OBJECT_DELETE, {"oid": object_id})
        tx.emit("DELETED", key, rv, body)
        if key.namespace:
            # The last object of a deleting Project's namespace lets the Project go.
            pkey = interface.ObjectKey(objs.PROJECT_KIND, "", key.namespace)
            project = self._row(tx.conn, pkey)
            if (
                project is not None
                and objs.is_deleting(project[1])
                and not objs.finalizers_of(project[1])
                and not self._holds_back(tx, pkey)
            ):
                prv = tx.bump()
                self._remove(tx, project[0], pkey, objs.with_resource_version(project[1], prv), prv)
        result: interface.Object = objs.loads(body)
        return result

    def _load_for_write(
        self, tx: writes.Tx, obj: interface.Object
    ) -> tuple[interface.ObjectKey, int, interface.Object]:
        key = objs.key_of(obj)
        found = self._row(tx.conn, key)
        if found is None:
            raise errors.NotFoundError(f"{objs.describe(key)} not found; create it first")
        object_id, current = found
        objs.check_preconditions(obj, current, key)
        return key, object_id, current

    async def update(self, obj: interface.Object) -> interface.Object:
        """Replace metadata and spec (not status); ConflictError on a stale resourceVersion."""
        objs.key_of(obj)

        def tx_fn(tx: writes.Tx) -> interface.Object:
            key, object_id, current = self._load_for_write(tx, obj)
            new = objs.merge_update(current, obj)
            if new == current:
                return current
            return self._replace(tx, object_id, key, current, new)

        return await self._write_op(tx_fn)

    async def update_status(self, obj: interface.Object) -> interface.Object:
        """Replace status only; ConflictError on a stale resourceVersion."""
        objs.key_of(obj)

        def tx_fn(tx: writes.Tx) -> interface.Object:
            key, object_id, current = self._load_for_write(tx, obj)
            new = objs.with_status(current, obj)
            if new == current:
                return current
            return self._replace(tx, object_id, key, current, new)

        return await self._write_op(tx_fn)

    async def delete(self, kind: str, namespace: str, name: str) -> interface.Object | None:
        """Delete (or mark for deletion when finalizers remain); NotFoundError if absent.
        Returns the object marked for deletion, or None when it is gone."""
        key = interface.ObjectKey(kind, namespace, name)

        def tx_fn(tx: writes.Tx) -> interface.Object | None:
            found = self._row(tx.conn, key)
            if found is None:
                raise errors.NotFoundError(f"{objs.describe(key)} not found")
            object_id, current = found
            if kind == objs.PROJECT_KIND and not namespace:
                self._cascade(tx, name)
            if objs.is_deleting(current):
                # Already marked; a Project may be able to go now that its namespace emptied.
                if not objs.finalizers_of(current) and not self._holds_back(tx, key):
                    rv = tx.bump()
                    self._remove(tx, object_id, key, objs.with_resource_version(current, rv), rv)
                    return None
                return current
            if objs.finalizers_of(current) or self._holds_back(tx, key):
                marked = objs.marked_for_deletion(current, self._clock.now())
                return self._replace(tx, object_id, key, current, marked)
            rv = tx.bump()
            self._remove(tx, object_id, key, objs.with_resource_version(current, rv), rv)
            return None

        return await self._write_op(tx_fn)

    def _cascade(self, tx: writes.Tx, namespace: str) -> None:
        """Delete everything in a Project's namespace (objects with finalizers are marked)."""
        rows = tx.conn.execute(queries.ALL_IN_NAMESPACE, {"ns": namespace}).all()
        for row in rows:
            object_id: int = row[0]
            key = interface.ObjectKey(row[1], namespace, row[2])
            current = objs.loads(row[3])
            if objs.finalizers_of(current):
                if not objs.is_deleting(current):
                    marked = objs.marked_for_deletion(current, self._clock.now())
                    self._replace(tx, object_id, key, current, marked)
                continue
            rv = tx.bump()
            tx.conn.execute(queries.OBJECT_DELETE, {"oid": object_id})
            tx.emit("DELETED", key, rv, objs.dumps(objs.with_resource_version(current, rv)))

    # -- watch ----------------------------------------------------------------------------

    async def watch(
        self,
        kind: str | None = None,
        options: interface.ListOptions | None = None,
        since: str | None = None,
    ) -> AsyncIterator[interface.WatchEvent]:
        """Events after `since` (a resourceVersion; None = from now), in order, forever."""
        opts = options or interface.ListOptions()
        reqs = selectors.parse_label_selector(opts.label_selector)
        fields = selectors.parse_field_selector(opts.field_selector)
        if since is None or since == "":
            cursor = int(await self.current_resource_version())
        else:
            cursor = tokens.parse_resource_version(since)
        namespace = opts.namespace
        if "metadata.namespace" in fields:
            namespace = fields["metadata.namespace"]
        timeout = PG_RECHECK_SECONDS if self._target.dialect == "postgresql" else None

        while not self._closed:
            wake = self._hub.waiter()
            batch: tuple[Sequence[Any], int, int] = await self._read_op(
                functools.partial(self._events_after, self._reader, cursor, kind, namespace)
            )
            rows, head, compacted = batch
            if cursor < compacted:
                raise errors.ConflictError(
                    f"watch from resourceVersion {cursor}: resourceVersion too old (events up "
                    f"to {compacted} have been compacted); list again and watch from the "
                    "list's resourceVersion"
                )
            for rv, type_, body, prev in rows:
                cursor = rv
                event = selectors.filter_event(rv, type_, body, prev, reqs, fields)
                if event is not None:
                    yield event
            if len(rows) < WATCH_BATCH:
                cursor = max(cursor, head)
                if self._closed:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), timeout)

    @staticmethod
    def _events_after(
        reader: reads.Reader, cursor: int, kind: str | None, namespace: str | None, raw: Any
    ) -> tuple[Sequence[Any], int, int]:
        q = queries.events_after(kind is not None, namespace is not None, WATCH_BATCH)
        rows = reader.rows(raw, q, {"cursor": cursor, "kind": kind, "ns": namespace})
        state = reader.rows(raw, queries.STATE_NOW, {})[0]
        return rows, int(state[0]), int(state[1])

    async def compact(self) -> int:
        """Drop watch events past the retention window; returns how many were dropped."""
        self._writes_since_compaction = 0
        keep = self._retention
        now_ts = self._clock.now().timestamp()

        def run(nowait: bool) -> int:
            with self._write_conn(nowait) as conn:
                rv: int = conn.execute(
                    sa.select(_state.c.resource_version).where(_state.c.id == 1).with_for_update()
                ).scalar_one()
                upto = conn.execute(
                    sa.select(sa.func.max(_evt.c.resource_version)).where(
                        sa.or_(
                            _evt.c.resource_version <= rv - keep.max_events,
                            _evt.c.created_at < now_ts - keep.max_age.total_seconds(),
                        )
                    )
                ).scalar_one_or_none()
                if upto is None:
                    return 0
                dropped = conn.execute(_evt.delete().where(_evt.c.resource_version <= upto))
                conn.execute(_state.update().where(_state.c.id == 1).values(compacted_version=upto))
                return int(dropped.rowcount)

        async with self._write_lock:
            return await self._write_call(run)

    # -- cache and leases -----------------------------------------------------------------

    async def cache_get(self, bucket: str, key: str) -> str | None:
        """A durable key-value cache (e.g. image metadata by digest); None when absent."""
        params = {"bucket": bucket, "key": key}
        rows = await self._read_op(lambda raw: self._reader.rows(raw, queries.CACHE_GET, params))
        return str(rows[0][0]) if rows else None

    def _own_tx(self, stmt: sa.Executable, nowait: bool) -> int:
        """Run one statement in its own transaction; with RETURNING, how many rows came back."""
        with self._write_conn(nowait) as conn:
            result = conn.execute(stmt)
            return len(result.all()) if result.returns_rows else 0

    async def cache_put(self, bucket: str, key: str, value: str) -> None:
        """Insert or replace a cache entry."""
        ins = self._upsert(schema.cache).values(bucket=bucket, key=key, value=value)
        stmt = ins.on_conflict_do_update(
            index_elements=[schema.cache.c.bucket, schema.cache.c.key],
            set_={"value": ins.excluded.value},
        )
        await self._write_call(functools.partial(self._own_tx, stmt))

    async def try_acquire_lease(self, name: str, holder: str, ttl_seconds: float) -> bool:
        """Take or renew a named lease (a lock shared by every replica on this database).
        True when `holder` now holds it; an expired lease may be taken by anyone."""
        if ttl_seconds <= 0:
            raise errors.ValidationError(
                "", [errors.Problem(f"lease ttl must be positive, got {ttl_seconds}", path="ttl")]
            )
        now = self._clock.now().timestamp()
        c = schema.leases.c
        ins = self._upsert(schema.leases).values(
            name=name, holder=holder, expires_at=now + ttl_seconds
        )
        stmt = ins.on_conflict_do_update(
            index_elements=[c.name],
            set_={"holder": ins.excluded.holder, "expires_at": ins.excluded.expires_at},
            where=sa.or_(c.expires_at <= now, c.holder == holder),
        ).returning(c.holder)
        return await self._write_call(functools.partial(self._own_tx, stmt)) == 1

    async def release_lease(self, name: str, holder: str) -> None:
        """Give up a lease held by `holder` (no-op otherwise)."""
        c = schema.leases.c
        stmt = schema.leases.delete().where(c.name == name, c.holder == holder)
        await self._write_call(functools.partial(self._own_tx, stmt))
