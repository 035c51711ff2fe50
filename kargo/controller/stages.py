"""StageReconciler: what Freight a Stage may take, which Promotion runs, verification, auto-promotion.

One reconcile of a Stage, in order (Kargo's pkg/controller/stages/regular_stages.go):
1. fetch (gone or deleting: nothing to do) and take the Stage's lease (one replica at a time);
2. promotions (`stage_promotions.StageSync`): record a finished current Promotion, pick the next
   (FIFO, none while verifying), mark rollbacks;
3. verification (`verification_runs.Verifier`): start, advance, re-run or abort AnalysisRuns;
4. control-flow Stages (no steps) forward availability: Freight available to them is marked
   verified in them at once, so their downstream Stages see it;
5. auto-promotion (`auto_promotion`): the first matching ProjectConfig policy decides;
6. status: freightSummary, health, autoPromotionEnabled, conditions, lastHandledRefresh,
   written only when changed (so reconciling twice changes nothing);
7. requeue at the next verification measurement or the moment a soaking Freight becomes
   available; a periodic resync is only a safety net.

Event-driven wiring (`register`): a Freight change wakes the Stages requesting its origin, a
Promotion phase change wakes its Stage, a Stage change wakes its downstream Stages, and a
ProjectConfig change wakes the project's Stages.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from datetime import datetime, timedelta
from typing import Any

from kargo import clock as clock_mod
from kargo.api import availability
from kargo.api.models.common import parse_duration
from kargo.controller import (
    auto_promotion,
    events as events_mod,
    pipeline_state as ps,
    runtime,
    stage_promotions,
    verification_runs,
    warehouses,
)
from kargo.store import interface
from kargo.verification import analysis

log = logging.getLogger(__name__)

Obj = dict[str, Any]
RESYNC = timedelta(minutes=5)
LEASE_TTL = timedelta(seconds=30)
LEASE_BUSY_RETRY = timedelta(seconds=1)
CONCURRENCY_ENV = "MAX_CONCURRENT_STAGE_RECONCILES"


class StageReconciler:
    """Reconciles Stages (regular and control-flow)."""

    def __init__(
        self,
        store: interface.Store,
        clock: clock_mod.Clock,
        *,
        sync: stage_promotions.StageSync,
        verifier: verification_runs.Verifier,
        events: Any,
        holder: str | None = None,
        lease_ttl: timedelta = LEASE_TTL,
        resync: timedelta = RESYNC,
    ) -> None:
        self.store = store
        self.clock = clock
        self.sync = sync
        self.verifier = verifier
        self.events = events
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{id(self)}"
        self.lease_ttl = lease_ttl
        self.resync = resync
        self.lookup = warehouses.StoreLookup(store)

    async def reconcile(self, key: interface.ObjectKey) -> runtime.Result:
        """Bring one Stage up to date."""
        # Fetch: a Stage that is gone or going needs nothing.
        stage = await ps.get_or_none(self.store, "Stage", key.namespace, key.name)
        if stage is None or (stage.get("metadata") or {}).get("deletionTimestamp"):
            return runtime.Result()
        # Replicas: one works on a Stage at a time.
        lease = f"stages/{key.namespace}/{key.name}"
        if not await self.store.try_acquire_lease(
            lease, self.holder, self.lease_ttl.total_seconds()
        ):
            return runtime.Result(requeue_after=LEASE_BUSY_RETRY)
        try:
            return await self.reconcile_stage(stage)
        finally:
            with contextlib.suppress(Exception):
                await self.store.release_lease(lease, self.holder)

    async def reconcile_stage(self, stage: Obj) -> runtime.Result:
        """The phases of one reconcile (see the module docstring)."""
        namespace, name = str(stage["metadata"]["namespace"]), str(stage["metadata"]["name"])
        # Promotions: record the finished one, pick the next.
        await self.sync.select_current(stage)
        stage = await self.store.get("Stage", namespace, name)
        # Verification.
        stage, verify_delay = await self.verifier.sync(stage)
        # What the Stage can see.
        freights = await ps.list_all(self.store, "Freight", namespace)
        stages = {
            s["metadata"]["name"]: s for s in await ps.list_all(self.store, "Stage", namespace)
        }
        stages[name] = stage
        config = await ps.get_or_none(self.store, "ProjectConfig", namespace, namespace)
        now = self.clock.now()
        # Control-flow Stages forward availability.
        if ps.is_control_flow(stage):
            await self.forward(stage, freights, now)
        # Auto-promotion.
        policy = auto_promotion.find_policy(config, stage)
        promos = await ps.stage_promotions(self.store, namespace, name)
        created, note = await auto_promotion.auto_promote(
            self.store,
            self.clock,
            stage,
            policy=policy,
            freights=freights,
            stages=stages,
            promotions=promos,
            lookup=self.lookup,
        )
        for promo in created:
            await self.events.record(
                promo,
                "Normal",
                "PromotionCreated",
                f"auto-promotion of freight {promo['spec']['freight']} to stage {name!r}",
                actor=ps.CONTROLLER_ACTOR,
            )
        if created:
            stage = await self.store.get("Stage", namespace, name)
            await self.sync.select_current(stage)
        # Status.
        stage = await self.store.get("Stage", namespace, name)
        await self.write_status(stage, policy, note)
        # Requeue.
        delays = [d for d in (verify_delay, soak_wake(stage, freights, now)) if d is not None]
        delays.append(self.resync)
        return runtime.Result(requeue_after=max(min(delays), timedelta(0)))

    async def forward(self, stage: Obj, freights: list[Obj], now: datetime) -> None:
        """Mark every Freight available to a control-flow Stage verified in it."""
        name = str(stage["metadata"]["name"])
        stamp = clock_mod.format_time(now)
        for freight in freights:
            if availability.is_verified_in(freight, name):
                continue
            if not availability.is_available(stage, freight, now):
                continue
            await ps.patch_status(
                self.store,
                "Freight",
                stage["metadata"]["namespace"],
                freight["metadata"]["name"],
                lambda s: stage_promotions.mark_verified(s, name, stamp),
            )

    async def write_status(self, stage: Obj, policy: Obj | None, note: str) -> None:
        """Derived status fields, written only when they changed."""
        status = dict(stage.get("status") or {})
        desired = dict(status)
        desired["freightSummary"] = availability.freight_summary(stage)
        desired["autoPromotionEnabled"] = bool((policy or {}).get("autoPromotionEnabled"))
        health = stage_health(stage)
        if health is None:
            desired.pop("health", None)
        else:
            desired["health"] = health
        meta = stage.get("metadata") or {}
        token = (meta.get("annotations") or {}).get(ps.REFRESH_ANNOTATION)
        if token:
            desired["lastHandledRefresh"] = token
        desired["observedGeneration"] = meta.get("generation")
        desired["conditions"] = ready_conditions(
            status.get("conditions") or [], note, clock_mod.format_time(self.clock.now())
        )
        if desired != status:
            stage = dict(stage)
            stage["status"] = desired
            await self.store.update_status(stage)  # ConflictError -> retried with backoff


def stage_health(stage: Obj) -> Obj | None:
    """Healthy after a successful promotion; Unhealthy when the last promotion or the current
    verification failed; nothing for control-flow Stages or before any promotion."""
    if ps.is_control_flow(stage):
        return None
    status = stage.get("status") or {}
    last = status.get("lastPromotion") or {}
    if not last:
        return None
    phase = str((last.get("status") or {}).get("phase") or "")
    if phase in ("Failed", "Errored"):
        message = str((last.get("status") or {}).get("message") or f"promotion {phase.lower()}")
        return {"status": "Unhealthy", "issues": [f"last promotion {last.get('name')}: {message}"]}
    info = ps.current_verification(stage) or {}
    if info.get("phase") in ("Failed", "Error", "Inconclusive"):
        return {
            "status": "Unhealthy",
            "issues": [f"verification {info.get('phase', '').lower()}: {info.get('message', '')}"],
        }
    if not ps.current_collection(stage):
        return None
    return {"status": "Healthy"}


def ready_conditions(existing: list[Obj], note: str, now: str) -> list[Obj]:
    """The Ready condition, its transition time kept unless its status changes."""
    status, reason = ("False", "AutoPromotionBlocked") if note else ("True", "Reconciled")
    message = note or "stage is up to date"
    old = next((c for c in existing if c.get("type") == "Ready"), None)
    since = old.get("lastTransitionTime") if old and old.get("status") == status else now
    others = [c for c in existing if c.get("type") != "Ready"]
    return [
        *others,
        {
            "type": "Ready",
            "status": status,
            "reason": reason,
            "message": message,
            "lastTransitionTime": since,
        },
    ]


def soak_wake(stage: Obj, freights: list[Obj], now: datetime) -> timedelta | None:
    """How long until a Freight soaking upstream has soaked `requiredSoakTime` (None: never)."""
    best: timedelta | None = None
    for request in (stage.get("spec") or {}).get("requestedFreight") or []:
        sources = request.get("sources") or {}
        if not sources.get("requiredSoakTime") or not sources.get("stages"):
            continue
        try:
            soak = parse_duration(str(sources["requiredSoakTime"]))
        except ValueError:
            continue
        for freight in freights:
            if not availability.same_origin(
                freight.get("origin") or {}, request.get("origin") or {}
            ):
                continue
            for upstream in sources["stages"]:
                if not availability.is_verified_in(freight, upstream):
                    continue
                if upstream not in ((freight.get("status") or {}).get("currentlyIn") or {}):
                    continue
                left = soak - availability.longest_soak(freight, upstream, now)
                if left > timedelta(0) and (best is None or left < best):
                    best = left
    return best


# --- event-driven wiring -------------------------------------------------------------------


def requests_origin(stage: Obj, origin: Obj) -> bool:
    """The Stage requests Freight of this origin."""
    return any(
        availability.same_origin(r.get("origin") or {}, origin)
        for r in (stage.get("spec") or {}).get("requestedFreight") or []
    )


def stage_key(namespace: str, name: str) -> interface.ObjectKey:
    """The work-queue key of a Stage."""
    return interface.ObjectKey("Stage", namespace, name)


class FreightToStages:
    """A Freight change wakes every Stage requesting its origin (its direct and downstream
    consumers: verification upstream makes it available downstream)."""

    def __init__(self, store: interface.Store) -> None:
        self.store = store

    async def __call__(self, freight: Obj) -> list[interface.ObjectKey]:
        """The Stage keys to enqueue."""
        namespace = str(freight["metadata"].get("namespace", ""))
        origin = freight.get("origin") or {}
        return [
            stage_key(namespace, s["metadata"]["name"])
            for s in await ps.list_all(self.store, "Stage", namespace)
            if requests_origin(s, origin)
        ]


class PromotionToStage:
    """A Promotion created, deleted or changing phase wakes its Stage (not every step write)."""

    def __init__(self) -> None:
        self._phases: dict[tuple[str, str], str] = {}

    def __call__(self, promo: Obj) -> list[interface.ObjectKey]:
        """The Stage key to enqueue, if the phase changed."""
        meta = promo.get("metadata") or {}
        ident = (str(meta.get("namespace", "")), str(meta.get("name", "")))
        phase = ps.promotion_phase(promo)
        if self._phases.get(ident) == phase and not meta.get("deletionTimestamp"):
            return []
        self._phases[ident] = phase
        stage = str((promo.get("spec") or {}).get("stage", ""))
        return [stage_key(ident[0], stage)] if stage else []


class StageToDownstream:
    """A Stage change wakes the Stages that take Freight from it."""

    def __init__(self, store: interface.Store) -> None:
        self.store = store

    async def __call__(self, stage: Obj) -> list[interface.ObjectKey]:
        """The downstream Stage keys to enqueue."""
        namespace = str(stage["metadata"].get("namespace", ""))
        name = str(stage["metadata"]["name"])
        return [
            stage_key(namespace, s["metadata"]["name"])
            for s in await ps.list_all(self.store, "Stage", namespace)
            if any(
                name in ((r.get("sources") or {}).get("stages") or [])
                for r in (s.get("spec") or {}).get("requestedFreight") or []
            )
        ]


class ProjectConfigToStages:
    """A ProjectConfig change (promotion policies) wakes every Stage of its project."""

    def __init__(self, store: interface.Store) -> None:
        self.store = store

    async def __call__(self, config: Obj) -> list[interface.ObjectKey]:
        """Every Stage key of the project."""
        namespace = str(config["metadata"].get("namespace", ""))
        return [
            stage_key(namespace, s["metadata"]["name"])
            for s in await ps.list_all(self.store, "Stage", namespace)
        ]


def stage_concurrency() -> int:
    """MAX_CONCURRENT_STAGE_RECONCILES (default 4), as in Kargo."""
    raw = os.environ.get(CONCURRENCY_ENV, "")
    try:
        return max(1, int(raw)) if raw else runtime.DEFAULT_CONCURRENCY
    except ValueError:
        log.warning("%s=%r is not a number; using 4", CONCURRENCY_ENV, raw)
        return runtime.DEFAULT_CONCURRENCY


def build(
    store: interface.Store,
    clock: clock_mod.Clock,
    *,
    events: Any | None = None,
    runner: analysis.AnalysisRunner | None = None,
) -> tuple[StageReconciler, stage_promotions.StageSync]:
    """The StageReconciler and the StageSync the PromotionReconciler should share."""
    recorder = events if events is not None else events_mod.StoreEvents(store, clock)
    sync = stage_promotions.StageSync(store, clock, recorder)
    verifier = verification_runs.Verifier(
        store,
        clock,
        runner or analysis.AnalysisRunner(verification_runs.default_providers(), clock),
        recorder,
    )
    return StageReconciler(store, clock, sync=sync, verifier=verifier, events=recorder), sync


def register(manager: runtime.Manager, reconciler: StageReconciler) -> None:
    """Register the StageReconciler and the mappings that wake it."""
    # Its own status writes wake it too: another controller (the PromotionReconciler recording
    # an outcome) may have written the Stage's status; a reconcile with nothing to do writes
    # nothing, so this converges.
    manager.register(
        "Stage", reconciler, concurrency=stage_concurrency(), ignore_status_changes=False
    )
    store = reconciler.store
    manager.watch_related("Freight", FreightToStages(store))
    manager.watch_related("Promotion", PromotionToStage())
    manager.watch_related("Stage", StageToDownstream(store))
    manager.watch_related("ProjectConfig", ProjectConfigToStages(store))
