"""Resyncing Stages: a Stage whose inputs did not change since it was last left with nothing to
do is skipped (no lease, no write); any change to what it reads makes it reconcile again."""

from __future__ import annotations

from kargo.clock import ManualClock
from kargo.controller import runtime, stages
from kargo.store.interface import ObjectKey
from tests.controller.test_stage_world import NS, World, job_template, request


def key(name):
    return ObjectKey("Stage", NS, name)


async def reconcile_skipped(world, name):
    """Reconcile one Stage; True when it was skipped as unchanged."""
    before = world.stage_reconciler.skipped
    await world.stage_reconciler.reconcile(key(name))
    return world.stage_reconciler.skipped == before + 1


async def test_an_idle_stage_is_skipped_and_writes_nothing(world):
    await world.stage("test")
    await world.stage("uat", request(stages_=["test"]))
    await world.freight("f1")
    await world.settle()
    version = await world.store.current_resource_version()
    assert await reconcile_skipped(world, "test")
    assert await reconcile_skipped(world, "uat")
    assert await world.store.current_resource_version() == version


async def test_a_new_freight_wakes_direct_stages_but_not_stages_fed_from_upstream(world):
    await world.stage("test")
    await world.stage("uat", request(stages_=["test"]))
    await world.settle()
    await world.freight("f1")
    assert not await reconcile_skipped(world, "test")
    assert await reconcile_skipped(world, "uat")


async def test_freight_verified_upstream_makes_the_downstream_stage_reconcile(world):
    await world.stage("test")
    await world.stage("uat", request(stages_=["test"]))
    await world.freight("f1")
    await world.settle()
    freight = await world.get("Freight", "f1")
    freight["status"] = {"verifiedIn": {"test": {"verifiedAt": "2026-01-01T00:00:00Z"}}}
    await world.store.update_status(freight)
    assert not await reconcile_skipped(world, "uat")
    assert await reconcile_skipped(world, "uat")


async def test_approval_policy_and_promotion_changes_each_wake_the_stage(world):
    await world.stage("prod")
    await world.freight("f1")
    await world.freight("g1", warehouse="other")
    await world.settle()
    # approval of Freight of an origin the Stage does not even request
    freight = await world.get("Freight", "g1")
    freight["status"] = {"approvedFor": {"prod": {}}}
    await world.store.update_status(freight)
    assert not await reconcile_skipped(world, "prod")
    await world.settle()
    await world.policies({"stageSelector": {"name": "prod"}, "autoPromotionEnabled": False})
    assert not await reconcile_skipped(world, "prod")
    await world.settle()
    await world.promote("prod", "f1")
    assert not await reconcile_skipped(world, "prod")


async def test_a_stage_spec_change_wakes_it(world):
    await world.stage("test")
    await world.settle()
    stage = await world.get("Stage", "test")
    stage["metadata"].setdefault("labels", {})["team"] = "a"
    await world.store.update(stage)
    assert not await reconcile_skipped(world, "test")


async def test_a_stage_with_timed_work_is_never_skipped(world):
    await world.policies({"stageSelector": {"name": "test"}, "autoPromotionEnabled": True})
    await world.store.create(job_template("slow", "exit 0", count=3, interval="1m"))
    verification = {
        "analysisTemplates": [{"name": "slow"}],
        "args": [{"name": "tag", "value": "1"}],
    }
    await world.stage("test", verification=verification)
    await world.freight("f1")
    results = await world.settle()
    assert results["test"].requeue_after is not None  # the next measurement
    assert not await reconcile_skipped(world, "test")


async def test_a_resync_of_an_idle_pipeline_skips_every_stage(store, tmp_path):
    world = World(store, tmp_path)
    await world.project()
    for name in ("a", "b", "c"):
        await world.stage(name)
    await world.freight("f1")
    await world.settle()
    manager = runtime.Manager(store, ManualClock(), resync=None)
    stages.register(manager, world.stage_reconciler)
    await manager.enqueue_all()
    before = world.stage_reconciler.skipped
    while await manager.process_one("Stage") is not None:
        pass
    assert world.stage_reconciler.skipped == before + 3


async def test_a_reconciled_stage_only_asks_to_come_back_for_timed_work(world):
    await world.stage("test")
    await world.stage("uat", request(stages_=["test"], soak="1h"))
    results = await world.settle()
    assert results["test"].requeue_after is None
    assert results["uat"].requeue_after is None


async def test_a_stage_reconciled_twice_at_once_sees_its_own_promotion_and_creates_one(world):
    await world.policies({"stageSelector": {"name": "test"}, "autoPromotionEnabled": True})
    await world.stage("test")
    await world.freight("f1")
    await world.stage_reconciler.reconcile(key("test"))
    await world.stage_reconciler.reconcile(key("test"))
    assert len(await world.promotions_of("test")) == 1
