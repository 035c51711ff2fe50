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
   available; the Manager's periodic resync is only a safety net.

What a reconcile reads comes from one `informer.Informer` (caught up with the store first), by
index: the Freight that may be available to the Stage (`relevant_freight`), its upstream Stages,
its Promotions and the ProjectConfig; never a whole project. A Stage whose last reconcile left
nothing pending (no requeue, no verification running) and whose inputs have not changed since
(`input_fingerprint`: the resourceVersions of the Stage, its upstream Stages, the ProjectConfig
and of the index buckets `relevant_freight` and its Promotions come from) is skipped, so a resync
of an idle project costs one small query per Stage.

Event-driven wiring (`register`): a Freight change wakes the Stages requesting its origin, a
Promotion phase change wakes its Stage, a Stage change wakes its downstream Stages, and a
ProjectConfig change wakes the project's Stages (index lookups in the informer).
"""

from __future__ import annotations

import contextlib
import copy
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
    informer as informer_mod,
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
        informer: informer_mod.Informer,
        holder: str | None = None,
        lease_ttl: timedelta = LEASE_TTL,
    ) -> None:
        self.store = store
        self.clock = clock
        self.sync = sync
        self.verifier = verifier
        self.events = events
        self.informer = informer
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{id(self)}"
        self.lease_ttl = lease_ttl
        self.lookup = warehouses.StoreLookup(store)
        # input fingerprints of Stages whose last reconcile left nothing pending
        self.idle: dict[interface.ObjectKey, tuple[Any, ...]] = {}
        self.skipped = 0  # reconciles skipped as unchanged (tests, diagnostics)

    async def reconcile(self, key: interface.ObjectKey) -> runtime.Result:
        """Bring one Stage up to date."""
        # Fetch: a Stage that is gone or going needs nothing.
        await self.informer.sync()
        cached = self.informer.get("Stage", key.namespace, key.name)
        if cached is None or (cached.get("metadata") or {}).get("deletionTimestamp"):
            self.idle.pop(key, None)
            return runtime.Result()
        # Unchanged since it was last left with nothing to do: nothing to do.
        mark = input_fingerprint(self.informer, cached)
        if self.idle.get(key) == mark:
            self.skipped += 1
            return runtime.Result()
        self.idle.pop(key, None)
        # Replicas: one works on a Stage at a time.
        lease = f"stages/{key.namespace}/{key.name}"
        if not await self.store.try_acquire_lease(
            lease, self.holder, self.lease_ttl.total_seconds()
        ):
            return runtime.Result(requeue_after=LEASE_BUSY_RETRY)
        try:
            result, stage = await self.reconcile_stage(copy.deepcopy(cached))
        finally:
            with contextlib.suppress(Exception):
                await self.store.release_lease(lease, self.holder)
        if result.requeue_after is None and not ps.verification_running(stage):
            self.idle[key] = mark
        return result

    async def reconcile_stage(self, stage: Obj) -> tuple[runtime.Result, Obj]:
        """The phases of one reconcile (see the module docstring); the result and the Stage
        as last written."""
        namespace, name = str(stage["metadata"]["namespace"]), str(stage["metadata"]["name"])
        # Promotions: record the finished one, pick the next.
        await self.sync.select_current(stage)
        stage = await self.store.get("Stage", namespace, name)
        # Verification.
        stage, verify_delay = await self.verifier.sync(stage)
        # What the Stage can see (our own writes included).
        await self.informer.sync()
        config = self.informer.get("ProjectConfig", namespace, namespace)
        policy = auto_promotion.find_policy(config, stage)
        needs_freight = (
            ps.is_control_flow(stage)
            or bool((policy or {}).get("autoPromotionEnabled"))
            or any(soak_request(r) for r in stage_requests(stage))
        )
        freights = relevant_freight(self.informer, stage) if needs_freight else []
        upstream = {
            n: s
            for n in informer_mod.upstream_stages(stage)
            if (s := self.informer.get("Stage", namespace, n)) is not None
        }
        now = self.clock.now()
        # Control-flow Stages forward availability.
        if ps.is_control_flow(stage):
            await self.forward(stage, freights, now)
        # Auto-promotion.
        promos = self.informer.by_index("Promotion", "stage", namespace, name)
        created, note = await auto_promotion.auto_promote(
            self.store,
            self.clock,
            stage,
            policy=policy,
            freights=freights,
            stages=upstream,
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
        stage = await self.write_status(stage, policy, note)
        # Requeue (only for timed work: a change to an input wakes the Stage).
        delays = [d for d in (verify_delay, soak_wake(stage, freights, now)) if d is not None]
        if not delays:
            return runtime.Result(), stage
        return runtime.Result(requeue_after=max(min(delays), timedelta(0))), stage

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

    async def write_status(self, stage: Obj, policy: Obj | None, note: str) -> Obj:
        """Derived status fields, written only when they changed; the Stage as stored."""
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
            return await self.store.update_status(stage)  # ConflictError -> retried w/ backoff
        return stage


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


def stage_requests(stage: Obj) -> list[Obj]:
    """The Stage's FreightRequests."""
    return list((stage.get("spec") or {}).get("requestedFreight") or [])


def soak_request(request: Obj) -> bool:
    """The request takes Freight from upstream Stages after a `requiredSoakTime`."""
    sources = request.get("sources") or {}
    return bool(sources.get("requiredSoakTime") and sources.get("stages"))


def relevant_freight(cache: informer_mod.Informer, stage: Obj) -> list[Obj]:
    """Every Freight that may be available to the Stage, by name: approved for it, of an origin
    it takes `direct`ly, or verified in one of its upstream Stages. A superset of the available
    Freight (`availability.is_available` still decides), read from the informer's indexes."""
    namespace, name = str(stage["metadata"]["namespace"]), str(stage["metadata"]["name"])
    found = {
        f["metadata"]["name"]: f for f in cache.by_index("Freight", "approvedFor", namespace, name)
    }
    for request in stage_requests(stage):
        origin = availability.origin_key(request.get("origin") or {})
        sources = request.get("sources") or {}
        if sources.get("direct"):
            for freight in cache.by_index("Freight", "origin", namespace, origin):
                found[freight["metadata"]["name"]] = freight
        for upstream in sources.get("stages") or []:
            for freight in cache.by_index("Freight", "verifiedIn", namespace, str(upstream)):
                if availability.origin_key(freight.get("origin") or {}) == origin:
                    found[freight["metadata"]["name"]] = freight
    return [found[n] for n in sorted(found)]


def input_fingerprint(cache: informer_mod.Informer, stage: Obj) -> tuple[Any, ...]:
    """The resourceVersions of everything a reconcile of the Stage reads from the informer:
    the Stage, its upstream Stages, the ProjectConfig, its Promotions and the index buckets
    `relevant_freight` reads. Equal fingerprints: nothing the reconcile reads has changed."""
    namespace, name = str(stage["metadata"]["namespace"]), str(stage["metadata"]["name"])
    parts: list[Any] = [
        cache.version("Stage", namespace, name),
        cache.version("ProjectConfig", namespace, namespace),
        cache.bucket_version("Promotion", "stage", namespace, name),
        cache.bucket_version("Freight", "approvedFor", namespace, name),
    ]
    for request in stage_requests(stage):
        sources = request.get("sources") or {}
        if sources.get("direct"):
            origin = availability.origin_key(request.get("origin") or {})
            parts.append(("direct", cache.bucket_version("Freight", "origin", namespace, origin)))
        for upstream in sources.get("stages") or []:
            parts.append(
                (
                    str(upstream),
                    cache.version("Stage", namespace, str(upstream)),
                    cache.bucket_version("Freight", "verifiedIn", namespace, str(upstream)),
                )
            )
    return tuple(parts)


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


def stage_key(namespace: str, name: str) -> interface.ObjectKey:
    """The work-queue key of a Stage."""
    return interface.ObjectKey("Stage", namespace, name)


class FreightToStages:
    """A Freight change wakes every Stage requesting its origin (its direct and downstream
    consumers: verification upstream makes it available downstream)."""

    def __init__(self, cache: informer_mod.Informer) -> None:
        self.cache = cache

    async def __call__(self, freight: Obj) -> list[interface.ObjectKey]:
        """The Stage keys to enqueue."""
        await self.cache.sync()
        namespace = str(freight["metadata"].get("namespace", ""))
        origin = availability.origin_key(freight.get("origin") or {})
        return [
            stage_key(namespace, s["metadata"]["name"])
            for s in self.cache.by_index("Stage", "origin", namespace, origin)
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

    def __init__(self, cache: informer_mod.Informer) -> None:
        self.cache = cache

    async def __call__(self, stage: Obj) -> list[interface.ObjectKey]:
        """The downstream Stage keys to enqueue."""
        await self.cache.sync()
        namespace = str(stage["metadata"].get("namespace", ""))
        name = str(stage["metadata"]["name"])
        return [
            stage_key(namespace, s["metadata"]["name"])
            for s in self.cache.by_index("Stage", "upstream", namespace, name)
        ]


class ProjectConfigToStages:
    """A ProjectConfig change (promotion policies) wakes every Stage of its project."""

    def __init__(self, cache: informer_mod.Informer) -> None:
        self.cache = cache

    async def __call__(self, config: Obj) -> list[interface.ObjectKey]:
        """Every Stage key of the project."""
        await self.cache.sync()
        namespace = str(config["metadata"].get("namespace", ""))
        return [
            stage_key(namespace, s["metadata"]["name"])
            for s in self.cache.in_namespace("Stage", namespace)
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
    cache = informer_mod.Informer(store)
    sync = stage_promotions.StageSync(store, clock, recorder, informer=cache)
    verifier = verification_runs.Verifier(
        store,
        clock,
        runner or analysis.AnalysisRunner(verification_runs.default_providers(), clock),
        recorder,
    )
    reconciler = StageReconciler(
        store, clock, sync=sync, verifier=verifier, events=recorder, informer=cache
    )
    return reconciler, sync


def register(manager: runtime.Manager, reconciler: StageReconciler) -> None:
    """Register the StageReconciler and the mappings that wake it."""
    # Its own status writes wake it too: another controller (the PromotionReconciler recording
    # an outcome) may have written the Stage's status; a reconcile with nothing to do writes
    # nothing, so this converges.
    manager.register(
        "Stage", reconciler, concurrency=stage_concurrency(), ignore_status_changes=False
    )
    cache = reconciler.informer
    manager.watch_related("Freight", FreightToStages(cache))
    manager.watch_related("Promotion", PromotionToStage())
    manager.watch_related("Stage", StageToDownstream(cache))
    manager.watch_related("ProjectConfig", ProjectConfigToStages(cache))
