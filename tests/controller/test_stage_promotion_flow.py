"""StageReconciler on a real SQLite store: scheduling, history, availability, soak, fan-in,
control-flow Stages, rollback and rejection (time from a ManualClock)."""

from __future__ import annotations

import json
from datetime import timedelta

from kargo.store.interface import ObjectKey
from tests.controller.test_stage_world import NS, request

AUTO_ALL = {"stageSelector": {"name": "glob:*"}, "autoPromotionEnabled": True}


async def test_a_manual_promotion_is_recorded_in_history_freight_and_summary(world):
    await world.stage("test")
    await world.freight("f1")
    promo = await world.promote("test", "f1")
    await world.settle()
    assert (await world.status("Promotion", promo["metadata"]["name"]))["phase"] == "Succeeded"
    status = await world.status("Stage", "test")
    assert status["freightHistory"][0]["items"]["Warehouse/w"]["name"] == "f1"
    assert status["freightHistory"][0]["promotion"] == promo["metadata"]["name"]
    assert status["freightSummary"] == "f1"
    assert status["health"] == {"status": "Healthy"}
    assert status["lastPromotion"]["status"]["phase"] == "Succeeded"
    assert status["autoPromotionEnabled"] is False
    assert "currentPromotion" not in status
    freight = await world.status("Freight", "f1")
    assert "test" in freight["currentlyIn"]
    assert "test" in freight["verifiedIn"]  # no verification configured: verified at once
    reasons = await world.event_reasons()
    assert ("PromotionSucceeded", "admin") in reasons


async def test_reconciling_a_settled_stage_again_writes_nothing(world, store):
    await world.stage("test")
    await world.freight("f1")
    await world.promote("test", "f1")
    await world.settle()
    before = await store.current_resource_version()
    await world.stage_reconciler.reconcile(ObjectKey("Stage", NS, "test"))
    assert await store.current_resource_version() == before


async def test_promotions_run_one_at_a_time_first_come_first_served(world):
    await world.stage("test")
    for name in ("f1", "f2", "f3"):
        await world.freight(name)
    names = [(await world.promote("test", f))["metadata"]["name"] for f in ("f2", "f1", "f3")]
    await world.stage_reconciler.reconcile(ObjectKey("Stage", NS, "test"))
    status = await world.status("Stage", "test")
    assert status["currentPromotion"]["name"] == names[0]
    await world.settle()
    finished = [(await world.status("Promotion", n))["finishedAt"] for n in names]
    assert finished == sorted(finished)
    assert (await world.status("Stage", "test"))["freightHistory"][0]["items"]["Warehouse/w"][
        "name"
    ] == "f3"
    assert "test" not in (await world.status("Freight", "f2")).get("currentlyIn", {})


async def test_freight_verified_upstream_becomes_available_and_is_auto_promoted(world):
    await world.policies(AUTO_ALL)
    await world.stage("test")
    await world.stage("uat", request(stages_=["test"]))
    await world.freight("f1")
    await world.settle()
    assert (await world.status("Stage", "uat"))["freightSummary"] == "f1"
    assert (await world.status("Stage", "test"))["autoPromotionEnabled"] is True
    reasons = await world.event_reasons()
    assert ("PromotionCreated", "controller:kargo") in reasons


async def test_soak_time_holds_freight_until_it_has_soaked_upstream(world):
    await world.policies(AUTO_ALL)
    await world.stage("test")
    await world.stage("uat", request(stages_=["test"], soak="1h"))
    await world.freight("f1")
    results = await world.settle()
    assert (await world.status("Stage", "uat"))["freightSummary"] == "0/1 Fulfilled"
    assert results["uat"].requeue_after == timedelta(hours=1)
    world.clock.advance(timedelta(minutes=59))
    await world.settle()
    assert (await world.status("Stage", "uat"))["freightSummary"] == "0/1 Fulfilled"
    world.clock.advance(timedelta(minutes=1))
    await world.settle()
    assert (await world.status("Stage", "uat"))["freightSummary"] == "f1"


async def test_fan_in_with_all_needs_verification_in_every_upstream_stage(world):
    await world.policies(
        {"stageSelector": {"name": "regex:^(a|b)$"}, "autoPromotionEnabled": True},
        {"stageSelector": {"name": "prod"}, "autoPromotionEnabled": True},
    )
    await world.stage("a")
    await world.stage("b")
    await world.stage("prod", request(stages_=["a", "b"], strategy="All"))
    await world.freight("f1")
    # only "a" has it: b is manual here, so promote only to a first
    await world.store.delete("ProjectConfig", NS, NS)
    await world.policies(
        {"stageSelector": {"name": "a"}, "autoPromotionEnabled": True},
        {"stageSelector": {"name": "prod"}, "autoPromotionEnabled": True},
    )
    await world.settle()
    assert (await world.status("Stage", "a"))["freightSummary"] == "f1"
    assert (await world.status("Stage", "prod"))["freightSummary"] == "0/1 Fulfilled"
    await world.promote("b", "f1")
    await world.settle()
    assert (await world.status("Stage", "prod"))["freightSummary"] == "f1"


async def test_a_control_flow_stage_forwards_availability_downstream(world):
    await world.policies(AUTO_ALL)
    await world.stage("test")
    await world.stage("gate", request(stages_=["test"]), control_flow=True)
    await world.stage("prod", request(stages_=["gate"]))
    await world.freight("f1")
    await world.settle()
    assert "gate" in (await world.status("Freight", "f1"))["verifiedIn"]
    assert (await world.status("Stage", "prod"))["freightSummary"] == "f1"
    assert not await world.promotions_of("gate")


async def test_promoting_older_freight_is_a_rollback_visible_to_steps_and_history(world):
    await world.stage("test")
    await world.freight("f1", minutes=1)
    await world.freight("f2", minutes=2)
    await world.promote("test", "f2")
    await world.settle()
    world.clock.advance(timedelta(minutes=30))
    rollback = await world.promote("test", "f1")
    await world.settle()
    promo = await world.get("Promotion", rollback["metadata"]["name"])
    assert promo["metadata"]["annotations"]["kargo.akuity.io/rollback"] == "true"
    assert world.calls[-1] == ("step-1", True)
    assert world.calls[0] == ("step-1", False)
    history = (await world.status("Stage", "test"))["freightHistory"]
    assert history[0]["rollback"] is True
    assert "rollback" not in history[1]
    f2 = await world.status("Freight", "f2")
    assert "test" not in f2["currentlyIn"]
    assert f2["verifiedIn"]["test"]["longestSoak"] == "30m0s"


async def test_rejected_freight_is_never_auto_promoted_and_waiting_promotions_abort(world):
    await world.policies(AUTO_ALL)
    await world.stage("test")
    f1 = await world.freight("f1")
    f1["status"] = {"rejectedFor": {"*": {"actor": "sec", "reason": "CVE", "rejectedAt": "x"}}}
    await world.store.update_status(f1)
    await world.settle()
    assert not await world.promotions_of("test")
    promo = await world.promote("test", "f1")
    await world.settle()
    status = await world.status("Promotion", promo["metadata"]["name"])
    assert status["phase"] == "Aborted"
    abort = json.loads(
        (await world.get("Promotion", promo["metadata"]["name"]))["metadata"]["annotations"][
            "kargo.akuity.io/abort"
        ]
    )
    assert abort["actor"] == "sec"
    assert "rejected" in abort["reason"]
    assert ("PromotionAborted", "sec") in await world.event_reasons()
