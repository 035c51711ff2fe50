"""The Stage's side of promotions: which Promotion runs next, and what a finished one changes.

`StageSync` is the one writer of Stage `status.currentPromotion`, `lastPromotion`,
`freightHistory` and `autoPromotionHolds`, and of Freight `status.currentlyIn` and
`verifiedIn[...].longestSoak` on promotion. The StageReconciler (`stages.py`) calls it on every
reconcile; `PipelinePromotionReconciler` routes the PromotionReconciler's own scheduling hooks to
it, so both controllers apply the same rules:

- One Promotion runs per Stage at a time: Running first, then Pending by name (a ULID, so FIFO).
  None starts while the Stage's verification is pending or running. Pending Promotions of
  Freight rejected for the Stage are aborted instead of started.
- Promoting Freight older (by discoveredAt) than the one the Stage runs is a rollback: the
  Promotion gets `kargo.akuity.io/rollback: "true"` before it starts (the engine shows it as
  `ctx.meta.promotion.rollback`) and its freightHistory entry is marked `rollback: true`.
- A successful Promotion puts its FreightCollection first in freightHistory (max 10), moves
  `currentlyIn` (Freight that leaves records its `longestSoak`), records an auto-promotion hold
  or clears one (annotations set by the API), and either queues verification (a Pending
  VerificationInfo) or, without verification, marks the Freight verified at once.
"""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from typing import Any

from kargo import clock as clock_mod
from kargo.api import availability
from kargo.api.models.common import format_duration, parse_duration
from kargo.controller import informer as informer_mod, pipeline_state as ps, promotions
from kargo.promotion import engine as engine_mod
from kargo.store import interface

Obj = dict[str, Any]


def promotion_order(promo: Obj) -> tuple[int, str]:
    """Running first, then by name (ULID = FIFO)."""
    return (0 if ps.promotion_phase(promo) == "Running" else 1, str(promo["metadata"]["name"]))


def mark_verified(status: Obj, stage: str, now: str) -> bool:
    """Set Freight `verifiedIn[stage]` (keeping any recorded longestSoak)."""
    verified = dict(status.get("verifiedIn") or {})
    entry = dict(verified.get(stage) or {})
    entry["verifiedAt"] = now
    verified[stage] = entry
    status["verifiedIn"] = verified
    return True


def unmark_verified(status: Obj, stage: str) -> bool:
    """Remove Freight `verifiedIn[stage]` (a failed re-verification revokes it)."""
    verified = dict(status.get("verifiedIn") or {})
    if stage not in verified:
        return False
    del verified[stage]
    status["verifiedIn"] = verified
    return True


class StageSync:
    """Scheduling and outcome recording for the Promotions of a Stage."""

    def __init__(
        self,
        store: interface.Store,
        clock: clock_mod.Clock,
        events: promotions.EventRecorder,
        *,
        informer: informer_mod.Informer,
    ) -> None:
        self.store = store
        self.clock = clock
        self.events = events
        self.informer = informer  # a Stage's Promotions, by index (read-only objects)

    def now(self) -> str:
        """The clock's time, RFC 3339."""
        return clock_mod.format_time(self.clock.now())

    # --- scheduling -------------------------------------------------------------------------

    async def select_current(self, stage: Obj) -> str | None:
        """The Promotion that may run on `stage` now, recorded as `currentPromotion`."""
        stage = copy.deepcopy(stage)
        namespace = str(stage["metadata"]["namespace"])
        status = stage.setdefault("status", {})
        current = (status.get("currentPromotion") or {}).get("name")
        await self.informer.sync()
        promos = {
            str(p["metadata"]["name"]): p
            for p in self.informer.by_index(
                "Promotion", "stage", namespace, str(stage["metadata"]["name"])
            )
        }
        if current and current in promos:
            if ps.promotion_phase(promos[current]) not in ps.TERMINAL_PROMOTION:
                return str(current)
            return await self.record_outcome(promos[current], stage)
        chosen: Obj | None = None
        if not ps.verification_running(stage):
            waiting = sorted(
                (
                    p
                    for p in promos.values()
                    if ps.promotion_phase(p) not in ps.TERMINAL_PROMOTION
                    and not engine_mod.abort_requested(p)
                ),
                key=promotion_order,
            )
            for promo in waiting:
                if ps.promotion_phase(promo) == "Pending" and await self._rejected(promo, stage):
                    continue
                chosen = promo
                break
        if chosen is not None and ps.promotion_phase(chosen) == "Pending":
            chosen = await self._mark_rollback(chosen, stage) or chosen
        new_current = promotions.current_promotion_ref(chosen)
        if new_current != (status.get("currentPromotion") or None):
            if new_current is None:
                status.pop("currentPromotion", None)
            else:
                status["currentPromotion"] = new_current
            await self.store.update_status(stage)  # ConflictError -> retried with backoff
        return str(chosen["metadata"]["name"]) if chosen else None

    async def _rejected(self, promo: Obj, stage: Obj) -> bool:
        """Abort a waiting Promotion of Freight rejected for the Stage; True when rejected."""
        namespace = str(promo["metadata"]["namespace"])
        freight = await ps.get_or_none(
            self.store, "Freight", namespace, str((promo.get("spec") or {}).get("freight", ""))
        )
        stage_name = str(stage["metadata"]["name"])
        if freight is None or not availability.is_rejected_for(freight, stage_name):
            return False
        rejected = (freight.get("status") or {}).get("rejectedFor") or {}
        record = rejected.get(stage_name) or rejected.get(availability.ALL_STAGES) or {}
        request = {
            "action": "terminate",
            "actor": str(record.get("actor") or ps.CONTROLLER_ACTOR),
            "reason": f"freight {freight['metadata']['name']} was rejected for this stage",
        }

        def abort(notes: dict[str, str]) -> bool:
            if notes.get(ps.ABORT_ANNOTATION):
                return False
            notes[ps.ABORT_ANNOTATION] = json.dumps(request)
            return True

        await ps.patch_annotations(
            self.store, "Promotion", namespace, str(promo["metadata"]["name"]), abort
        )
        return True

    async def _mark_rollback(self, promo: Obj, stage: Obj) -> Obj | None:
        """Annotate a Promotion of Freight older than the Stage's current Freight a rollback."""
        if ps.annotations_of(promo).get(ps.ROLLBACK_ANNOTATION):
            return None
        namespace = str(promo["metadata"]["namespace"])
        freight = await ps.get_or_none(
            self.store, "Freight", namespace, str((promo.get("spec") or {}).get("freight", ""))
        )
        if freight is None or not is_rollback(freight, await self._current_of(stage, freight)):
            return None

        def mark(notes: dict[str, str]) -> bool:
            notes[ps.ROLLBACK_ANNOTATION] = "true"
            return True

        return await ps.patch_annotations(
            self.store, "Promotion", namespace, str(promo["metadata"]["name"]), mark
        )

    async def _current_of(self, stage: Obj, freight: Obj) -> Obj | None:
        name = availability.current_freight_in(stage, freight.get("origin") or {})
        if not name:
            return None
        return await ps.get_or_none(self.store, "Freight", stage["metadata"]["namespace"], name)

    # --- outcomes ---------------------------------------------------------------------------

    async def record_outcome(self, promo: Obj, stage: Obj | None = None) -> str | None:
        """Record a finished Promotion on its Stage and Freight, then pick the next one.

        Idempotent, keyed on the Stage still naming this Promotion as current: the Freight
        updates come first (each idempotent), then one Stage write. Returns the Promotion now
        current on the Stage.
        """
        namespace = str(promo["metadata"]["namespace"])
        name = str(promo["metadata"]["name"])
        stage_name = str((promo.get("spec") or {}).get("stage", ""))
        if stage is None:
            stage = await ps.get_or_none(self.store, "Stage", namespace, stage_name)
            if stage is None:
                return None
        stage = copy.deepcopy(stage)
        status = stage.setdefault("status", {})
        current = (status.get("currentPromotion") or {}).get("name")
        if current != name:
            if not current:
                return await self.select_current(stage)
            return str(current)
        pstatus = promo.get("status") or {}
        phase = ps.promotion_phase(promo)
        collection = pstatus.get("freightCollection") or {}
        notes = ps.annotations_of(promo)
        if phase == "Succeeded" and collection:
            previous = copy.deepcopy(ps.current_collection(stage) or {})
            entry = copy.deepcopy(collection)
            entry["promotion"] = name
            if str(notes.get(ps.ROLLBACK_ANNOTATION, "")).lower() == "true":
                entry["rollback"] = True
            names = sorted(str(v.get("name")) for v in (entry.get("items") or {}).values())
            await self.update_currently_in(namespace, stage_name, previous, entry)
            if ps.has_verification(stage):
                entry["verificationHistory"] = [
                    {
                        "id": ps.new_id(self.clock),
                        "actor": ps.CONTROLLER_ACTOR,
                        "startTime": self.now(),
                        "phase": "Pending",
                    }
                ]
            else:
                now = self.now()
                for freight_name in names:
                    await ps.patch_status(
                        self.store,
                        "Freight",
                        namespace,
                        freight_name,
                        lambda s: mark_verified(s, stage_name, now),
                    )
            history = [
                h for h in status.get("freightHistory") or [] if h.get("id") != entry.get("id")
            ]
            status["freightHistory"] = [entry, *history][: ps.HISTORY_MAX]
            self._update_holds(status, promo, notes)
        status["lastPromotion"] = {
            "name": name,
            "freight": pstatus.get("freight"),
            "status": {"phase": phase, "message": str(pstatus.get("message") or "")},
            "finishedAt": pstatus.get("finishedAt"),
        }
        status.pop("currentPromotion", None)
        stage = await self.store.update_status(stage)
        return await self.select_current(stage)

    def _update_holds(self, status: Obj, promo: Obj, notes: dict[str, str]) -> None:
        holds = dict(status.get("autoPromotionHolds") or {})
        freight = (promo.get("status") or {}).get("freight") or {}
        if notes.get(ps.HOLD_ANNOTATION):
            origin = notes[ps.HOLD_ANNOTATION]
            holds[origin] = {
                "freightName": freight.get("name", ""),
                "origin": freight.get("origin") or {},
                "promotionName": promo["metadata"]["name"],
                "actor": notes.get(ps.CREATE_ACTOR_ANNOTATION, ""),
                "createdAt": self.now(),
            }
        if notes.get(ps.RESUME_ANNOTATION):
            holds.pop(notes[ps.RESUME_ANNOTATION], None)
        if holds:
            status["autoPromotionHolds"] = holds
        else:
            status.pop("autoPromotionHolds", None)

    async def update_currently_in(
        self, namespace: str, stage_name: str, previous: Obj, current: Obj
    ) -> None:
        """Freight now in the Stage gets `currentlyIn[stage]`; Freight that left loses it and,
        when verified there, records how long it soaked (`verifiedIn[stage].longestSoak`)."""
        now = self.clock.now()
        stamp = clock_mod.format_time(now)
        new_names = {str(v.get("name")) for v in (current.get("items") or {}).values()}
        old_names = {str(v.get("name")) for v in (previous.get("items") or {}).values()}

        def arrive(status: Obj) -> bool:
            currently = dict(status.get("currentlyIn") or {})
            if stage_name in currently:
                return False
            currently[stage_name] = {"since": stamp}
            status["currentlyIn"] = currently
            return True

        def leave(status: Obj) -> bool:
            currently = dict(status.get("currentlyIn") or {})
            record = currently.pop(stage_name, None)
            if record is None:
                return False
            status["currentlyIn"] = currently
            verified = dict(status.get("verifiedIn") or {})
            if stage_name in verified and record.get("since"):
                entry = dict(verified[stage_name] or {})
                soaked = now - clock_mod.parse_time(str(record["since"]))
                before = parse_duration(str(entry.get("longestSoak") or "0"))
                entry["longestSoak"] = format_duration(max(before, soaked, timedelta(0)))
                verified[stage_name] = entry
                status["verifiedIn"] = verified
            return True

        for name in sorted(new_names | old_names):
            await ps.patch_status(
                self.store, "Freight", namespace, name, arrive if name in new_names else leave
            )


def is_rollback(freight: Obj, current: Obj | None) -> bool:
    """Promoting `freight` is a rollback when the Stage runs newer Freight of the same origin."""
    if current is None or current["metadata"]["name"] == freight["metadata"]["name"]:
        return False
    return availability.discovered_at(freight) < availability.discovered_at(current)


class PipelinePromotionReconciler(promotions.PromotionReconciler):
    """The PromotionReconciler with scheduling and outcome recording done by `StageSync`, so
    the Stage and Promotion controllers apply one set of rules and one writer per field."""

    def __init__(self, *args: Any, sync: StageSync, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sync = sync

    async def select_current(self, stage: Obj) -> str | None:
        """Delegated to `StageSync.select_current`."""
        return await self.sync.select_current(stage)

    async def record_outcome(self, promo: Obj, stage: Obj | None = None) -> str | None:
        """Delegated to `StageSync.record_outcome`."""
        return await self.sync.record_outcome(promo, stage)
