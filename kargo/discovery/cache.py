"""The durable metadata cache discovery reads before asking a registry anything costly.

Entries are JSON objects in named buckets:
- `image-digest`: image metadata by manifest digest. Content-addressed, so never stale.
- `image-tag`: image metadata by `host/repository:tag`, only with `cacheByTag` (immutable tags).
- `chart-index`: a Helm HTTP repository's parsed index with its ETag / Last-Modified.

`InMemoryMetadataCache` is a bounded LRU (Kargo's MAX_IMAGE_CACHE_ENTRIES, 100,000).
`StoreMetadataCache` keeps entries in the store (`Store.cache_get/cache_put`) so they survive a
restart and are shared by replicas, with an in-memory LRU in front to spare the database.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any, Protocol

from kargo.store import interface

BUCKET_DIGEST = "image-digest"
BUCKET_TAG = "image-tag"
BUCKET_CHART_INDEX = "chart-index"

DEFAULT_MAX_ENTRIES = 100_000


class MetadataCache(Protocol):
    """Get and put JSON objects by bucket and key."""

    async def get(self, bucket: str, key: str) -> dict[str, Any] | None:
        """The entry, or None."""
        ...

    async def put(self, bucket: str, key: str, value: dict[str, Any]) -> None:
        """Insert or replace an entry."""
        ...


class InMemoryMetadataCache:
    """A process-local LRU; the default when no store is wired in."""

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        self._max = max_entries
        self._data: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._data)

    async def get(self, bucket: str, key: str) -> dict[str, Any] | None:
        """The entry, or None; a hit becomes most recently used."""
        value = self._data.get((bucket, key))
        if value is not None:
            self._data.move_to_end((bucket, key))
        return value

    async def put(self, bucket: str, key: str, value: dict[str, Any]) -> None:
        """Insert or replace, evicting the least recently used entry past the bound."""
        self._data[(bucket, key)] = value
        self._data.move_to_end((bucket, key))
        while len(self._data) > self._max:
            self._data.popitem(last=False)


class StoreMetadataCache:
    """Durable entries in the store's key-value cache, read through an in-memory LRU."""

    PREFIX = "discovery."

    def __init__(self, store: interface.Store, memory: InMemoryMetadataCache | None = None) -> None:
        self._store = store
        self._memory = memory if memory is not None else InMemoryMetadataCache()

    async def get(self, bucket: str, key: str) -> dict[str, Any] | None:
        """From memory, else from the store (and remembered)."""
        value = await self._memory.get(bucket, key)
        if value is not None:
            return value
        raw = await self._store.cache_get(self.PREFIX + bucket, key)
        if raw is None:
            return None
        try:
            loaded = json.loads(raw)
        except ValueError:
            return None  # a corrupt entry is a miss; the next put replaces it
        if not isinstance(loaded, dict):
            return None
        await self._memory.put(bucket, key, loaded)
        return loaded

    async def put(self, bucket: str, key: str, value: dict[str, Any]) -> None:
        """Write to the store and to memory."""
        await self._store.cache_put(self.PREFIX + bucket, key, json.dumps(value, sort_keys=True))
        await self._memory.put(bucket, key, value)
