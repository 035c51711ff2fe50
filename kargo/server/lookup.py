"""The admission `Lookup` the server hands to `kargo.api.admission`: the store, seen through the
documents of the request being admitted (so a Stage may name a Warehouse created in the same
file, and a Project's documents may follow it).
"""

from __future__ import annotations

from typing import Any

from kargo import errors
from kargo.store import interface


class StoreLookup:
    """Read-only view of the store plus not-yet-written objects of one request."""

    def __init__(self, store: interface.Store) -> None:
        self._store = store
        self._pending: dict[tuple[str, str, str], dict[str, Any]] = {}

    def add(self, obj: dict[str, Any]) -> None:
        """Make an object of the current request visible to later admission calls."""
        meta = obj.get("metadata") or {}
        key = (
            str(obj.get("kind", "")),
            str(meta.get("namespace") or ""),
            str(meta.get("name", "")),
        )
        self._pending[key] = obj

    async def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        """One object by key, pending first; None when absent."""
        pending = self._pending.get((kind, namespace or "", name))
        if pending is not None:
            return pending
        try:
            return await self._store.get(kind, namespace or "", name)
        except errors.NotFoundError:
            return None

    async def list(self, kind: str, namespace: str | None) -> list[dict[str, Any]]:
        """Every object of a kind (in a namespace, or all when None), pending ones included."""
        out: dict[tuple[str, str], dict[str, Any]] = {}
        token: str | None = None
        while True:
            page = await self._store.list(
                kind,
                interface.ListOptions(namespace=namespace, limit=500, continue_token=token),
            )
            for item in page.items:
                meta = item.get("metadata") or {}
                out[(str(meta.get("namespace") or ""), str(meta.get("name", "")))] = item
            token = page.continue_token
            if not token:
                break
        for (k, ns, name), obj in self._pending.items():
            if k == kind and (namespace is None or ns == (namespace or "")):
                out[(ns, name)] = obj
        return [out[key] for key in sorted(out)]
