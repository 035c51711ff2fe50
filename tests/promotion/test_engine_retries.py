"""Running steps, error thresholds, terminal errors, timeouts and requeue hints."""

from __future__ import annotations

from datetime import timedelta

import pytest

from kargo.clock import ManualClock
from kargo.promotion import engine as engine_mod
from tests.controller.teststeps import Persisted, make_promotion, make_registry


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture
def engine(tmp_path, clock):
    services = engine_mod.EngineServices(extra={"calls": []})
    return engine_mod.Engine(make_registry(), clock, services, work_root=tmp_path)


async def test_a_running_step_returns_with_current_step_and_the_step_retry_after(engine):
    promo = make_promotion(
        [{"uses": "record"}, {"uses": "poll", "config": {"polls": 3, "retryAfter": 45}}]
    )
    outcome = await engine.execute(promo, Persisted())
    assert outcome.phase == "Running"
    assert outcome.promotion["status"]["currentStep"] == 1
    assert outcome.requeue_after == timedelta(seconds=45)
    assert outcome.promotion["status"]["stepExecutionMetadata"][1]["status"] == "Running"


async def test_requeue_hint_has_a_floor_of_ten_seconds(engine):
    promo = make_promotion([{"uses": "poll", "config": {"polls": 3, "retryAfter": 1}}])
    outcome = await engine.execute(promo, Persisted())
    assert outcome.requeue_after == timedelta(seconds=10)


async def test_requeue_floor_is_configurable_for_tests(tmp_path, clock):
    engine = engine_mod.Engine(make_registry(), clock, work_root=tmp_path, min_requeue=timedelta(0))
    promo = make_promotion([{"uses": "poll", "config": {"polls": 3, "retryAfter": 1}}])
    outcome = await engine.execute(promo, Persisted())
    assert outcome.requeue_after == timedelta(seconds=1)


async def test_running_step_without_a_suggestion_requeues_after_five_minutes(engine):
    promo = make_promotion([{"uses": "poll", "config": {"polls": 3}}])
    outcome = await engine.execute(promo, Persisted())
    assert outcome.requeue_after == timedelta(minutes=5)


async def test_a_running_step_is_polled_until_it_succeeds(engine):
    promo = make_promotion([{"uses": "poll", "as": "p", "config": {"polls": 3}}])
    persist = Persisted()
    outcome = await engine.execute(promo, persist)
    outcome = await engine.execute(outcome.promotion, persist)
    assert outcome.phase == "Running"
    outcome = await engine.execute(outcome.promotion, persist)
    assert outcome.phase == "Succeeded"
    assert outcome.requeue_after is None
    assert engine.services.extra["calls"] == [("p", 1), ("p", 2), ("p", 3)]


async def test_default_error_threshold_is_one(engine):
    promo = make_promotion([{"uses": "flaky", "as": "f", "config": {"failures": 1}}])
    result = await engine.run(promo, Persisted())
    meta = result["status"]["stepExecutionMetadata"][0]
    assert meta["status"] == "Errored"
    assert meta["errorCount"] == 1
    assert meta["message"] == 'step "f" (flaky): attempt 1 failed'
    assert result["status"]["phase"] == "Errored"


async def test_failed_result_ends_the_step_failed(engine):
    promo = make_promotion([{"uses": "flaky", "config": {"failures": 1, "status": "Failed"}}])
    result = await engine.run(promo, Persisted())
    assert result["status"]["stepExecutionMetadata"][0]["status"] == "Failed"
    assert result["status"]["phase"] == "Failed"


async def test_error_threshold_retries_until_consecutive_errors_reach_it(engine):
    promo = make_promotion(
        [
            {
                "uses": "flaky",
                "as": "f",
                "config": {"failures": 2, "status": "raise"},
                "retry": {"errorThreshold": 3},
            }
        ]
    )
    persist = Persisted()
    first = await engine.execute(promo, persist)
    assert first.phase == "Running"
    meta = first.promotion["status"]["stepExecutionMetadata"][0]
    assert meta["status"] == "Running"
    assert meta["errorCount"] == 1
    assert "will retry" in meta["message"]
    assert first.requeue_after == timedelta(seconds=10)
    second = await engine.execute(first.promotion, persist)
    assert second.promotion["status"]["stepExecutionMetadata"][0]["errorCount"] == 2
    third = await engine.execute(second.promotion, persist)
    assert third.phase == "Succeeded"
    assert third.promotion["status"]["state"]["f"] == {"attempts": 3}


async def test_error_threshold_reached_ends_the_step_errored(engine):
    promo = make_promotion(
        [{"uses": "flaky", "as": "f", "config": {"failures": 5}, "retry": {"errorThreshold": 2}}]
    )
    persist = Persisted()
    outcome = await engine.execute(promo, persist)
    outcome = await engine.execute(outcome.promotion, persist)
    meta = outcome.promotion["status"]["stepExecutionMetadata"][0]
    assert outcome.phase == "Errored"
    assert meta["errorCount"] == 2
    assert meta["message"] == 'step "f" (flaky): attempt 2 failed (after 2 consecutive errors)'


async def test_error_threshold_defaults_to_the_step_spec(engine):
    promo = make_promotion([{"uses": "flaky3", "config": {"failures": 2}}])
    persist = Persisted()
    outcome = await engine.execute(promo, persist)
    outcome = await engine.execute(outcome.promotion, persist)
    outcome = await engine.execute(outcome.promotion, persist)
    assert outcome.phase == "Succeeded"


async def test_consecutive_error_count_resets_when_a_step_makes_progress(engine):
    # poll returns Running; the error count of a Running step is reset to zero
    promo = make_promotion([{"uses": "poll", "config": {"polls": 2}}])
    outcome = await engine.execute(promo, Persisted())
    assert outcome.promotion["status"]["stepExecutionMetadata"][0]["errorCount"] == 0


async def test_terminal_errors_are_never_retried(engine):
    promo = make_promotion([{"uses": "terminal", "config": {"secret": "x"}}])
    result = await engine.run(promo, Persisted())
    meta = result["status"]["stepExecutionMetadata"][0]
    assert meta["status"] == "Errored"
    assert meta["errorCount"] == 1
    assert len(engine.services.extra["calls"]) == 1


async def test_a_step_running_past_its_timeout_errors(engine, clock):
    promo = make_promotion(
        [{"uses": "poll", "as": "p", "config": {"polls": 100}, "retry": {"timeout": "2m"}}]
    )
    persist = Persisted()
    outcome = await engine.execute(promo, persist)
    assert outcome.phase == "Running"
    clock.advance(timedelta(minutes=1, seconds=30))
    outcome = await engine.execute(outcome.promotion, persist)
    assert outcome.phase == "Running"
    clock.advance(timedelta(minutes=1))
    outcome = await engine.execute(outcome.promotion, persist)
    meta = outcome.promotion["status"]["stepExecutionMetadata"][0]
    assert outcome.phase == "Errored"
    assert meta["message"] == 'step "p" (poll): step timed out after 2m'


async def test_requeue_is_shortened_to_fire_at_the_step_timeout(engine, clock):
    promo = make_promotion(
        [{"uses": "poll", "config": {"polls": 100, "retryAfter": 60}, "retry": {"timeout": "90s"}}]
    )
    persist = Persisted()
    outcome = await engine.execute(promo, persist)
    assert outcome.requeue_after == timedelta(seconds=60)
    clock.advance(60)
    outcome = await engine.execute(outcome.promotion, persist)
    assert outcome.requeue_after == timedelta(seconds=30)


async def test_step_default_timeout_applies_without_retry_timeout(engine, clock):
    promo = make_promotion([{"uses": "timed-poll", "config": {"polls": 100}}])
    persist = Persisted()
    outcome = await engine.execute(promo, persist)
    clock.advance(timedelta(minutes=2))
    outcome = await engine.execute(outcome.promotion, persist)
    assert outcome.phase == "Errored"


async def test_invalid_retry_timeout_errors_the_step_with_a_hint(engine):
    promo = make_promotion([{"uses": "record", "as": "r", "retry": {"timeout": "soon"}}])
    result = await engine.run(promo, Persisted())
    message = result["status"]["stepExecutionMetadata"][0]["message"]
    assert message.startswith("step \"r\" (record): retry.timeout: invalid duration 'soon'")
    assert "30s" in message


def test_go_durations_are_parsed():
    assert engine_mod.parse_duration("1h30m") == timedelta(minutes=90)
    assert engine_mod.parse_duration("1.5s") == timedelta(seconds=1.5)
    assert engine_mod.parse_duration("0") == timedelta(0)
