"""The store contract: durable objects with Kubernetes semantics, the reconcilers' only door to
persistence. Backends (SQLite, PostgreSQL) implement `Store`; everything above uses only this.

Objects are plain JSON-like dicts shaped like Kubernetes objects
(`apiVersion`, `kind`, `metadata`, and `spec`/`status`/kind-specific top-level fields).
The store owns `metadata.uid`, `creationTimestamp`, `generation`, `resourceVersion` and
`deletionTimestamp`; callers never set them (an update must echo `resourceVersion`).

Semantics:
- Namespaced kinds live in a project (`metadata.namespace`); cluster-scoped kinds have none.
- `generation` starts at 1 and is bumped only when the object's spec changes (for kinds without
  `spec`, any non-metadata, non-status top-level field counts as spec).
- `update` replaces metadata (labels, annotations, finalizers) and spec, never status;
  `update_status` replaces status only. Both fail with `ConflictError` when
  `metadata.resourceVersion` is given and stale.
- `delete` with finalizers present sets `deletionTimestamp` (a MODIFIED event) and the object is
  removed once its finalizers are cleared by an update. Deleting a Project deletes every object
  in its namespace (cascade).
- `resourceVersion` is a decimal string from one store-wide, strictly increasing sequence; every
  write gets a new one and appends a watch event with it.
- `watch(since=rv)` yields every event with resourceVersion > rv, in order, then keeps streaming
  new ones; a `list` followed by a `watch(since=list.resource_version)` loses nothing, across a
  restart too (events are durable, compacted only past a retention window).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Object = dict[str, Any]
EventType = Literal["ADDED", "MODIFIED", "DELETED"]


@dataclass(frozen=True)
class ObjectKey:
    """Identifies one object: kind, namespace ("" for cluster-scoped kinds) and name."""

    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return (
            f"{self.kind}/{self.namespace}/{self.name}"
            if self.namespace
            else f"{self.kind}/{self.name}"
        )


@dataclass(frozen=True)
class WatchEvent:
    """One change to one object, in resourceVersion order."""

    type: EventType
    object: Object
    resource_version: int


@dataclass
class ObjectList:
    """One page of a list, with the token to fetch the next page."""

    items: list[Object]
    resource_version: str  # the store's resourceVersion when the list was read
    continue_token: str | None = None  # None when there are no more pages
    remaining: int | None = None


@dataclass(frozen=True)
class ListOptions:
    """Filters and paging for `Store.list` and `Store.watch`."""

    namespace: str | None = None  # None = all namespaces
    label_selector: str | None = None  # Kubernetes syntax: "a=b,c!=d,e in (x,y),!f,g"
    field_selector: Mapping[str, str] = field(default_factory=dict)  # {"metadata.name": "x"}
    limit: int | None = None
    continue_token: str | None = None


class Store(Protocol):
    """Durable, watchable object storage. All methods are safe to call concurrently."""

    async def create(self, obj: Object) -> Object:
        """Store a new object; AlreadyExistsError if the key is taken. Returns it as stored."""
        ...

    async def get(self, kind: str, namespace: str, name: str) -> Object:
        """Return one object; NotFoundError if absent."""
        ...

    async def list(self, kind: str, options: ListOptions | None = None) -> ObjectList:
        """Objects of a kind, ordered by (namespace, name), one page at a time."""
        ...

    async def update(self, obj: Object) -> Object:
        """Replace metadata and spec (not status); ConflictError on a stale resourceVersion."""
        ...

    async def update_status(self, obj: Object) -> Object:
        """Replace status only; ConflictError on a stale resourceVersion."""
        ...

    async def delete(self, kind: str, namespace: str, name: str) -> Object | None:
        """Delete (or mark for deletion when finalizers remain); NotFoundError if absent.
        Returns the object marked for deletion, or None when it is gone."""
        ...

    def watch(
        self, kind: str | None = None, options: ListOptions | None = None, since: str | None = None
    ) -> AsyncIterator[WatchEvent]:
        """Events after `since` (a resourceVersion; None = from now), in order, forever."""
        ...

    async def cache_get(self, bucket: str, key: str) -> str | None:
        """A durable key-value cache (e.g. image metadata by digest); None when absent."""
        ...

    async def cache_put(self, bucket: str, key: str, value: str) -> None:
        """Insert or replace a cache entry."""
        ...

    async def try_acquire_lease(self, name: str, holder: str, ttl_seconds: float) -> bool:
        """Take or renew a named lease (a lock shared by every replica on this database).
        True when `holder` now holds it; an expired lease may be taken by anyone."""
        ...

    async def release_lease(self, name: str, holder: str) -> None:
        """Give up a lease held by `holder` (no-op otherwise)."""
        ...

    async def current_resource_version(self) -> str:
        """The newest resourceVersion the store has handed out."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...
