"""Read-only helpers over the store shared by the layers above it.

- `list_all(store, kind, namespace)`: every object of a kind, following `continue` tokens.
- `StoreLookup(store)`: `kargo.api.admission.Lookup` over the store (get by key, list a kind).
  The server's own lookup (`kargo.server.lookup`) adds a request's not-yet-written objects.
"""

from __future__ import annotations

from kargo import errors
from kargo.store import interface

PAGE_SIZE = 500


async def list_all(
    store: interface.Store, kind: str, namespace: str | None
) -> list[interface.Object]:
    """Every object of `kind` in a namespace (all namespaces when None), all pages."""
    out: list[interface.Object] = []
    token: str | None = None
    while True:
        page = await store.list(
            kind,
            interface.ListOptions(namespace=namespace, limit=PAGE_SIZE, continue_token=token),
        )
        out.extend(page.items)
        token = page.continue_token
        if not token:
            return out


class StoreLookup:
    """The admission `Lookup` over the store; nothing is written."""

    def __init__(self, store: interface.Store) -> None:
        self._store = store

    async def get(self, kind: str, namespace: str, name: str) -> interface.Object | None:
        """One object, or None."""
        try:
            return await self._store.get(kind, namespace or "", name)
        except errors.NotFoundError:
            return None

    async def list(self, kind: str, namespace: str) -> list[interface.Object]:
        """Every object of a kind in a namespace."""
        return await list_all(self._store, kind, namespace)
