"""PromotionReconciler: runs Pending and Running Promotions with the promotion engine.

One Promotion runs per Stage at a time. The Stage's `status.currentPromotion` names it; until the
Stage controller exists, this reconciler picks it (Running first, then Pending by name, which is
FIFO because names carry a ULID) and records it on the Stage. The engine
(`kargo.promotion.engine`) does the steps; this module loads the Freight, writes status with
optimistic concurrency after every step (the engine's `persist` callback), and on the end
records the outcome on the Stage (`lastPromotion`, `freightHistory`) and the Freight
(`currentlyIn`). Neighbours: `runtime.py` (queue, manager), `manager.py` (wiring).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import socket
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

from kargo import clock as clock_mod, errors
from kargo.api import availability
from kargo.controller import runtime
from kargo.promotion import engine as engine_mod
from kargo.store import interface, lookup as store_lookup

log = logging.getLogger(__name__)

STAGE_LABEL = "kargo.akuity.io/stage"
LEASE_TTL = timedelta(seconds=60)
REFRESH_ANNOTATION = "kargo.akuity.io/refresh"
FREIGHT_HISTORY_MAX = 10
TERMINAL = engine_mod.TERMINAL_PHASES


class EventRecorder(Protocol):
    """Where transition events go (a log, the store, a test's list)."""

    async def record(
        self, obj: interface.Object, event_type: str, reason: str, message: str
    ) -> None:
        """Record one event about `obj` (`event_type` is Normal or Warning)."""
        ...


class LogEvents:
    """Events as log lines; the default recorder."""

    async def record(
        self, obj: interface.Object, event_type: str, reason: str, message: str
    ) -> None:
        """Log the event at INFO (Normal) or WARNING."""
        level = logging.INFO if event_type == "Normal" else logging.WARNING
        log.log(level, "%s %s: %s: %s", obj.get("kind"), _name(obj), reason, message)


@dataclass
class MemoryEvents:
    """Events kept in a list, for tests and the in-process server."""

    events: list[tuple[str, str, str, str]] = field(default_factory=list)

    async def record(
        self, obj: interface.Object, event_type: str, reason: str, message: str
    ) -> None:
        """Append (object name, type, reason, message)."""
        self.events.append((_name(obj), event_type, reason, message))


def _name(obj: interface.Object) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


def _phase(promo: interface.Object) -> str:
    return str((promo.get("status") or {}).get("phase") or "Pending")


def promotion_order(promo: interface.Object) -> tuple[int, str]:
    """Sort key for picking the next Promotion: Running first, then by name (ULID = FIFO)."""
    return (0 if _phase(promo) == "Running" else 1, str(promo["metadata"]["name"]))


# A FreightCollection's id (sha1 of the sorted Freight names joined with ","), as the API defines it.
collection_id = availability.freight_collection_id


def current_promotion_ref(promo: interface.Object | None) -> dict[str, Any] | None:
    """A Stage's `status.currentPromotion` for a Promotion (its name and Freight), None for none."""
    if not promo:
        return None
    return {
        "name": promo["metadata"]["name"],
        "freight": {"name": (promo.get("spec") or {}).get("freight", "")},
    }


def freight_reference(freight: interface.Object) -> dict[str, Any]:
    """The FreightReference recorded in statuses for a Freight object."""
    ref: dict[str, Any] = {"name": freight["metadata"]["name"]}
    for key in ("origin", "commits", "images", "charts", "artifacts", "alias"):
        if freight.get(key):
            ref[key] = copy.deepcopy(freight[key])
    return ref


def origin_key(ref: dict[str, Any]) -> str:
    """The key of a Freight in a collection: `Warehouse/<name>`."""
    origin = ref.get("origin") or {}
    return f"{origin.get('kind') or 'Warehouse'}/{origin.get('name', '')}"


class PromotionReconciler:
    """Reconciles Promotions: schedules one per Stage and runs it step by step."""

    def __init__(
        self,
        store: interface.Store,
        engine: engine_mod.Engine,
        clock: clock_mod.Clock,
        *,
        events: EventRecorder | None = None,
        holder: str | None = None,
        lease_ttl: timedelta = LEASE_TTL,
    ) -> None:
        self.store = store
        self.engine = engine
        self.clock = clock
        self.events: EventRecorder = events or LogEvents()
        # A restarted controller on the same host and work root takes its own lease back at once.
        self.holder = holder or f"{socket.gethostname()}:{engine.work_root}"
        self.lease_ttl = lease_ttl

    # 1. fetch; 2. prepare; 3. deletion / terminal; 4. run; 5. classify; 7. events on transitions
    async def reconcile(self, key: interface.ObjectKey) -> runtime.Result:
        """Bring one Promotion forward as far as it can go now."""
        # Fetch: a Promotion that is gone leaves its work dir and perhaps its Stage's turn.
        try:
            promo = await self.store.get("Promotion", key.namespace, key.name)
        except errors.NotFoundError:
            await self.forget(key)
            return runtime.Result()
        # Deletion: free the work dir and let the Stage move on.
        if (promo.get("metadata") or {}).get("deletionTimestamp"):
            self.engine.remove_work_dir(promo)
            return runtime.Result()
        stage_name = str((promo.get("spec") or {}).get("stage", ""))
        # Terminal: nothing to run; make sure the Stage no longer waits on it.
        if _phase(promo) in TERMINAL:
            self.engine.remove_work_dir(promo)
            await self.record_outcome(promo)
            return runtime.Result()
        # Abort of a Promotion that never started: it ends at once, no step is touched.
        if _phase(promo) == "Pending" and engine_mod.abort_requested(promo):
            return await self.abort_pending(promo)
        # Scheduling: only the Stage's current Promotion runs.
        try:
            stage = await self.store.get("Stage", key.namespace, stage_name)
        except errors.NotFoundError:
            return await self.stalled(promo, f"stage {stage_name!r} not found; create it first")
        current = await self.select_current(stage)
        if current != key.name:
            return runtime.Result()
        # Replicas: one runs a Stage's Promotion at a time (a lease), the others come back later.
        lease = f"promotions/{key.namespace}/{stage_name}"
        if not await self.store.try_acquire_lease(
            lease, self.holder, self.lease_ttl.total_seconds()
        ):
            return runtime.Result(requeue_after=self.lease_ttl)
        renewing = asyncio.create_task(self._renew(lease))
        try:
            # Re-read under the lease: another replica may have moved it on meanwhile.
            try:
                promo = await self.store.get("Promotion", key.namespace, key.name)
            except errors.NotFoundError:
                return runtime.Result()
            if _phase(promo) in TERMINAL:
                return runtime.Result(requeue_after=timedelta(0))
            return await self.run(promo, stage)
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing
            with contextlib.suppress(Exception):
                await self.store.release_lease(lease, self.holder)

    async def _renew(self, lease: str) -> None:
        """Keep the lease while a long step runs."""
        while True:
            await asyncio.sleep(self.lease_ttl.total_seconds() / 3)
            try:
                held = await self.store.try_acquire_lease(
                    lease, self.holder, self.lease_ttl.total_seconds()
                )
            except Exception:
                log.exception("renewing lease %s failed", lease)
                continue
            if not held:
                log.warning("lost lease %s; status writes will detect any conflict", lease)

    async def run(self, promo: interface.Object, stage: interface.Object) -> runtime.Result:
        """Start (if Pending) and run the Stage's current Promotion as far as it goes now."""
        stage_name = str(stage["metadata"]["name"])
        # Start: phase Running, Freight loaded.
        before = _phase(promo)
        if before == "Pending":
            try:
                promo = await self.start(promo, stage)
            except errors.NotFoundError as err:
                return await self.stalled(promo, err.message, phase="Errored")
            await self.events.record(
                promo, "Normal", "PromotionStarted", f"promoting freight to stage {stage_name!r}"
            )
        # Refresh: a new `kargo.akuity.io/refresh` token is acknowledged (it woke us up).
        token = ((promo.get("metadata") or {}).get("annotations") or {}).get(REFRESH_ANNOTATION)
        if token and (promo.get("status") or {}).get("lastHandledRefresh") != token:
            promo.setdefault("status", {})["lastHandledRefresh"] = token
        # Run: the engine persists after every step.
        outcome = await self.engine.execute(promo, self.persister(promo))
        promo = outcome.promotion
        if outcome.phase in TERMINAL:
            await self.finished(promo)
            return runtime.Result()
        return runtime.Result(requeue_after=outcome.requeue_after)

    async def forget(self, key: interface.ObjectKey) -> None:
        """A deleted Promotion: remove its work dir; a Stage it was running on moves on."""
        self.engine.remove_work_dir({"metadata": {"namespace": key.namespace, "name": key.name}})
        page = await self.store.list("Stage", interface.ListOptions(namespace=key.namespace))
        for stage in page.items:
            current = ((stage.get("status") or {}).get("currentPromotion") or {}).get("name")
            if current == key.name:
                await self.select_current(stage)

    async def abort_pending(self, promo: interface.Object) -> runtime.Result:
        """End a Promotion that never started as Aborted, and let its Stage move on."""
        request = engine_mod.abort_requested(promo) or {}
        actor = request.get("actor")
        message = "promotion aborted" + (f" by {actor}" if actor else "")
        status = promo.setdefault("status", {})
        status["phase"] = "Aborted"
        status["message"] = message
        status["finishedAt"] = clock_mod.format_time(self.clock.now())
        promo = await self.store.update_status(promo)
        await self.finished(promo)
        return runtime.Result()

    def persister(self, promo: interface.Object) -> engine_mod.Persist:
        """The engine's persist callback: write status with optimistic concurrency.

        A conflict caused by a metadata change (an abort or refresh annotation) is resolved by
        re-reading: if nobody else changed the status since our last write, ours is applied on
        top of the fresh object; otherwise the conflict is raised and the run stops.
        """
        base = {"status": copy.deepcopy(promo.get("status") or {})}

        async def persist(obj: dict[str, Any]) -> dict[str, Any]:
            try:
                stored = await self.store.update_status(obj)
            except errors.ConflictError:
                meta = obj["metadata"]
                fresh = await self.store.get("Promotion", meta["namespace"], meta["name"])
                if (fresh.get("status") or {}) != base["status"]:
                    raise
                fresh["status"] = obj.get("status") or {}
                stored = await self.store.update_status(fresh)
            base["status"] = copy.deepcopy(stored.get("status") or {})
            return stored

        return persist

    async def stalled(
        self, promo: interface.Object, message: str, *, phase: str | None = None
    ) -> runtime.Result:
        """Record a user-fixable problem on the Promotion; no requeue (a change wakes it)."""
        status = promo.setdefault("status", {})
        changed = status.get("message") != message or (phase and status.get("phase") != phase)
        if changed:
            status["message"] = message
            if phase:
                status["phase"] = phase
                status["finishedAt"] = clock_mod.format_time(self.clock.now())
            await self.store.update_status(promo)
            await self.events.record(promo, "Warning", "PromotionStalled", message)
        if phase in TERMINAL:
            promo = await self.store.get(
                "Promotion", promo["metadata"]["namespace"], promo["metadata"]["name"]
            )
            await self.record_outcome(promo)
        return runtime.Result()

    # --- scheduling -------------------------------------------------------------------------

    async def stage_promotions(self, namespace: str, stage: str) -> list[interface.Object]:
        """Every Promotion of a Stage."""
        promos = await store_lookup.list_all(self.store, "Promotion", namespace)
        return [p for p in promos if (p.get("spec") or {}).get("stage") == stage]

    async def select_current(self, stage: interface.Object) -> str | None:
        """The Promotion that may run on `stage` now, recording it as `currentPromotion`."""
        namespace = stage["metadata"]["namespace"]
        status = stage.get("status") or {}
        current = (status.get("currentPromotion") or {}).get("name")
        promos = {
            p["metadata"]["name"]: p
            for p in await self.stage_promotions(namespace, stage["metadata"]["name"])
        }
        if current and current in promos:
            if _phase(promos[current]) not in TERMINAL:
                return str(current)
            # finished but not yet recorded (its runner died, or is about to record it):
            # record it first, never skip its outcome; that also picks the next one
            return await self.record_outcome(promos[current], stage)
        waiting = sorted(
            (p for p in promos.values() if _phase(p) not in TERMINAL), key=promotion_order
        )
        chosen = waiting[0] if waiting else None
        new_current = current_promotion_ref(chosen)
        if new_current != (status.get("currentPromotion") or None):
            log.debug(
                "stage %s/%s: current promotion %s -> %s",
                namespace,
                stage["metadata"]["name"],
                current,
                chosen["metadata"]["name"] if chosen else None,
            )
            stage = copy.deepcopy(stage)
            stage_status = stage.setdefault("status", {})
            if new_current is None:
                stage_status.pop("currentPromotion", None)
            else:
                stage_status["currentPromotion"] = new_current
            await self.store.update_status(stage)  # ConflictError -> retried with backoff
        return str(chosen["metadata"]["name"]) if chosen else None

    # --- start and finish -------------------------------------------------------------------

    async def start(self, promo: interface.Object, stage: interface.Object) -> interface.Object:
        """Mark the Promotion Running and load its FreightCollection."""
        namespace = promo["metadata"]["namespace"]
        freight_name = str((promo.get("spec") or {}).get("freight") or "")
        try:
            freight = await self.store.get("Freight", namespace, freight_name)
        except errors.NotFoundError as err:
            raise errors.NotFoundError(
                f"freight {freight_name!r} not found in project {namespace!r}"
            ) from err
        ref = freight_reference(freight)
        items: dict[str, Any] = {}
        history = (stage.get("status") or {}).get("freightHistory") or []
        if history:
            for k, v in ((history[0] or {}).get("items") or {}).items():
                items[k] = copy.deepcopy(v)
        items[origin_key(ref)] = ref
        status = promo.setdefault("status", {})
        status["phase"] = "Running"
        status["startedAt"] = clock_mod.format_time(self.clock.now())
        status["freight"] = ref
        status["freightCollection"] = {
            "id": collection_id(str(v.get("name", "")) for v in items.values()),
            "items": items,
        }
        status.setdefault("currentStep", 0)
        return await self.store.update_status(promo)

    async def finished(self, promo: interface.Object) -> None:
        """Emit the outcome's event (once, on the transition), then record the outcome."""
        status = promo.get("status") or {}
        phase = str(status.get("phase"))
        message = str(status.get("message") or "")
        event_type = "Normal" if phase == "Succeeded" else "Warning"
        await self.events.record(
            promo, event_type, f"Promotion{phase}", message or f"promotion {phase.lower()}"
        )
        await self.record_outcome(promo)

    async def record_outcome(
        self, promo: interface.Object, stage: interface.Object | None = None
    ) -> str | None:
        """Record a finished Promotion on its Stage and Freight, then pick the next one.

        Idempotent, keyed on the Stage still naming this Promotion as current: the Freight
        updates come first (each is idempotent), and one Stage write then sets `lastPromotion`
        and `freightHistory` and clears `currentPromotion`. A conflict anywhere raises, and the
        retry (the terminal branch of `reconcile`) does the remaining part. Returns the
        Promotion now current on the Stage.
        """
        namespace = promo["metadata"]["namespace"]
        name = promo["metadata"]["name"]
        stage_name = str((promo.get("spec") or {}).get("stage", ""))
        if stage is None:
            try:
                stage = await self.store.get("Stage", namespace, stage_name)
            except errors.NotFoundError:
                return None
        stage = copy.deepcopy(stage)
        stage_status = stage.setdefault("status", {})
        current = (stage_status.get("currentPromotion") or {}).get("name")
        if current != name:
            if not current:
                return await self.select_current(stage)
            return str(current)
        status = promo.get("status") or {}
        phase = str(status.get("phase"))
        collection = status.get("freightCollection") or {}
        previous = copy.deepcopy((stage_status.get("freightHistory") or [None])[0] or {})
        if phase == "Succeeded" and collection:
            await self.update_currently_in(namespace, stage_name, previous, collection)
            history = [
                h
                for h in stage_status.get("freightHistory") or []
                if h.get("id") != collection.get("id")
            ]
            stage_status["freightHistory"] = [copy.deepcopy(collection), *history][
                :FREIGHT_HISTORY_MAX
            ]
        stage_status["lastPromotion"] = {
            "name": name,
            "freight": status.get("freight"),
            "status": {"phase": phase, "message": str(status.get("message") or "")},
            "finishedAt": status.get("finishedAt"),
        }
        stage_status.pop("currentPromotion", None)
        stage = await self.store.update_status(stage)
        return await self.select_current(stage)

    async def update_currently_in(
        self,
        namespace: str,
        stage_name: str,
        previous: dict[str, Any],
        current: dict[str, Any],
    ) -> None:
        """Freight now in the Stage gets `currentlyIn[stage]`; Freight that left loses it."""
        now = clock_mod.format_time(self.clock.now())
        new_names = {str(v.get("name")) for v in (current.get("items") or {}).values()}
        old_names = {str(v.get("name")) for v in (previous.get("items") or {}).values()}
        for name in sorted(new_names | old_names):
            for _ in range(5):
                try:
                    freight = await self.store.get("Freight", namespace, name)
                except errors.NotFoundError:
                    break
                fstatus = freight.setdefault("status", {})
                currently = dict(fstatus.get("currentlyIn") or {})
                if name in new_names:
                    if stage_name in currently:
                        break
                    currently[stage_name] = {"since": now}
                else:
                    if stage_name not in currently:
                        break
                    del currently[stage_name]
                fstatus["currentlyIn"] = currently
                try:
                    await self.store.update_status(freight)
                    break
                except errors.ConflictError:
                    continue


class StageToPromotion:
    """Mapping hook: a Stage whose `currentPromotion` changed wakes that Promotion, or, with
    none, the Stage's waiting Promotions (so one can be picked).

    Other Stage changes (a `set-metadata` step, health) do not, so a polling step is not
    polled early."""

    def __init__(self, store: interface.Store) -> None:
        self.store = store
        self._last: dict[tuple[str, str], str | None] = {}

    async def __call__(self, stage: interface.Object) -> list[interface.ObjectKey]:
        """The Promotion keys to enqueue for this Stage change."""
        meta = stage.get("metadata") or {}
        ident = (str(meta.get("namespace", "")), str(meta.get("name", "")))
        current = ((stage.get("status") or {}).get("currentPromotion") or {}).get("name")
        if ident in self._last and self._last[ident] == current:
            return []
        self._last[ident] = current
        if current:
            return [interface.ObjectKey("Promotion", ident[0], str(current))]
        page = await self.store.list("Promotion", interface.ListOptions(namespace=ident[0]))
        return [
            interface.ObjectKey("Promotion", ident[0], str(p["metadata"]["name"]))
            for p in page.items
            if (p.get("spec") or {}).get("stage") == ident[1] and _phase(p) not in TERMINAL
        ]


def work_root_default() -> Path:
    """Where promotion work directories go unless configured."""
    import tempfile

    return Path(tempfile.gettempdir()) / "kargo-promotions"
