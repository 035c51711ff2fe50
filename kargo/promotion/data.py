"""The data behind a step's expression functions (freightMetadata, secret, commitFrom, ...).

`kargo.expressions.functions.PromotionData` is synchronous, while the store is async. Rather
than pre-loading every object a template might name, `StoreData` answers from a per-step cache
and raises `NeedObject` on a miss; `evaluate_with_data` catches it (it surfaces as the cause of
an ExpressionError), loads the object from the store and evaluates again. Expressions are pure,
so re-evaluation is safe, and only the objects a step really reads are fetched. Each step gets a
fresh cache, so `freightMetadata()` sees what a `set-metadata` step wrote just before.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from kargo import errors
from kargo.credentials import database as credentials_database
from kargo.promotion import context

T = TypeVar("T")
MAX_LOADS = 64

ObjectRef = tuple[str, str, str]  # kind, namespace, name


class NeedObject(Exception):
    """An expression function asked for an object not loaded yet."""

    def __init__(self, ref: ObjectRef) -> None:
        super().__init__(f"{ref[0]} {ref[1]}/{ref[2]} is not loaded yet")
        self.ref = ref


class StoreData:
    """`PromotionData` for one promotion step, backed by a store through a cache."""

    def __init__(
        self,
        store: Any | None,
        project: str,
        stage: str,
        freight: context.FreightCollection,
        *,
        shared_namespace: str = credentials_database.SHARED_NAMESPACE,
        secret_hook: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> None:
        self.store = store
        self.project = project
        self.stage_name = stage
        self.freight_items = freight.items
        self.shared_namespace = shared_namespace
        self.secret_hook = secret_hook  # unseals a stored Secret and remembers its values
        self.cache: dict[ObjectRef, Mapping[str, Any] | None] = {}

    def _get(self, kind: str, namespace: str, name: str) -> Mapping[str, Any] | None:
        ref = (kind, namespace, name)
        if ref not in self.cache:
            if self.store is None:
                return None
            raise NeedObject(ref)
        return self.cache[ref]

    async def load(self, ref: ObjectRef) -> None:
        """Fetch one object into the cache (None when it does not exist)."""
        try:
            obj = await self.store.get(*ref) if self.store is not None else None
        except errors.NotFoundError:
            obj = None
        if obj is not None and ref[0] == "Secret" and self.secret_hook is not None:
            obj = self.secret_hook(obj)
        self.cache[ref] = obj

    # --- PromotionData ----------------------------------------------------------------------

    def freight_collection(self) -> Mapping[str, Mapping[str, Any]]:
        """The promotion's Freight by origin key."""
        return self.freight_items

    def requested_origins(self) -> list[str]:
        """The Stage's requested origins as "Warehouse/<name>"."""
        stage = self._get("Stage", self.project, self.stage_name) or {}
        origins = []
        for request in (stage.get("spec") or {}).get("requestedFreight") or []:
            origin = request.get("origin") or {}
            origins.append(f"{origin.get('kind') or 'Warehouse'}/{origin.get('name', '')}")
        if not origins:
            origins = list(self.freight_items)
        return origins

    def warehouse(self, name: str) -> Mapping[str, Any] | None:
        """A Warehouse of the project."""
        return self._get("Warehouse", self.project, name)

    def freight(self, name: str) -> Mapping[str, Any] | None:
        """A Freight of the project."""
        return self._get("Freight", self.project, name)

    def stage(self, name: str) -> Mapping[str, Any] | None:
        """A Stage of the project."""
        return self._get("Stage", self.project, name)

    def config_map(self, name: str) -> Mapping[str, Any] | None:
        """A ConfigMap of the project."""
        return self._get("ConfigMap", self.project, name)

    def secret(self, name: str) -> Mapping[str, Any] | None:
        """A Secret of the project."""
        return self._get("Secret", self.project, name)

    def shared_config_map(self, name: str) -> Mapping[str, Any] | None:
        """A ConfigMap of the shared-resources namespace."""
        return self._get("ConfigMap", self.shared_namespace, name)

    def shared_secret(self, name: str) -> Mapping[str, Any] | None:
        """A Secret of the shared-resources namespace."""
        return self._get("Secret", self.shared_namespace, name)


def _needed(err: BaseException) -> NeedObject | None:
    seen: BaseException | None = err
    depth = 0
    while seen is not None and depth < 20:
        if isinstance(seen, NeedObject):
            return seen
        seen = seen.__cause__ or seen.__context__
        depth += 1
    return None


async def evaluate_with_data(data: StoreData | None, fn: Callable[[], T]) -> T:
    """Run a synchronous evaluation, loading each object it asks for, until it completes."""
    for _ in range(MAX_LOADS):
        try:
            return fn()
        except errors.ExpressionError as err:
            need = _needed(err)
            if need is None or data is None:
                raise
            await data.load(need.ref)
        except NeedObject as need:
            if data is None:
                raise errors.ExpressionError(str(need)) from need
            await data.load(need.ref)
    raise errors.ExpressionError(
        f"an expression read more than {MAX_LOADS} objects; simplify the step's expressions"
    )
