"""Which Freight a Stage may take, and which one it would auto-promote: Kargo's rules, exactly.

Freight is available to a Stage (Kargo's Stage.IsFreightAvailable) when its origin is requested
and: it is approved for the Stage; or the request takes Freight `direct`ly from the Warehouse; or
it is verified (and soaked `requiredSoakTime`) in one (`OneOf`) or all (`All`) upstream Stages.
We add rejection: Freight rejected for a Stage (or for every Stage) is never available there.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from kargo.api.models.common import parse_duration
from kargo.clock import parse_time

ALL_STAGES = "*"


def origin_key(origin: dict[str, Any]) -> str:
    """`Warehouse/<name>`: how origins key Freight collections and holds."""
    return f"{origin.get('kind') or 'Warehouse'}/{origin.get('name', '')}"


def same_origin(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Origins are equal when kind (default Warehouse) and name are."""
    return origin_key(a) == origin_key(b)


def is_verified_in(freight: dict[str, Any], stage: str) -> bool:
    """The Freight passed verification in `stage`."""
    return stage in ((freight.get("status") or {}).get("verifiedIn") or {})


def is_approved_for(freight: dict[str, Any], stage: str) -> bool:
    """A human approved the Freight for `stage`."""
    return stage in ((freight.get("status") or {}).get("approvedFor") or {})


def is_rejected_for(freight: dict[str, Any], stage: str) -> bool:
    """The Freight was rejected for `stage` or for every Stage."""
    rejected = (freight.get("status") or {}).get("rejectedFor") or {}
    return stage in rejected or ALL_STAGES in rejected


def longest_soak(freight: dict[str, Any], stage: str, now: datetime) -> timedelta:
    """max(longest completed soak, time in the Stage so far); zero unless verified there."""
    status = freight.get("status") or {}
    verified = (status.get("verifiedIn") or {}).get(stage)
    if verified is None:
        return timedelta(0)
    completed = timedelta(0)
    if verified.get("longestSoak"):
        completed = parse_duration(str(verified["longestSoak"]))
    current = timedelta(0)
    record = (status.get("currentlyIn") or {}).get(stage)
    if record and record.get("since"):
        current = now - parse_time(str(record["since"]))
    return max(completed, current)


def is_available(stage: dict[str, Any], freight: dict[str, Any], now: datetime) -> bool:
    """Whether `freight` may be promoted to `stage` now."""
    stage_name = stage["metadata"]["name"]
    if stage["metadata"].get("namespace") != freight["metadata"].get("namespace"):
        return False
    if is_rejected_for(freight, stage_name):
        return False
    if is_approved_for(freight, stage_name):
        return True
    for request in (stage.get("spec") or {}).get("requestedFreight") or []:
        if not same_origin(freight.get("origin") or {}, request.get("origin") or {}):
            continue
        sources = request.get("sources") or {}
        if sources.get("direct"):
            return True
        soak = (
            parse_duration(str(sources["requiredSoakTime"]))
            if sources.get("requiredSoakTime")
            else None
        )
        upstream = sources.get("stages") or []

        def ok(source: str, soak: timedelta | None = soak) -> bool:
            return is_verified_in(freight, source) and (
                soak is None or longest_soak(freight, source, now) >= soak
            )

        if sources.get("availabilityStrategy") == "All":
            if upstream and all(ok(s) for s in upstream):
                return True
        elif any(ok(s) for s in upstream):
            return True
    return False


def discovered_at(freight: dict[str, Any]) -> str:
    """The Freight's ordering time (discoveredAt, else creationTimestamp)."""
    return str(freight.get("discoveredAt") or freight["metadata"].get("creationTimestamp") or "")


def newest_first(freights: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Freight ordered by discoveredAt descending, ties by name descending (Kargo's order)."""
    return sorted(freights, key=lambda f: (discovered_at(f), f["metadata"]["name"]), reverse=True)


def current_freight_in(stage: dict[str, Any], origin: dict[str, Any]) -> str | None:
    """The name of the Freight of `origin` that `stage` currently runs, if any."""
    history = (stage.get("status") or {}).get("freightHistory") or []
    if not history:
        return None
    item = (history[0].get("items") or {}).get(origin_key(origin))
    return str(item["name"]) if item and item.get("name") else None


def auto_promotion_candidate(
    stage: dict[str, Any],
    request: dict[str, Any],
    freights: Iterable[dict[str, Any]],
    upstream_stages: dict[str, dict[str, Any]],
    now: datetime,
) -> dict[str, Any] | None:
    """The Freight a Stage would auto-promote for one requested origin, or None.

    NewestFreight: the newest available Freight of the origin. MatchUpstream: the Freight
    currently in the single upstream Stage, when it is available here.
    """
    origin = request.get("origin") or {}
    sources = request.get("sources") or {}
    policy = ((sources.get("autoPromotionOptions") or {}).get("selectionPolicy")) or "NewestFreight"
    candidates = [
        f
        for f in freights
        if same_origin(f.get("origin") or {}, origin) and is_available(stage, f, now)
    ]
    if policy == "MatchUpstream":
        upstream = sources.get("stages") or []
        if len(upstream) != 1 or upstream[0] not in upstream_stages:
            return None
        name = current_freight_in(upstream_stages[upstream[0]], origin)
        return next((f for f in candidates if f["metadata"]["name"] == name), None)
    ordered = newest_first(candidates)
    return ordered[0] if ordered else None


def freight_collection_id(names: Iterable[str]) -> str:
    """sha1 hex of the sorted Freight names joined with "," (Kargo's FreightCollection.ID)."""
    return hashlib.sha1(",".join(sorted(names)).encode(), usedforsecurity=False).hexdigest()


def freight_summary(stage: dict[str, Any]) -> str:
    """The Freight name when 1 of 1 request is fulfilled, else "<fulfilled>/<requested> Fulfilled"."""
    requests = (stage.get("spec") or {}).get("requestedFreight") or []
    fulfilled = [current_freight_in(stage, r.get("origin") or {}) for r in requests]
    done = [n for n in fulfilled if n]
    if len(requests) == 1 and len(done) == 1:
        return done[0]
    return f"{len(done)}/{len(requests)} Fulfilled"
