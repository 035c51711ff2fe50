"""The engine runs steps in order, keeps outputs and metadata, and manages the work dir."""

from __future__ import annotations

import stat
from pathlib import Path

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
    return engine_mod.Engine(make_registry(), clock, services, work_root=tmp_path / "work")


async def test_steps_run_in_order_and_outputs_are_kept_by_alias(engine):
    promo = make_promotion(
        [
            {"uses": "record", "as": "first", "config": {"value": 1}},
            {"uses": "record", "config": {"value": 2}},
        ]
    )
    persist = Persisted()
    result = await engine.run(promo, persist)
    status = result["status"]
    assert status["phase"] == "Succeeded"
    assert engine.services.extra["calls"] == [("first", 1), ("step-2", 2)]
    assert status["state"]["first"]["value"] == 1
    assert status["state"]["step-2"]["value"] == 2
    assert status["currentStep"] == 2


async def test_default_aliases_are_step_n_one_based(engine):
    promo = make_promotion([{"uses": "record"}, {"uses": "record"}, {"uses": "record", "as": "x"}])
    result = await engine.run(promo, Persisted())
    aliases = [m["alias"] for m in result["status"]["stepExecutionMetadata"]]
    assert aliases == ["step-1", "step-2", "x"]
    assert engine_mod.step_alias({"task": {"name": "t"}}, 4) == "task-5"


async def test_step_execution_metadata_records_times_status_and_error_count(engine, clock):
    promo = make_promotion([{"uses": "record", "continueOnError": True}])
    result = await engine.run(promo, Persisted())
    (meta,) = result["status"]["stepExecutionMetadata"]
    assert meta == {
        "alias": "step-1",
        "startedAt": "2026-01-01T00:00:00Z",
        "finishedAt": "2026-01-01T00:00:00Z",
        "status": "Succeeded",
        "errorCount": 0,
        "message": "",
        "continueOnError": True,
    }
    assert result["status"]["startedAt"] == "2026-01-01T00:00:00Z"
    assert result["status"]["finishedAt"] == "2026-01-01T00:00:00Z"


async def test_a_promotion_with_no_steps_succeeds(engine):
    result = await engine.run(make_promotion([]), Persisted())
    assert result["status"]["phase"] == "Succeeded"


async def test_work_dir_is_private_and_removed_when_the_promotion_ends(engine, tmp_path):
    promo = make_promotion([{"uses": "record"}])
    result = await engine.run(promo, Persisted())
    work = Path(result["status"]["state"]["step-1"]["workDir"])
    assert work == tmp_path / "work" / "demo" / "test.01abc.f00"
    assert not work.exists()


async def test_work_dir_is_mode_0700_and_reused_across_runs(engine, tmp_path):
    promo = make_promotion([{"uses": "record"}, {"uses": "poll", "config": {"polls": 2}}])
    persist = Persisted()
    first = await engine.execute(promo, persist)
    assert first.phase == "Running"
    work = Path(first.promotion["status"]["state"]["step-1"]["workDir"])
    assert stat.S_IMODE(work.stat().st_mode) == 0o700
    (work / "kept").write_text("x")
    second = await engine.execute(first.promotion, persist)
    assert second.phase == "Succeeded"
    assert not work.exists()


async def test_a_finished_promotion_is_not_run_again(engine):
    promo = make_promotion([{"uses": "record"}])
    done = await engine.run(promo, Persisted())
    engine.services.extra["calls"].clear()
    again = await engine.run(done, Persisted())
    assert again == done
    assert engine.services.extra["calls"] == []


async def test_unknown_step_kind_errors_with_a_clear_message(engine):
    promo = make_promotion([{"uses": "no-such-step", "as": "x"}])
    result = await engine.run(promo, Persisted())
    (meta,) = result["status"]["stepExecutionMetadata"]
    assert meta["status"] == "Errored"
    assert meta["message"].startswith("step \"x\" (no-such-step): unknown step kind 'no-such-step'")
    assert "record" in meta["message"]
    assert result["status"]["phase"] == "Errored"
    assert result["status"]["message"] == meta["message"]


async def test_invalid_config_names_alias_kind_and_field(engine):
    promo = make_promotion([{"uses": "needs-path", "as": "push", "config": {}}])
    result = await engine.run(promo, Persisted())
    (meta,) = result["status"]["stepExecutionMetadata"]
    assert meta["status"] == "Errored"
    assert meta["message"] == 'step "push" (needs-path): invalid config: path: field required'


async def test_invalid_config_reports_every_field(engine):
    promo = make_promotion([{"uses": "needs-path", "as": "p", "config": {"path": "", "extra": 1}}])
    result = await engine.run(promo, Persisted())
    message = result["status"]["stepExecutionMetadata"][0]["message"]
    assert message.startswith('step "p" (needs-path): invalid config: ')
    assert "path: string should have at least 1 character" in message
    assert "extra: extra inputs are not permitted" in message


async def test_unexpected_exception_gives_a_generic_message_without_the_secret(engine, caplog):
    promo = make_promotion([{"uses": "boom", "as": "b", "config": {"secret": "hunter2"}}])
    result = await engine.run(promo, Persisted())
    meta = result["status"]["stepExecutionMetadata"][0]
    assert meta["status"] == "Errored"
    assert (
        meta["message"] == 'step "b" (boom): unexpected error (details are in the controller log)'
    )
    assert "hunter2" not in str(result["status"])
    assert "Traceback" not in str(result["status"])


async def test_messages_pass_through_the_redactor(tmp_path, clock):
    services = engine_mod.EngineServices(
        redact=lambda m: m.replace("s3cr3t", "***"), extra={"calls": []}
    )
    engine = engine_mod.Engine(make_registry(), clock, services, work_root=tmp_path)
    promo = make_promotion([{"uses": "terminal", "as": "t", "config": {"secret": "s3cr3t"}}])
    result = await engine.run(promo, Persisted())
    assert "s3cr3t" not in str(result["status"])
    assert result["status"]["message"] == 'step "t" (terminal): cannot authenticate with token ***'


async def test_final_phase_is_the_worst_step_status_ignoring_continue_on_error():
    metas = [
        {"status": "Succeeded"},
        {"status": "Errored", "continueOnError": True},
        {"status": "Failed", "message": "boom"},
        {"status": "Skipped"},
    ]
    assert engine_mod.final_phase(metas) == ("Failed", "boom")
    assert engine_mod.final_phase([{"status": "Skipped"}]) == ("Succeeded", "")


async def test_health_checks_returned_by_successful_steps_are_recorded(engine):
    promo = make_promotion(
        [
            {"uses": "record", "config": {"health": {"apps": ["a"]}}},
            {"uses": "record"},
        ]
    )
    result = await engine.run(promo, Persisted())
    assert result["status"]["healthChecks"] == [{"uses": "record", "config": {"apps": ["a"]}}]
