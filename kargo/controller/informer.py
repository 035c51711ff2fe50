"""A watch-fed, indexed in-memory copy of the objects the Stage pipeline reads.

The StageReconciler, its event mappers (`stages.py`) and `StageSync` (`stage_promotions.py`)
read Stages, Freight, Promotions and ProjectConfigs through one `Informer` instead of listing a
project on every reconcile: it lists each kind once, then applies the store's watch events
(`Store.watch(since=...)`, which loses nothing across the list), keeps every object decoded once,
and keeps indexes so one Stage reconcile touches only the objects that concern it:

- Stages by requested origin (`Warehouse/<name>`) and by upstream Stage name;
- Freight by origin, by the Stages it is verified in and by the Stages it is approved for;
- Promotions by Stage.

Reads are never staler than the store: `sync()` first asks the store for its current
resourceVersion (one small query) and, when the cache is behind, applies the watch events up to
it, so a reconcile or a mapper that calls `sync()` sees every write that finished before it,
its own included. Events are applied in resourceVersion order and an object is never replaced by
an older version of itself, so replaying events that the initial list already reflects is
harmless. A watch from a compacted resourceVersion (or one that does not arrive in time) makes
it list again.

Each index bucket also records the resourceVersion of the last change to any of its members
(`bucket_version`), so a Stage's inputs can be fingerprinted without looking at each Freight
(`stages.input_fingerprint`).

Objects handed out are the cache's own: callers must not change them (copy first).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from typing import Any

from kargo import errors
from kargo.api import availability
from kargo.store import interface

log = logging.getLogger(__name__)

Obj = dict[str, Any]
IndexFn = Callable[[Obj], Iterable[str]]
CATCH_UP_TIMEOUT_S = 10.0
PAGE_SIZE = 500


def requested_origins(stage: Obj) -> list[str]:
    """The origin keys (`Warehouse/<name>`) a Stage requests Freight of."""
    return [
        availability.origin_key(r.get("origin") or {})
        for r in (stage.get("spec") or {}).get("requestedFreight") or []
    ]


def upstream_stages(stage: Obj) -> list[str]:
    """The names of the Stages a Stage takes Freight from."""
    return [
        str(s)
        for r in (stage.get("spec") or {}).get("requestedFreight") or []
        for s in (r.get("sources") or {}).get("stages") or []
    ]


def _status_keys(field: str) -> IndexFn:
    return lambda obj: [str(k) for k in ((obj.get("status") or {}).get(field) or {})]


# kind -> index name -> the index values of an object
INDEXES: dict[str, dict[str, IndexFn]] = {
    "Stage": {"origin": requested_origins, "upstream": upstream_stages},
    "Freight": {
        "origin": lambda f: [availability.origin_key(f.get("origin") or {})],
        "verifiedIn": _status_keys("verifiedIn"),
        "approvedFor": _status_keys("approvedFor"),
    },
    "Promotion": {"stage": lambda p: [str((p.get("spec") or {}).get("stage") or "")]},
    "ProjectConfig": {},
}
KINDS = tuple(INDEXES)

Bucket = tuple[str, str, str, str]  # (kind, index, namespace, value)


class Informer:
    """Stages, Freight, Promotions and ProjectConfigs of every project, kept current."""

    def __init__(
        self, store: interface.Store, *, catch_up_timeout: float = CATCH_UP_TIMEOUT_S
    ) -> None:
        self.store = store
        self.catch_up_timeout = catch_up_timeout
        self.resource_version = 0  # every event up to this one has been applied
        self.loaded = False
        self.lists = 0  # how many times every kind was listed (tests, diagnostics)
        self._lock = asyncio.Lock()
        self._objects: dict[tuple[str, str], dict[str, Obj]] = {}  # (kind, ns) -> name -> obj
        self._versions: dict[interface.ObjectKey, int] = {}
        self._index: dict[Bucket, set[str]] = {}
        self._bucket_rv: dict[Bucket, int] = {}

    # --- reads ------------------------------------------------------------------------------

    def get(self, kind: str, namespace: str, name: str) -> Obj | None:
        """One cached object, or None."""
        return self._objects.get((kind, namespace), {}).get(name)

    def in_namespace(self, kind: str, namespace: str) -> list[Obj]:
        """Every cached object of a kind in a namespace, by name."""
        found = self._objects.get((kind, namespace), {})
        return [found[n] for n in sorted(found)]

    def by_index(self, kind: str, index: str, namespace: str, value: str) -> list[Obj]:
        """The objects of `kind` in `namespace` whose `index` includes `value`, by name."""
        names = self._index.get((kind, index, namespace, value), set())
        found = self._objects.get((kind, namespace), {})
        return [found[n] for n in sorted(names) if n in found]

    def version(self, kind: str, namespace: str, name: str) -> int | None:
        """The resourceVersion of a cached object (None when absent)."""
        return self._versions.get(interface.ObjectKey(kind, namespace, name))

    def bucket_version(self, kind: str, index: str, namespace: str, value: str) -> int:
        """The resourceVersion of the last change to any object in an index bucket (an object
        entering, changing in or leaving it); 0 when nothing ever was in it."""
        return self._bucket_rv.get((kind, index, namespace, value), 0)

    # --- keeping current --------------------------------------------------------------------

    async def sync(self) -> None:
        """Catch up with the store: afterwards every write that finished before the call is
        visible (the first call lists every kind)."""
        target = int(await self.store.current_resource_version())
        if self.loaded and self.resource_version >= target:
            return
        async with self._lock:
            if not self.loaded:
                await self._load()
            if self.resource_version < target:
                await self._catch_up(target)

    async def _load(self) -> None:
        """List every kind (events after `version` are replayed by the catch-up)."""
        version = int(await self.store.current_resource_version())
        self._objects.clear()
        self._versions.clear()
        self._index.clear()
        self._bucket_rv.clear()
        for kind in KINDS:
            token: str | None = None
            while True:
                page = await self.store.list(
                    kind, interface.ListOptions(limit=PAGE_SIZE, continue_token=token)
                )
                for obj in page.items:
                    meta = obj.get("metadata") or {}
                    self.apply("ADDED", obj, int(meta.get("resourceVersion") or 0))
                token = page.continue_token
                if not token:
                    break
                await asyncio.sleep(0)  # small SQLite reads run inline: let the API answer
        self.resource_version = version
        self.loaded = True
        self.lists += 1

    async def _catch_up(self, target: int) -> None:
        """Apply the watch events after `resource_version`, up to `target`."""
        events = self.store.watch(since=str(self.resource_version))
        try:
            async with asyncio.timeout(self.catch_up_timeout):
                applied = 0
                async for event in events:
                    self.apply(event.type, event.object, event.resource_version)
                    self.resource_version = max(self.resource_version, event.resource_version)
                    if event.resource_version >= target:
                        return
                    applied += 1
                    if applied % PAGE_SIZE == 0:
                        await asyncio.sleep(0)  # a long catch-up must not starve the API
        except (errors.ConflictError, TimeoutError) as err:
            # compacted past our version, or the events never came: start over from a list
            log.warning("informer watch could not catch up (%s); listing again", err)
            await self._load()
        finally:
            close = getattr(events, "aclose", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    await close()

    def apply(self, event_type: str, obj: Obj, resource_version: int) -> None:
        """Apply one change (ignored when it is not newer than what the cache holds)."""
        kind = str(obj.get("kind", ""))
        if kind not in INDEXES:
            return
        meta = obj.get("metadata") or {}
        namespace, name = str(meta.get("namespace") or ""), str(meta.get("name", ""))
        key = interface.ObjectKey(kind, namespace, name)
        if self._versions.get(key, -1) >= resource_version:
            return  # the list (or an earlier event) already holds this or a newer version
        objects = self._objects.setdefault((kind, namespace), {})
        old = objects.get(name)
        if old is not None:
            self._unindex(kind, namespace, name, old, resource_version)
        if event_type == "DELETED":
            objects.pop(name, None)
            self._versions.pop(key, None)
            return
        objects[name] = obj
        self._versions[key] = resource_version
        for index, values in self._index_values(kind, obj):
            for value in values:
                bucket = (kind, index, namespace, value)
                self._index.setdefault(bucket, set()).add(name)
                self._bucket_rv[bucket] = resource_version

    def _unindex(self, kind: str, namespace: str, name: str, old: Obj, rv: int) -> None:
        for index, values in self._index_values(kind, old):
            for value in values:
                bucket = (kind, index, namespace, value)
                members = self._index.get(bucket)
                if members is not None:
                    members.discard(name)
                    if not members:
                        del self._index[bucket]
                self._bucket_rv[bucket] = rv

    @staticmethod
    def _index_values(kind: str, obj: Obj) -> list[tuple[str, set[str]]]:
        return [(index, set(fn(obj))) for index, fn in INDEXES[kind].items()]
