"""The controller runtime: reconcilers fed by the store's watch through keyed work queues.

`Manager` lists every registered kind at start, then consumes `store.watch()` from that point and
enqueues the key of each changed object for the reconciler of its kind; mapping hooks turn a
change to kind A into keys of kind B (a Stage change wakes its current Promotion). A periodic
resync re-enqueues everything as a safety net (nothing else polls the database). Each kind has
its own `WorkQueue` (`queue.py`) and a fixed number of workers, its concurrency limit.

A reconciler (`promotions.py`, ...) implements `Reconciler.reconcile(key) -> Result`: return
`Result(requeue_after=...)` to be called again later; raise to be retried with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from kargo import clock as clock_mod
from kargo.controller import queue as queue_mod
from kargo.store import interface

log = logging.getLogger(__name__)

DEFAULT_RESYNC = timedelta(minutes=5)
DEFAULT_CONCURRENCY = 4
WATCH_RETRY = timedelta(seconds=1)

ObjectKey = interface.ObjectKey
Mapper = Callable[
    [interface.Object], Iterable[interface.ObjectKey] | Awaitable[Iterable[interface.ObjectKey]]
]


@dataclass(frozen=True)
class Result:
    """What a reconcile asks of the queue: run again after `requeue_after`, or not at all."""

    requeue_after: timedelta | None = None


class Reconciler(Protocol):
    """Brings one object's actual state towards its desired state; idempotent."""

    async def reconcile(self, key: interface.ObjectKey) -> Result:
        """Reconcile the object at `key` (which may no longer exist)."""
        ...


@dataclass
class _Registration:
    kind: str
    reconciler: Reconciler
    queue: queue_mod.WorkQueue[interface.ObjectKey]
    concurrency: int
    ignore_status_changes: bool


def fingerprint(obj: interface.Object) -> tuple[Any, ...]:
    """What a change must touch to wake an object's own reconciler when status-only changes are
    ignored: generation, labels, annotations, finalizers and deletion (as Kubernetes'
    GenerationChanged | AnnotationChanged | LabelChanged predicates)."""
    meta = obj.get("metadata") or {}
    return (
        meta.get("generation"),
        repr(sorted((meta.get("labels") or {}).items())),
        repr(sorted((meta.get("annotations") or {}).items())),
        tuple(meta.get("finalizers") or ()),
        meta.get("deletionTimestamp"),
    )


def key_of(obj: interface.Object) -> interface.ObjectKey:
    """The key of a stored object."""
    meta = obj.get("metadata") or {}
    return interface.ObjectKey(
        str(obj.get("kind", "")), str(meta.get("namespace") or ""), str(meta.get("name", ""))
    )


class Manager:
    """Runs reconcilers against a store until stopped."""

    def __init__(
        self,
        store: interface.Store,
        clock: clock_mod.Clock,
        *,
        resync: timedelta | None = DEFAULT_RESYNC,
    ) -> None:
        self.store = store
        self.clock = clock
        self.resync = resync
        self._registrations: dict[str, _Registration] = {}
        self._mappers: dict[str, list[Mapper]] = {}
        self._seen: dict[interface.ObjectKey, tuple[Any, ...]] = {}
        self.ready = asyncio.Event()  # set once the initial list has been enqueued

    def register(
        self,
        kind: str,
        reconciler: Reconciler,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        ignore_status_changes: bool = True,
    ) -> queue_mod.WorkQueue[interface.ObjectKey]:
        """Reconcile objects of `kind` with `reconciler`, at most `concurrency` at a time.

        With `ignore_status_changes` (the default), a change that touches only an object's status
        (typically the reconciler's own write) does not wake that object's reconciler.
        """
        if kind in self._registrations:
            raise ValueError(f"a reconciler for {kind!r} is already registered")
        q: queue_mod.WorkQueue[interface.ObjectKey] = queue_mod.WorkQueue(self.clock)
        self._registrations[kind] = _Registration(
            kind, reconciler, q, max(1, concurrency), ignore_status_changes
        )
        return q

    def watch_related(self, source_kind: str, mapper: Mapper) -> None:
        """When an object of `source_kind` changes, enqueue the keys `mapper` returns."""
        self._mappers.setdefault(source_kind, []).append(mapper)

    def queue(self, kind: str) -> queue_mod.WorkQueue[interface.ObjectKey]:
        """The work queue of a registered kind."""
        return self._registrations[kind].queue

    def enqueue(self, key: interface.ObjectKey) -> None:
        """Queue `key` for its kind's reconciler (ignored when no reconciler handles it)."""
        reg = self._registrations.get(key.kind)
        if reg is not None:
            reg.queue.add(key)

    async def dispatch(self, obj: interface.Object, event_type: str = "MODIFIED") -> None:
        """Enqueue what a change to `obj` concerns: itself and any mapped keys."""
        key = key_of(obj)
        reg = self._registrations.get(key.kind)
        if reg is not None:
            if event_type == "DELETED":
                self._seen.pop(key, None)
                reg.queue.add(key)
            else:
                mark = fingerprint(obj)
                unchanged = self._seen.get(key) == mark and event_type == "MODIFIED"
                self._seen[key] = mark
                if not (unchanged and reg.ignore_status_changes):
                    reg.queue.add(key)
        for mapper in self._mappers.get(str(obj.get("kind", "")), []):
            try:
                keys = mapper(obj)
                if inspect.isawaitable(keys):
                    keys = await keys
                for key in keys:
                    self.enqueue(key)
            except Exception:
                log.exception("mapping a change of %s failed", key_of(obj))

    async def enqueue_all(self) -> str:
        """List every registered kind and enqueue each object; returns the list's version."""
        version = await self.store.current_resource_version()
        for kind in self._registrations:
            token: str | None = None
            while True:
                page = await self.store.list(
                    kind, interface.ListOptions(limit=500, continue_token=token)
                )
                for obj in page.items:
                    self._seen[key_of(obj)] = fingerprint(obj)
                    self.enqueue(key_of(obj))
                token = page.continue_token
                if not token:
                    break
                await asyncio.sleep(0)  # small SQLite reads run inline: let the API answer
        return version

    async def run(self, stop: asyncio.Event) -> None:
        """Run until `stop` is set: initial list, watch, workers, resync."""
        version = await self.enqueue_all()
        tasks: list[asyncio.Task[None]] = [asyncio.create_task(self._watch(version))]
        for reg in self._registrations.values():
            tasks.append(asyncio.create_task(reg.queue.run_delays()))
            tasks.extend(asyncio.create_task(self._worker(reg)) for _ in range(reg.concurrency))
        if self.resync is not None:
            tasks.append(asyncio.create_task(self._resync(self.resync)))
        self.ready.set()
        try:
            await stop.wait()
        finally:
            for reg in self._registrations.values():
                reg.queue.shutdown()
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _watch(self, since: str) -> None:
        while True:
            try:
                async for event in self.store.watch(since=since):
                    since = str(event.resource_version)
                    await self.dispatch(event.object, event.type)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("store watch failed; resuming after resourceVersion %s", since)
                await asyncio.sleep(WATCH_RETRY.total_seconds())

    async def _resync(self, every: timedelta) -> None:
        while True:
            await asyncio.sleep(every.total_seconds())
            try:
                await self.enqueue_all()
            except Exception:
                log.exception("periodic resync failed")

    async def _worker(self, reg: _Registration) -> None:
        while True:
            try:
                key = await reg.queue.get()
            except queue_mod.ShutDown:
                return
            try:
                await self.process(reg, key)
            finally:
                reg.queue.done(key)

    async def process(self, reg: _Registration, key: interface.ObjectKey) -> None:
        """Reconcile one key and schedule what follows (requeue, backoff, forget)."""
        try:
            result = await reg.reconciler.reconcile(key)
        except asyncio.CancelledError:
            raise
        except Exception:
            delay = reg.queue.add_rate_limited(key)
            log.exception("reconciling %s failed; retrying in %ss", key, delay.total_seconds())
            return
        reg.queue.forget(key)
        if result.requeue_after is not None:
            reg.queue.add_after(key, result.requeue_after)

    async def process_one(self, kind: str) -> interface.ObjectKey | None:
        """Reconcile the next ready key of `kind`, if any (lets tests step the manager)."""
        reg = self._registrations[kind]
        key = reg.queue.get_nowait()
        if key is None:
            return None
        try:
            await self.process(reg, key)
        finally:
            reg.queue.done(key)
        return key
