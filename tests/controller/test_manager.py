"""The manager: the store's watch wakes reconcilers, and a Stage change wakes its Promotion."""

from __future__ import annotations

import asyncio

import pytest

from kargo.clock import ManualClock
from kargo.controller import manager as manager_mod, promotions, runtime
from kargo.store.interface import ObjectKey
from tests.controller import objects
from tests.controller.teststeps import make_registry


async def wait_for_phase(store, name, phase, *, within=30.0):
    async def poll():
        while True:
            obj = await store.get("Promotion", "demo", name)
            if (obj.get("status") or {}).get("phase") == phase:
                return obj
            await asyncio.sleep(0.02)

    return await asyncio.wait_for(poll(), within)


@pytest.fixture
async def running(store, tmp_path):
    stop = asyncio.Event()
    task = asyncio.create_task(
        manager_mod.run_controllers(
            store,
            clock=ManualClock(),
            registry=make_registry(),
            work_root=tmp_path / "work",
            stop=stop,
        )
    )
    yield task
    stop.set()
    await asyncio.wait_for(task, 10)


async def test_promotions_created_after_start_are_run_in_order(store, running, tmp_path):
    await store.create(objects.stage())
    await store.create(objects.freight("f1"))
    await store.create(objects.freight("f2"))
    markers = str(tmp_path / "markers")
    await store.create(
        objects.promotion("test.01a.f1", [{"uses": "record", "config": {"markers": markers}}])
    )
    await store.create(
        objects.promotion(
            "test.01b.f2", [{"uses": "record", "config": {"markers": markers}}], freight="f2"
        )
    )
    await wait_for_phase(store, "test.01a.f1", "Succeeded")
    await wait_for_phase(store, "test.01b.f2", "Succeeded")

    async def recorded():
        while True:
            status = (await store.get("Stage", "demo", "test")).get("status") or {}
            if "currentPromotion" not in status and "lastPromotion" in status:
                return status
            await asyncio.sleep(0.02)

    status = await asyncio.wait_for(recorded(), 30)
    assert status["lastPromotion"]["name"] == "test.01b.f2"
    assert [h["items"]["Warehouse/w"]["name"] for h in status["freightHistory"]] == ["f2", "f1"]


async def test_promotions_existing_at_start_are_run(store, tmp_path):
    await store.create(objects.stage())
    await store.create(objects.freight("f1"))
    await store.create(objects.promotion("test.01a.f1", [{"uses": "record"}]))
    stop = asyncio.Event()
    task = asyncio.create_task(
        manager_mod.run_controllers(
            store, clock=ManualClock(), registry=make_registry(), work_root=tmp_path, stop=stop
        )
    )
    try:
        await wait_for_phase(store, "test.01a.f1", "Succeeded")
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_a_promotion_waiting_for_its_stage_starts_when_the_stage_appears(store, running):
    await store.create(objects.freight("f1"))
    await store.create(objects.promotion("test.01a.f1", [{"uses": "record"}]))

    async def stalled():
        while "message" not in (
            (await store.get("Promotion", "demo", "test.01a.f1")).get("status") or {}
        ):
            await asyncio.sleep(0.02)

    await asyncio.wait_for(stalled(), 30)
    await store.create(objects.stage())
    await wait_for_phase(store, "test.01a.f1", "Succeeded")


class Counting:
    def __init__(self) -> None:
        self.keys: list[ObjectKey] = []

    async def reconcile(self, key: ObjectKey) -> runtime.Result:
        self.keys.append(key)
        return runtime.Result()


async def test_status_only_changes_do_not_wake_the_object_s_own_reconciler(store):
    manager = runtime.Manager(store, ManualClock(), resync=None)
    counting = Counting()
    manager.register("Stage", counting)
    stage = await store.create(objects.stage())
    await manager.dispatch(stage, "ADDED")
    assert await manager.process_one("Stage") == ObjectKey("Stage", "demo", "test")
    stage["status"] = {"x": 1}
    stage = await store.update_status(stage)
    await manager.dispatch(stage, "MODIFIED")
    assert await manager.process_one("Stage") is None
    stage["metadata"]["annotations"] = {"kargo.akuity.io/refresh": "1"}
    stage = await store.update(stage)
    await manager.dispatch(stage, "MODIFIED")
    assert await manager.process_one("Stage") == ObjectKey("Stage", "demo", "test")


async def test_a_failing_reconcile_is_retried_with_backoff(store):
    clock = ManualClock()
    manager = runtime.Manager(store, clock, resync=None)

    class Failing:
        async def reconcile(self, key):
            raise RuntimeError("transient")

    q = manager.register("Stage", Failing())
    manager.enqueue(ObjectKey("Stage", "demo", "x"))
    await manager.process_one("Stage")
    assert q.failures(ObjectKey("Stage", "demo", "x")) == 1
    assert await manager.process_one("Stage") is None
    clock.advance(1)
    q.promote_due()
    await manager.process_one("Stage")
    assert q.failures(ObjectKey("Stage", "demo", "x")) == 2


async def test_a_requested_requeue_is_scheduled(store):
    clock = ManualClock()
    manager = runtime.Manager(store, clock, resync=None)
    from datetime import timedelta

    class Later:
        async def reconcile(self, key):
            return runtime.Result(requeue_after=timedelta(seconds=42))

    q = manager.register("Stage", Later())
    manager.enqueue(ObjectKey("Stage", "demo", "x"))
    await manager.process_one("Stage")
    clock.advance(41)
    assert q.promote_due() == 0
    clock.advance(1)
    assert q.promote_due() == 1


async def test_stage_mapping_wakes_only_on_a_new_current_promotion(store):
    mapper = promotions.StageToPromotion(store)
    stage = objects.stage(currentPromotion={"name": "test.01a.f1"})
    assert await mapper(stage) == [ObjectKey("Promotion", "demo", "test.01a.f1")]
    assert await mapper(stage) == []
    stage["status"]["metadata"] = {"x": 1}
    assert await mapper(stage) == []
