"""Events stored as objects: who did what to which object, and when (`kargo get events`).

Every promotion, approval, rejection, verification and abort is recorded as a namespaced
`Event` object (Kubernetes' core/v1 shape plus `actor`):

    {"kind": "Event", "metadata": {"name": "<object>.<ulid>", "namespace": P},
     "involvedObject": {"kind", "name", "namespace"}, "type": "Normal"|"Warning",
     "reason": "PromotionSucceeded", "message": ..., "actor": "admin", "timestamp": ...}

`StoreEvents` implements `promotions.EventRecorder` for the reconcilers; the API's actions call
`record_event` directly. Neighbours: `promotions.py` (the protocol), `kargo.server.pipeline_routes`
(`GET /v1beta1/projects/{p}/events`).
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

import ulid

from kargo import clock as clock_mod
from kargo.store import interface

log = logging.getLogger(__name__)

EVENT_KIND = "Event"
ACTOR_ANNOTATION = "event.kargo.akuity.io/actor"
CREATE_ACTOR_ANNOTATION = "kargo.akuity.io/create-actor"
ABORT_ANNOTATION = "kargo.akuity.io/abort"
CONTROLLER_ACTOR = "controller:kargo"
MAX_NAME = 253


def build_event(
    involved: interface.Object,
    event_type: str,
    reason: str,
    message: str,
    *,
    actor: str,
    now: datetime,
) -> interface.Object:
    """The Event object recording one thing that happened to `involved`."""
    meta = involved.get("metadata") or {}
    namespace = str(meta.get("namespace") or "")
    name = str(meta.get("name") or "")
    ident = str(ulid.ULID.from_datetime(now)).lower()
    stamp = clock_mod.format_time(now)
    return {
        "apiVersion": "v1",
        "kind": EVENT_KIND,
        "metadata": {
            "name": f"{name[: MAX_NAME - len(ident) - 1]}.{ident}",
            "namespace": namespace,
            "annotations": {ACTOR_ANNOTATION: actor},
        },
        "involvedObject": {
            "apiVersion": str(involved.get("apiVersion") or ""),
            "kind": str(involved.get("kind") or ""),
            "name": name,
            "namespace": namespace,
        },
        "type": event_type,
        "reason": reason,
        "message": message,
        "actor": actor,
        "timestamp": stamp,
        "source": {"component": "kargo"},
    }


def default_actor(obj: interface.Object, reason: str = "") -> str:
    """Who an event about `obj` is attributed to when the caller does not say: for an abort,
    whoever asked for it (`kargo.akuity.io/abort`); else the creator of a Promotion
    (`kargo.akuity.io/create-actor`); else the controller."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    if reason.endswith("Aborted") and annotations.get(ABORT_ANNOTATION):
        try:
            request = json.loads(str(annotations[ABORT_ANNOTATION]))
        except ValueError:
            request = None
        if isinstance(request, dict) and request.get("actor"):
            return str(request["actor"])
    return str(annotations.get(CREATE_ACTOR_ANNOTATION) or CONTROLLER_ACTOR)


async def record_event(
    store: interface.Store,
    clock: clock_mod.Clock,
    involved: interface.Object,
    event_type: str,
    reason: str,
    message: str,
    *,
    actor: str | None = None,
) -> interface.Object | None:
    """Store one Event about a namespaced object (cluster-scoped objects are only logged)."""
    who = actor or default_actor(involved, reason)
    level = logging.INFO if event_type == "Normal" else logging.WARNING
    meta = involved.get("metadata") or {}
    log.log(
        level,
        "%s %s/%s: %s by %s: %s",
        involved.get("kind"),
        meta.get("namespace", ""),
        meta.get("name", ""),
        reason,
        who,
        message,
    )
    if not meta.get("namespace"):
        return None
    event = build_event(involved, event_type, reason, message, actor=who, now=clock.now())
    return await store.create(event)


class StoreEvents:
    """An EventRecorder that stores Events (and logs them); failures to store are logged, never
    raised, so an event can never fail the work it reports."""

    def __init__(self, store: interface.Store, clock: clock_mod.Clock) -> None:
        self.store = store
        self.clock = clock

    async def record(
        self,
        obj: interface.Object,
        event_type: str,
        reason: str,
        message: str,
        *,
        actor: str | None = None,
    ) -> None:
        """Store the event about `obj`."""
        try:
            await record_event(
                self.store, self.clock, obj, event_type, reason, message, actor=actor
            )
        except Exception:
            log.exception("storing event %s failed", reason)


def sort_key(event: dict[str, Any]) -> tuple[str, str]:
    """Events in the order they happened (timestamp, then the ULID in the name)."""
    name = str((event.get("metadata") or {}).get("name", ""))
    return (str(event.get("timestamp", "")), name.rsplit(".", 1)[-1])
