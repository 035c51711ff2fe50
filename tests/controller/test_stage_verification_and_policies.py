"""Verification (real `job` metrics), re-verification, abort, and auto-promotion policies,
filters, holds and MatchUpstream, on a real SQLite store with a ManualClock."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from kargo import errors
from kargo.controller import auto_promotion
from kargo.store.interface import ObjectKey
from tests.controller.test_stage_world import NS, job_template, request

AUTO_ALL = {"stageSelector": {"name": "glob:*"}, "autoPromotionEnabled": True}


def verification(template="check", tag="${{ imageFrom('ghcr.io/acme/app').Tag }}"):
    return {"analysisTemplates": [{"name": template}], "args": [{"name": "tag", "value": tag}]}


async def test_a_successful_verification_marks_freight_verified_and_unblocks_downstream(
    world, tmp_path
):
    marker = tmp_path / "args.txt"
    await world.store.create(job_template("check", f"echo {{{{args.tag}}}} > {marker}"))
    await world.policies(AUTO_ALL)
    await world.stage("test", verification=verification())
    await world.stage("uat", request(stages_=["test"]))
    await world.freight("f1", tag="1.2.3")
    await world.settle()
    assert marker.read_text().strip() == "1.2.3"  # the arg was an evaluated expression
    info = (await world.status("Stage", "test"))["freightHistory"][0]["verificationHistory"][0]
    assert info["phase"] == "Successful"
    run = await world.get("AnalysisRun", info["analysisRun"]["name"])
    assert run["metadata"]["labels"]["kargo.akuity.io/stage"] == "test"
    assert info["analysisRun"]["name"].startswith(f"test.{info['id']}.")
    assert "test" in (await world.status("Freight", "f1"))["verifiedIn"]
    assert (await world.status("Stage", "uat"))["freightSummary"] == "f1"
    assert ("FreightVerificationSucceeded", "controller:kargo") in await world.event_reasons()


async def test_a_failed_verification_stops_the_flow_downstream(world):
    await world.store.create(job_template("check", "exit 3"))
    await world.policies(AUTO_ALL)
    await world.stage("test", verification=verification())
    await world.stage("uat", request(stages_=["test"]))
    await world.freight("f1")
    await world.settle()
    status = await world.status("Stage", "test")
    assert status["freightHistory"][0]["verificationHistory"][0]["phase"] == "Failed"
    assert status["health"]["status"] == "Unhealthy"
    assert "test" not in (await world.status("Freight", "f1")).get("verifiedIn", {})
    assert not await world.promotions_of("uat")


async def test_no_promotion_starts_while_verification_runs(world):
    await world.store.create(job_template("check", "true", count=2, interval="1m"))
    await world.stage("test", verification=verification())
    await world.freight("f1")
    await world.freight("f2")
    await world.promote("test", "f1")
    results = await world.settle()
    assert timedelta(seconds=59) <= results["test"].requeue_after <= timedelta(minutes=1)
    second = await world.promote("test", "f2")
    await world.settle()
    assert (await world.status("Promotion", second["metadata"]["name"])).get("phase") is None
    world.clock.advance(timedelta(minutes=1))
    await world.settle()
    assert (await world.status("Promotion", second["metadata"]["name"]))["phase"] == "Succeeded"


async def test_a_failed_reverification_revokes_verified_in(world, tmp_path):
    ok = tmp_path / "ok"
    ok.write_text("")
    await world.store.create(job_template("check", f"test -f {ok}"))
    await world.stage("test", verification=verification())
    await world.freight("f1")
    await world.promote("test", "f1")
    await world.settle()
    assert "test" in (await world.status("Freight", "f1"))["verifiedIn"]
    ok.unlink()
    stage = await world.get("Stage", "test")
    first = stage["status"]["freightHistory"][0]["verificationHistory"][0]
    stage["metadata"].setdefault("annotations", {})["kargo.akuity.io/reverify"] = json.dumps(
        {"id": first["id"], "actor": "alice"}
    )
    await world.store.update(stage)
    await world.settle()
    stage = await world.get("Stage", "test")
    history = stage["status"]["freightHistory"][0]["verificationHistory"]
    assert [h["phase"] for h in history] == ["Failed", "Successful"]
    assert history[0]["actor"] == "alice"
    assert "kargo.akuity.io/reverify" not in stage["metadata"].get("annotations", {})
    assert "test" not in (await world.status("Freight", "f1")).get("verifiedIn", {})
    assert ("FreightVerificationFailed", "alice") in await world.event_reasons()


async def test_aborting_a_running_verification(world):
    await world.store.create(job_template("check", "true", count=3, interval="1m"))
    await world.stage("test", verification=verification())
    await world.freight("f1")
    await world.promote("test", "f1")
    await world.settle()
    stage = await world.get("Stage", "test")
    info = stage["status"]["freightHistory"][0]["verificationHistory"][0]
    assert info["phase"] == "Running"
    stage["metadata"].setdefault("annotations", {})["kargo.akuity.io/abort"] = json.dumps(
        {"id": info["id"], "actor": "bob"}
    )
    await world.store.update(stage)
    await world.settle()
    info = (await world.status("Stage", "test"))["freightHistory"][0]["verificationHistory"][0]
    assert info["phase"] == "Aborted"
    assert ("FreightVerificationAborted", "bob") in await world.event_reasons()


def stage_obj(name, labels=None):
    return {"metadata": {"name": name, "namespace": NS, "labels": labels or {}}}


@pytest.mark.parametrize(
    ("selector", "stage", "labels", "matches"),
    [
        ({"name": "prod"}, "prod", {}, True),
        ({"name": "prod"}, "prod-eu", {}, False),
        ({"name": "glob:prod-*"}, "prod-eu", {}, True),
        ({"name": "regex:^uat"}, "uat-1", {}, True),
        ({"name": "regexp:^uat$"}, "uat-1", {}, False),
        ({"matchLabels": {"tier": "dev"}}, "x", {"tier": "dev"}, True),
        ({"name": "x", "matchLabels": {"tier": "dev"}}, "x", {"tier": "prod"}, False),
        (
            {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]},
            "x",
            {"tier": "b"},
            True,
        ),
    ],
)
def test_policy_selectors(selector, stage, labels, matches):
    policy = {"stageSelector": selector, "autoPromotionEnabled": True}
    assert auto_promotion.policy_matches(policy, stage_obj(stage, labels)) is matches


def test_the_first_matching_policy_wins():
    config = {
        "spec": {
            "promotionPolicies": [
                {"stageSelector": {"name": "prod"}, "autoPromotionEnabled": False},
                {"stageSelector": {"name": "glob:*"}, "autoPromotionEnabled": True},
            ]
        }
    }
    assert auto_promotion.find_policy(config, stage_obj("prod"))["autoPromotionEnabled"] is False
    assert auto_promotion.find_policy(config, stage_obj("test"))["autoPromotionEnabled"] is True


async def test_a_freight_filter_keeps_prerelease_tags_out_of_auto_promotion(world):
    await world.policies(
        {
            **AUTO_ALL,
            "freightFilter": '${{ !any(freight.images, {#.tag contains "-"}) }}',
        }
    )
    await world.stage("test")
    await world.freight("stable", tag="1.0.0", minutes=1)
    await world.freight("rc", tag="1.1.0-rc.1", minutes=2)
    await world.settle()
    assert (await world.status("Stage", "test"))["freightSummary"] == "stable"


def test_a_freight_filter_that_is_not_boolean_is_an_error():
    with pytest.raises(errors.ExpressionError, match="true or false"):
        auto_promotion.filter_passes("freight.alias", {"alias": "x"}, stage_obj("s"))


async def test_a_manual_promotion_of_other_freight_holds_auto_promotion_until_resumed(world):
    await world.policies(AUTO_ALL)
    await world.stage("test")
    await world.freight("f1", minutes=1)
    await world.settle()
    await world.freight("f2", minutes=2)
    hold = {"kargo.akuity.io/auto-promotion-hold": "Warehouse/w"}
    # a human pins f1 while f2 (the candidate) waits; the hold is recorded on success
    await world.store.delete("ProjectConfig", NS, NS)
    await world.promote("test", "f1", annotations=hold)
    await world.settle()
    await world.policies(AUTO_ALL)
    await world.settle()
    status = await world.status("Stage", "test")
    assert status["autoPromotionHolds"]["Warehouse/w"]["actor"] == "admin"
    assert status["freightSummary"] == "f1"
    assert status["conditions"][-1]["reason"] == "AutoPromotionBlocked"
    await world.promote(
        "test", "f2", annotations={"kargo.akuity.io/auto-promotion-resume": "Warehouse/w"}
    )
    await world.settle()
    status = await world.status("Stage", "test")
    assert "autoPromotionHolds" not in status
    assert status["freightSummary"] == "f2"


async def test_match_upstream_promotes_what_the_upstream_stage_runs(world):
    await world.policies({"stageSelector": {"name": "uat"}, "autoPromotionEnabled": True})
    await world.stage("test")
    await world.stage("uat", request(stages_=["test"], policy="MatchUpstream"))
    await world.freight("f1", minutes=1)
    await world.freight("f2", minutes=2)
    await world.promote("test", "f2")
    await world.settle()
    await world.promote("test", "f1")
    await world.settle()
    # both are verified in test; MatchUpstream follows what test runs now (f1), not the newest
    assert (await world.status("Stage", "uat"))["freightSummary"] == "f1"
    await world.stage_reconciler.reconcile(ObjectKey("Stage", NS, "uat"))
