"""Abort: `kargo.akuity.io/abort: {"action":"terminate"}` ends a promotion as Aborted."""

from __future__ import annotations

import json

import pytest

from kargo.clock import ManualClock
from kargo.promotion import engine as engine_mod
from tests.controller.teststeps import Persisted, make_promotion, make_registry

ABORT = {engine_mod.ABORT_ANNOTATION: json.dumps({"action": "terminate", "actor": "alice"})}


@pytest.fixture
def engine(tmp_path):
    services = engine_mod.EngineServices(extra={"calls": []})
    return engine_mod.Engine(make_registry(), ManualClock(), services, work_root=tmp_path)


async def test_abort_marks_the_running_step_aborted_and_the_promotion_aborted(engine, tmp_path):
    promo = make_promotion(
        [{"uses": "record"}, {"uses": "poll", "as": "p", "config": {"polls": 5}}]
    )
    persist = Persisted()
    outcome = await engine.execute(promo, persist)
    assert outcome.phase == "Running"
    running = outcome.promotion
    running["metadata"]["annotations"] = dict(ABORT)
    calls_before = len(engine.services.extra["calls"])
    outcome = await engine.execute(running, persist)
    status = outcome.promotion["status"]
    assert status["phase"] == "Aborted"
    assert status["message"] == "promotion aborted by alice"
    assert status["stepExecutionMetadata"][1]["status"] == "Aborted"
    assert status["stepExecutionMetadata"][0]["status"] == "Succeeded"
    assert status["finishedAt"]
    assert len(engine.services.extra["calls"]) == calls_before  # the step was not polled again
    assert outcome.requeue_after is None
    assert list((tmp_path / "demo").iterdir()) == []  # the work dir is gone at once...
    await engine.trash.drain()
    assert sorted(tmp_path.rglob("*")) == [tmp_path / ".trash", tmp_path / "demo"]  # ...and deleted


async def test_abort_seen_between_steps_stops_before_the_next_step(engine):
    promo = make_promotion([{"uses": "record", "as": "a"}, {"uses": "record", "as": "b"}])
    persist = Persisted()
    persist.annotations = dict(ABORT)  # the user aborts while step a runs
    outcome = await engine.execute(promo, persist)
    assert outcome.phase == "Aborted"
    assert [a for a, _ in engine.services.extra["calls"]] == ["a"]
    metas = outcome.promotion["status"]["stepExecutionMetadata"]
    assert [m["status"] for m in metas] == ["Succeeded", "Aborted"]


async def test_an_abort_annotation_with_another_action_is_ignored(engine):
    promo = make_promotion(
        [{"uses": "record"}], annotations={engine_mod.ABORT_ANNOTATION: '{"action":"pause"}'}
    )
    result = await engine.run(promo, Persisted())
    assert result["status"]["phase"] == "Succeeded"


async def test_an_abort_arriving_after_the_last_step_does_not_undo_success(engine):
    promo = make_promotion([{"uses": "record", "as": "only"}])
    persist = Persisted()
    persist.annotations = dict(ABORT)
    result = await engine.run(promo, persist)
    assert result["status"]["phase"] == "Succeeded"
