"""The pipeline's API actions in process: the real app on a real SQLite file (httpx
ASGITransport), with the Stage and Promotion reconcilers of `test_stage_world` driving the same
store. Covers what the subprocess tests do not: approvals, holds set by a manual promotion,
promote downstream, and the error answers (what, why, how to fix)."""

from __future__ import annotations

import pytest

from tests.controller.test_stage_world import NS, World, request
from tests.server.conftest import api_env, auth_state  # noqa: F401  (fixtures)

BASE = f"/v1beta1/projects/{NS}"


@pytest.fixture
async def world(api_env, tmp_path):  # noqa: F811
    w = World(api_env.store, tmp_path)
    await w.project()
    return w


async def test_approval_makes_freight_available_and_is_an_event(api_env, world):  # noqa: F811
    api = api_env.client
    await world.stage("test")
    await world.stage("prod", request(stages_=["test"]))
    await world.freight("f1")
    refused = await api.post(f"{BASE}/stages/prod/promotions", json={"freightAlias": "alias-f1"})
    assert refused.status_code == 400
    assert "not available" in refused.json()["error"]["message"]
    assert "kargo approve --freight f1 --stage prod" in refused.json()["error"]["message"]
    approved = await api.post(f"{BASE}/freight/alias-f1/approve", json={"stage": "prod"})
    assert approved.status_code == 200, approved.text
    assert "prod" in approved.json()["status"]["approvedFor"]
    created = await api.post(f"{BASE}/stages/prod/promotions", json={"freight": "f1"})
    assert created.status_code == 201, created.text
    await world.settle()
    assert (await world.status("Stage", "prod"))["freightSummary"] == "f1"
    events = (await api.get(f"{BASE}/events")).json()["items"]
    assert [e["reason"] for e in events if e["actor"] == "admin"][:2] == [
        "FreightApproved",
        "PromotionCreated",
    ]
    only = (await api.get(f"{BASE}/events", params={"kind": "Freight"})).json()["items"]
    assert {e["involvedObject"]["kind"] for e in only} == {"Freight"}


async def test_a_manual_promotion_of_other_freight_holds_and_the_candidate_resumes(
    api_env,  # noqa: F811
    world,
):
    api = api_env.client
    await world.policies({"stageSelector": {"name": "test"}, "autoPromotionEnabled": True})
    await world.stage("test")
    await world.freight("f1", minutes=1)
    await world.settle()
    await world.freight("f2", minutes=2)
    await world.settle()
    assert (await world.status("Stage", "test"))["freightSummary"] == "f2"
    pinned = await api.post(f"{BASE}/stages/test/promotions", json={"freight": "f1"})
    notes = pinned.json()["metadata"]["annotations"]
    assert notes["kargo.akuity.io/auto-promotion-hold"] == "Warehouse/w"
    assert notes["kargo.akuity.io/rollback"] == "true"
    await world.settle()
    status = await world.status("Stage", "test")
    assert status["freightSummary"] == "f1"
    assert status["autoPromotionHolds"]["Warehouse/w"]["actor"] == "admin"
    resumed = await api.post(f"{BASE}/stages/test/promotions", json={"origin": "Warehouse/w"})
    assert resumed.json()["spec"]["freight"] == "f2"
    assert "kargo.akuity.io/auto-promotion-resume" in resumed.json()["metadata"]["annotations"]
    await world.settle()
    status = await world.status("Stage", "test")
    assert status["freightSummary"] == "f2"
    assert "autoPromotionHolds" not in status


async def test_promote_downstream_and_the_refusals(api_env, world):  # noqa: F811
    api = api_env.client
    await world.stage("test")
    await world.stage("uat", request(stages_=["test"]))
    await world.stage("qa", request(stages_=["test"]))
    await world.stage("gate", request(stages_=["test"]), control_flow=True)
    await world.freight("f1")
    none_yet = await api.post(f"{BASE}/stages/test/promotions/downstream", json={"freight": "f1"})
    assert none_yet.status_code == 400
    await api.post(f"{BASE}/stages/test/promotions", json={"freight": "f1"})
    await world.settle()
    out = await api.post(f"{BASE}/stages/test/promotions/downstream", json={"freight": "f1"})
    assert out.status_code == 201, out.text
    assert sorted(p["spec"]["stage"] for p in out.json()["items"]) == ["qa", "uat"]
    flow = await api.post(f"{BASE}/stages/gate/promotions", json={"freight": "f1"})
    assert flow.status_code == 400
    assert "control-flow" in flow.json()["error"]["message"]
    both = await api.post(f"{BASE}/stages/test/promotions", json={"freight": "f1", "origin": "w"})
    assert both.status_code == 400
    await world.settle()
    finished = out.json()["items"][0]["metadata"]["name"]
    late = await api.post(f"{BASE}/promotions/{finished}/abort")
    assert late.status_code == 409
    noverify = await api.post(f"{BASE}/stages/test/verification")
    assert noverify.status_code == 400
    assert "no verification" in noverify.json()["error"]["message"]
    rejected = await api.post(f"{BASE}/freight/f1/reject", json={"reason": "bad build"})
    assert rejected.json()["status"]["rejectedFor"]["*"]["actor"] == "admin"
    again = await api.post(f"{BASE}/stages/uat/promotions", json={"freight": "f1"})
    assert again.status_code == 400
    assert "bad build" in again.json()["error"]["message"]
    cannot = await api.post(f"{BASE}/freight/f1/approve", json={"stage": "uat"})
    assert cannot.status_code == 400
