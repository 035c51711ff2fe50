"""PromotionReconciler against a real SQLite store: scheduling, status, Stage and Freight."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from kargo.clock import ManualClock
from kargo.controller import promotions
from kargo.controller.runtime import Result
from kargo.promotion import engine as engine_mod
from kargo.store.interface import ObjectKey
from tests.controller import objects
from tests.controller.teststeps import make_registry


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture
def events():
    return promotions.MemoryEvents()


@pytest.fixture
def reconciler(store, clock, events, tmp_path):
    services = engine_mod.EngineServices(control_plane=store, extra={"calls": []})
    engine = engine_mod.Engine(make_registry(), clock, services, work_root=tmp_path / "work")
    return promotions.PromotionReconciler(store, engine, clock, events=events)


def key(name):
    return ObjectKey("Promotion", "demo", name)


def calls(reconciler):
    return [a for a, _ in reconciler.engine.services.extra["calls"]]


async def status_of(store, name):
    return (await store.get("Promotion", "demo", name)).get("status") or {}


async def test_a_pending_promotion_runs_to_success_and_is_recorded_everywhere(
    store, reconciler, events
):
    await store.create(objects.stage())
    await store.create(objects.freight("f1"))
    await store.create(objects.promotion("test.01a.f1", [{"uses": "record", "as": "a"}]))
    assert await reconciler.reconcile(key("test.01a.f1")) == Result()
    status = await status_of(store, "test.01a.f1")
    assert status["phase"] == "Succeeded"
    assert status["freight"]["name"] == "f1"
    assert status["freightCollection"]["items"]["Warehouse/w"]["name"] == "f1"
    assert status["startedAt"]
    assert status["finishedAt"]
    stage = (await store.get("Stage", "demo", "test"))["status"]
    assert "currentPromotion" not in stage
    assert stage["lastPromotion"]["name"] == "test.01a.f1"
    assert stage["lastPromotion"]["status"]["phase"] == "Succeeded"
    assert stage["freightHistory"][0]["items"]["Warehouse/w"]["name"] == "f1"
    freight = await store.get("Freight", "demo", "f1")
    assert freight["status"]["currentlyIn"] == {"test": {"since": "2026-01-01T00:00:00Z"}}
    assert [e[2] for e in events.events] == ["PromotionStarted", "PromotionSucceeded"]


async def test_events_are_emitted_on_transitions_only(store, reconciler, events):
    await store.create(objects.stage())
    await store.create(objects.freight("f1"))
    await store.create(objects.promotion("test.01a.f1", [{"uses": "poll", "config": {"polls": 3}}]))
    for _ in range(4):
        await reconciler.reconcile(key("test.01a.f1"))
    assert [e[2] for e in events.events] == ["PromotionStarted", "PromotionSucceeded"]


async def test_a_running_step_asks_for_a_requeue(store, reconciler):
    await store.create(objects.stage())
    await store.create(objects.freight("f1"))
    await store.create(
        objects.promotion(
            "test.01a.f1", [{"uses": "poll", "config": {"polls": 2, "retryAfter": 30}}]
        )
    )
    result = await reconciler.reconcile(key("test.01a.f1"))
    assert result == Result(requeue_after=timedelta(seconds=30))
    stage = await store.get("Stage", "demo", "test")
    assert stage["status"]["currentPromotion"] == {"name": "test.01a.f1", "freight": {"name": "f1"}}
    assert (await status_of(store, "test.01a.f1"))["phase"] == "Running"


async def test_one_promotion_runs_per_stage_in_name_order(store, reconciler):
    await store.create(objects.stage())
    await store.create(objects.freight("f1"))
    await store.create(objects.freight("f2"))
    await store.create(
        objects.promotion("test.01b.f2", [{"uses": "record", "as": "second"}], freight="f2")
    )
    await store.create(
        objects.promotion("test.01a.f1", [{"uses": "poll", "as": "first", "config": {"polls": 2}}])
    )
    # the later one is reconciled first, but the earlier name is picked
    assert await reconciler.reconcile(key("test.01b.f2")) == Result()
    assert (await status_of(store, "test.01b.f2")).get("phase") is None
    await reconciler.reconcile(key("test.01a.f1"))
    assert (await status_of(store, "test.01a.f1"))["phase"] == "Running"
    await reconciler.reconcile(key("test.01b.f2"))
    assert (await status_of(store, "test.01b.f2")).get("phase") is None
    await reconciler.reconcile(key("test.01a.f1"))
    assert (await status_of(store, "test.01a.f1"))["phase"] == "Succeeded"
    stage = await store.get("Stage", "demo", "test")
    assert stage["status"]["currentPromotion"]["name"] == "test.01b.f2"
    await reconciler.reconcile(key("test.01b.f2"))
    assert (await status_of(store, "test.01b.f2"))["phase"] == "Succeeded"
    assert calls(reconciler) == ["first", "first", "second"]
    f1 = await store.get("Freight", "demo", "f1")
    f2 = await store.get("Freight", "demo", "f2")
    assert "test" not in f1["status"]["currentlyIn"]
    assert "test" in f2["status"]["currentlyIn"]


async def test_a_running_promotion_is_picked_before_an_earlier_pending_one(store, reconciler):
    await store.create(objects.stage())
    await store.create(objects.freight("f1"))
    await store.create(objects.promotion("test.01a.f1", [{"uses": "record"}]))
    running = await store.create(objects.promotion("test.01b.f1", [{"uses": "record"}]))
    running["status"] = {"phase": "Running", "currentStep": 0}
    await store.update_status(running)
    stage = await store.get("Stage", "demo", "test")
    assert await reconciler.select_current(stage) == "test.01b.f1"
    assert promotions.promotion_order(running) < promotions.promotion_order(
        await store.get("Promotion", "demo", "test.01a.f1")
    )


async def test_freight_collection_carries_the_stage_s_other_origins(store, reconciler):
    other = {"name": "g1", "origin": {"kind": "Warehouse", "name": "other"}}
    await store.create(objects.stage())
    stage = await store.get("Stage", "demo", "test")
    stage["status"] = {
        "freightHistory": [
            {"id": "x", "items": {"Warehouse/other": other, "Warehouse/w": {"name": "f0"}}}
        ]
    }
    await store.update_status(stage)
    await store.create(objects.freight("f1"))
    await store.create(objects.promotion("test.01a.f1", [{"uses": "record"}]))
    await reconciler.reconcile(key("test.01a.f1"))
    items = (await status_of(store, "test.01a.f1"))["freightCollection"]["items"]
    assert items["Warehouse/other"] == other
    assert items["Warehouse/w"]["name"] == "f1"
    history = (await store.get("Stage", "demo", "test"))["status"]["freightHistory"]
    assert len(history) == 2
    assert history[0]["id"] == promotions.collection_id(["f1", "g1"])


async def test_a_promotion_of_a_missing_stage_says_so_and_waits(store, reconciler, events):
    await store.create(objects.promotion("nope.01a.f1", [{"uses": "record"}], stage="nope"))
    assert await reconciler.reconcile(key("nope.01a.f1")) == Result()
    status = await status_of(store, "nope.01a.f1")
    assert status["message"] == "stage 'nope' not found; create it first"
    assert "phase" not in status
    await reconciler.reconcile(key("nope.01a.f1"))
    assert len(events.events) == 1  # no second event for the same problem


async def test_a_promotion_of_missing_freight_errors(store, reconciler):
    await store.create(objects.stage())
    await store.create(objects.promotion("test.01a.f9", [{"uses": "record"}], freight="f9"))
    await reconciler.reconcile(key("test.01a.f9"))
    status = await status_of(store, "test.01a.f9")
    assert status["phase"] == "Errored"
    assert status["message"] == "freight 'f9' not found in project 'demo'"
    stage = await store.get("Stage", "demo", "test")
    assert "currentPromotion" not in (stage.get("status") or {})


async def test_a_deleted_promotion_needs_nothing(reconciler):
    assert await reconciler.reconcile(key("gone")) == Result()


async def test_an_abort_written_while_a_step_runs_is_honoured_despite_the_conflict(
    store, reconciler
):
    """The user's annotation bumps resourceVersion; the next status write re-reads and applies."""
    await store.create(objects.stage())
    await store.create(objects.freight("f1"))
    await store.create(
        objects.promotion(
            "test.01a.f1",
            [{"uses": "abort-self", "as": "a"}, {"uses": "record", "as": "b"}],
        )
    )
    from kargo.promotion import context, registry as registry_mod
    from tests.controller.teststeps import PathConfig

    async def abort_self(ctx: context.StepContext, cfg) -> context.StepResult:
        promo = await ctx.control_plane.get("Promotion", ctx.project, ctx.promotion)
        promo["metadata"].setdefault("annotations", {})[engine_mod.ABORT_ANNOTATION] = json.dumps(
            {"action": "terminate"}
        )
        await ctx.control_plane.update(promo)
        return context.StepResult()

    class Optional(PathConfig):
        path: str = "."

    reconciler.engine.registry.step(
        "abort-self", Optional, capabilities={registry_mod.Capability.ACCESS_CONTROL_PLANE}
    )(abort_self)
    await reconciler.reconcile(key("test.01a.f1"))
    status = await status_of(store, "test.01a.f1")
    assert status["phase"] == "Aborted"
    assert [m["status"] for m in status["stepExecutionMetadata"]] == ["Succeeded", "Aborted"]
    assert calls(reconciler) == []


async def test_a_status_changed_by_someone_else_stops_the_run(store, reconciler):
    await store.create(objects.stage())
    await store.create(objects.freight("f1"))
    promo = await store.create(objects.promotion("test.01a.f1", [{"uses": "record"}]))
    persist = reconciler.persister(promo)
    other = await store.get("Promotion", "demo", "test.01a.f1")
    other["status"] = {"phase": "Running", "currentStep": 3}
    await store.update_status(other)
    promo["status"] = {"phase": "Running", "currentStep": 1}
    from kargo.errors import ConflictError

    with pytest.raises(ConflictError):
        await persist(promo)


async def test_a_waiting_promotion_can_be_aborted_before_it_starts(store, reconciler, events):
    await store.create(objects.stage())
    await store.create(objects.freight("f1"))
    await store.create(objects.promotion("test.01a.f1", [{"uses": "poll", "config": {"polls": 5}}]))
    waiting = objects.promotion("test.01b.f1", [{"uses": "record", "as": "never"}])
    waiting["metadata"]["annotations"] = {
        engine_mod.ABORT_ANNOTATION: json.dumps({"action": "terminate", "actor": "bob"})
    }
    await store.create(waiting)
    await reconciler.reconcile(key("test.01a.f1"))
    await reconciler.reconcile(key("test.01b.f1"))
    status = await status_of(store, "test.01b.f1")
    assert status["phase"] == "Aborted"
    assert status["message"] == "promotion aborted by bob"
    assert "stepExecutionMetadata" not in status
    assert calls(reconciler) == ["step-1"]
    stage = await store.get("Stage", "demo", "test")
    assert stage["status"]["currentPromotion"]["name"] == "test.01a.f1"
    assert ("demo/test.01b.f1", "Warning", "PromotionAborted", "promotion aborted by bob") in (
        events.events
    )


async def test_a_refresh_token_is_acknowledged(store, reconciler):
    await store.create(objects.stage())
    await store.create(objects.freight("f1"))
    promo = objects.promotion("test.01a.f1", [{"uses": "poll", "config": {"polls": 5}}])
    promo["metadata"]["annotations"] = {promotions.REFRESH_ANNOTATION: "t1"}
    await store.create(promo)
    await reconciler.reconcile(key("test.01a.f1"))
    assert (await status_of(store, "test.01a.f1"))["lastHandledRefresh"] == "t1"


async def test_a_stage_leased_by_another_replica_is_left_to_it(store, reconciler):
    await store.create(objects.stage())
    await store.create(objects.freight("f1"))
    await store.create(objects.promotion("test.01a.f1", [{"uses": "record"}]))
    assert await store.try_acquire_lease("promotions/demo/test", "replica-2", 60)
    result = await reconciler.reconcile(key("test.01a.f1"))
    assert result == Result(requeue_after=promotions.LEASE_TTL)
    assert (await status_of(store, "test.01a.f1")).get("phase") is None
    await store.release_lease("promotions/demo/test", "replica-2")
    await reconciler.reconcile(key("test.01a.f1"))
    assert (await status_of(store, "test.01a.f1"))["phase"] == "Succeeded"
    # the lease is released after the run, so any replica can take the next one
    assert await store.try_acquire_lease("promotions/demo/test", "replica-2", 60)


async def test_a_finished_current_promotion_is_recorded_before_the_next_is_picked(
    store, reconciler
):
    """The replica that ran it died between the last status write and the Stage write."""
    await store.create(objects.stage())
    await store.create(objects.freight("f1"))
    done = await store.create(objects.promotion("test.01a.f1", [{"uses": "record"}]))
    done["status"] = {
        "phase": "Succeeded",
        "finishedAt": "2026-01-01T00:00:00Z",
        "freight": {"name": "f1"},
        "freightCollection": {"id": "x", "items": {"Warehouse/w": {"name": "f1"}}},
    }
    await store.update_status(done)
    stage = await store.get("Stage", "demo", "test")
    stage["status"] = {"currentPromotion": {"name": "test.01a.f1"}}
    await store.update_status(stage)
    await store.create(objects.promotion("test.01b.f1", [{"uses": "record", "as": "next"}]))
    await reconciler.reconcile(key("test.01b.f1"))
    stage = (await store.get("Stage", "demo", "test"))["status"]
    assert stage["lastPromotion"]["name"] == "test.01b.f1"
    assert [h["id"] for h in stage["freightHistory"]][-1] == "x"
    assert "test" in (await store.get("Freight", "demo", "f1"))["status"]["currentlyIn"]
    assert calls(reconciler) == ["next"]


async def test_deleting_the_running_promotion_frees_its_stage_and_work_dir(store, reconciler):
    await store.create(objects.stage())
    await store.create(objects.freight("f1"))
    await store.create(objects.promotion("test.01a.f1", [{"uses": "poll", "config": {"polls": 5}}]))
    await store.create(objects.promotion("test.01b.f1", [{"uses": "record", "as": "next"}]))
    await reconciler.reconcile(key("test.01a.f1"))
    work = reconciler.engine.work_root / "demo" / "test.01a.f1"
    assert work.is_dir()
    await store.delete("Promotion", "demo", "test.01a.f1")
    await reconciler.reconcile(key("test.01a.f1"))
    assert not work.exists()
    stage = await store.get("Stage", "demo", "test")
    assert stage["status"]["currentPromotion"]["name"] == "test.01b.f1"
    await reconciler.reconcile(key("test.01b.f1"))
    assert calls(reconciler)[-1] == "next"
