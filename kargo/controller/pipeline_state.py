"""Shared reads and writes of the Stage pipeline: annotations, listing, Freight status patches.

Used by `stage_promotions.py` (scheduling, outcomes), `verification_runs.py`, `auto_promotion.py`,
`stages.py` (the StageReconciler) and the API's actions (`kargo.server.pipeline_routes`), so the
rules for who writes which status field live in one package. Every write is optimistic
(`resourceVersion`) and retried on conflict by re-reading, so concurrent writers of other
fields of the same object never lose each other's work.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import ulid

from kargo import clock as clock_mod, errors
from kargo.store import interface, lookup as store_lookup

Obj = dict[str, Any]

ROLLBACK_ANNOTATION = "kargo.akuity.io/rollback"
HOLD_ANNOTATION = "kargo.akuity.io/auto-promotion-hold"
RESUME_ANNOTATION = "kargo.akuity.io/auto-promotion-resume"
REVERIFY_ANNOTATION = "kargo.akuity.io/reverify"
ABORT_ANNOTATION = "kargo.akuity.io/abort"
CREATE_ACTOR_ANNOTATION = "kargo.akuity.io/create-actor"
REFRESH_ANNOTATION = "kargo.akuity.io/refresh"
STAGE_LABEL = "kargo.akuity.io/stage"
FREIGHT_COLLECTION_LABEL = "kargo.akuity.io/freight-collection"
ALIAS_LABEL = "kargo.akuity.io/alias"
CONTROLLER_ACTOR = "controller:kargo"
TERMINAL_PROMOTION = frozenset({"Succeeded", "Failed", "Errored", "Aborted"})
VERIFYING = frozenset({"Pending", "Running"})
MAX_RETRIES = 8
HISTORY_MAX = 10


def promotion_phase(promo: Obj) -> str:
    """A Promotion's phase (Pending until a controller says otherwise)."""
    return str((promo.get("status") or {}).get("phase") or "Pending")


def annotations_of(obj: Obj) -> dict[str, str]:
    """The object's annotations (empty when none)."""
    return dict((obj.get("metadata") or {}).get("annotations") or {})


def is_control_flow(stage: Obj) -> bool:
    """A Stage without promotion steps only forwards Freight availability (Kargo's rule)."""
    template = ((stage.get("spec") or {}).get("promotionTemplate") or {}).get("spec") or {}
    return not template.get("steps")


def has_verification(stage: Obj) -> bool:
    """The Stage names AnalysisTemplates to run after each successful promotion."""
    verification = (stage.get("spec") or {}).get("verification") or {}
    return bool(verification.get("analysisTemplates"))


def current_collection(stage: Obj) -> Obj | None:
    """freightHistory[0]: the Freight the Stage runs now, with its verification history."""
    history = (stage.get("status") or {}).get("freightHistory") or []
    return history[0] if history else None


def current_verification(stage: Obj) -> Obj | None:
    """The newest VerificationInfo of the current Freight collection."""
    collection = current_collection(stage) or {}
    history = collection.get("verificationHistory") or []
    return history[0] if history else None


def verification_running(stage: Obj) -> bool:
    """A verification is pending or running: no Promotion may start meanwhile."""
    info = current_verification(stage)
    return bool(info) and str((info or {}).get("phase")) in VERIFYING


def new_id(clock: clock_mod.Clock) -> str:
    """A lowercase ULID: sorts by creation time, unique across replicas."""
    return str(ulid.ULID.from_datetime(clock.now())).lower()


def parse_request(raw: str | None) -> dict[str, str] | None:
    """A verification request annotation: a bare id or JSON `{id, actor, controlPlane}`."""
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return {"id": raw}
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items() if v is not None}
    return {"id": str(value)}


# Every object of `kind` in a namespace (all pages).
list_all = store_lookup.list_all


async def stage_promotions(store: interface.Store, namespace: str, stage: str) -> list[Obj]:
    """Every Promotion of a Stage."""
    return [
        p
        for p in await list_all(store, "Promotion", namespace)
        if (p.get("spec") or {}).get("stage") == stage
    ]


async def get_or_none(store: interface.Store, kind: str, namespace: str, name: str) -> Obj | None:
    """The object, or None when it does not exist."""
    try:
        return await store.get(kind, namespace, name)
    except errors.NotFoundError:
        return None


async def find_freight(store: interface.Store, namespace: str, name_or_alias: str) -> Obj:
    """Freight by name (ID) or alias; NotFoundError with a hint otherwise."""
    found = await get_or_none(store, "Freight", namespace, name_or_alias)
    if found is not None:
        return found
    page = await store.list(
        "Freight",
        interface.ListOptions(namespace=namespace, label_selector=f"{ALIAS_LABEL}={name_or_alias}"),
    )
    if page.items:
        return page.items[0]
    for freight in await list_all(store, "Freight", namespace):
        if freight.get("alias") == name_or_alias:
            return freight
    raise errors.NotFoundError(
        f"Freight {name_or_alias!r} not found in project {namespace!r} (by name or alias); "
        f"list it with `kargo get freight --project {namespace}`"
    )


async def patch_status(
    store: interface.Store,
    kind: str,
    namespace: str,
    name: str,
    mutate: Callable[[Obj], bool],
) -> Obj | None:
    """Apply `mutate` to the object's status and write it, re-reading on conflict.

    `mutate(status)` changes the status dict in place and returns whether it changed anything;
    nothing is written when it did not. Returns the stored object (None when it is gone).
    """
    for _ in range(MAX_RETRIES):
        obj = await get_or_none(store, kind, namespace, name)
        if obj is None:
            return None
        obj = copy.deepcopy(obj)
        status = obj.setdefault("status", {})
        if not mutate(status):
            return obj
        try:
            return await store.update_status(obj)
        except errors.ConflictError:
            continue
    raise errors.ConflictError(f"{kind} {namespace}/{name} kept changing; will retry")


async def patch_annotations(
    store: interface.Store,
    kind: str,
    namespace: str,
    name: str,
    mutate: Callable[[dict[str, str]], bool],
) -> Obj | None:
    """Apply `mutate` to the object's annotations and write the object, re-reading on conflict."""
    for _ in range(MAX_RETRIES):
        obj = await get_or_none(store, kind, namespace, name)
        if obj is None:
            return None
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        notes = dict(meta.get("annotations") or {})
        if not mutate(notes):
            return obj
        meta["annotations"] = notes
        try:
            return await store.update(obj)
        except errors.ConflictError:
            continue
    raise errors.ConflictError(f"{kind} {namespace}/{name} kept changing; will retry")
