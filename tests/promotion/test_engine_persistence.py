"""Crash safety: status is committed after every step; a resumed run never repeats a step."""

from __future__ import annotations

import copy

import pytest

from kargo.clock import ManualClock
from kargo.promotion import engine as engine_mod
from tests.controller.teststeps import Persisted, make_promotion, make_registry


@pytest.fixture
def engine(tmp_path):
    services = engine_mod.EngineServices(extra={"calls": []})
    return engine_mod.Engine(make_registry(), ManualClock(), services, work_root=tmp_path)


class Crash(Exception):
    """Stands for the process dying at a persist."""


class CrashAfter(Persisted):
    """Commits `n` times, then dies on the next commit (as a SIGKILL before the write)."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n

    async def __call__(self, promo):
        if len(self.snapshots) >= self.n:
            raise Crash
        return await super().__call__(promo)


THREE_STEPS = [
    {"uses": "record", "as": "a", "config": {"value": "a"}},
    {"uses": "record", "as": "b", "config": {"value": "b"}},
    {"uses": "record", "as": "c", "config": {"value": "c"}},
]


async def test_status_is_committed_after_every_step_before_the_next_starts(engine):
    calls = engine.services.extra["calls"]
    seen: list[tuple[int, int]] = []

    class Watching(Persisted):
        async def __call__(self, promo):
            seen.append((len(calls), promo["status"]["currentStep"]))
            return await super().__call__(promo)

    await engine.run(make_promotion(THREE_STEPS), Watching())
    # for each step: a commit when it starts (before it runs) and one when it ends
    assert seen == [(0, 0), (1, 1), (1, 1), (2, 2), (2, 2), (3, 3), (3, 3)]


@pytest.mark.parametrize("crash_at", range(1, 7))
async def test_a_resumed_promotion_never_reruns_a_finished_step(engine, crash_at):
    promo = make_promotion(THREE_STEPS)
    persist = CrashAfter(crash_at)
    with pytest.raises(Crash):
        await engine.run(promo, persist)
    stored = copy.deepcopy(persist.last)  # what the store holds after the crash
    finished = {
        m["alias"] for m in stored["status"]["stepExecutionMetadata"] if m["status"] != "Running"
    }
    calls = engine.services.extra["calls"]
    calls.clear()
    result = await engine.run(stored, Persisted())
    assert result["status"]["phase"] == "Succeeded"
    rerun = [alias for alias, _ in calls]
    assert not finished & set(rerun)
    assert sorted(finished | set(rerun)) == ["a", "b", "c"]
    assert set(result["status"]["state"]) == {"a", "b", "c"}


async def test_resume_starts_at_the_first_unfinished_step(engine):
    promo = make_promotion(THREE_STEPS)
    promo["status"] = {
        "phase": "Running",
        "startedAt": "2026-01-01T00:00:00Z",
        "currentStep": 1,
        "state": {"a": {"value": "a"}},
        "stepExecutionMetadata": [
            {
                "alias": "a",
                "status": "Succeeded",
                "errorCount": 0,
                "startedAt": "2026-01-01T00:00:00Z",
            }
        ],
    }
    result = await engine.run(promo, Persisted())
    assert [a for a, _ in engine.services.extra["calls"]] == ["b", "c"]
    assert result["status"]["phase"] == "Succeeded"


async def test_a_step_interrupted_mid_run_keeps_its_start_time_and_runs_again(engine):
    promo = make_promotion(THREE_STEPS)
    persist = CrashAfter(3)  # committed: a started, a finished, b started; dies as b ends
    with pytest.raises(Crash):
        await engine.run(promo, persist)
    stored = persist.last
    b_meta = stored["status"]["stepExecutionMetadata"][1]
    assert (stored["status"]["currentStep"], b_meta["status"]) == (1, "Running")
    engine.services.extra["calls"].clear()
    result = await engine.run(copy.deepcopy(stored), Persisted())
    assert [a for a, _ in engine.services.extra["calls"]] == ["b", "c"]
    assert result["status"]["stepExecutionMetadata"][1]["startedAt"] == b_meta["startedAt"]


async def test_what_persist_receives_is_a_copy_the_engine_never_changes_later(engine):
    kept: list[tuple[dict, dict]] = []

    async def keep(promo):
        kept.append((promo, copy.deepcopy(promo)))
        return promo  # a store may hand back the very object it was given

    original = make_promotion(THREE_STEPS)
    before = copy.deepcopy(original)
    await engine.run(original, keep)
    assert original == before  # the caller's Promotion is not touched either
    assert len(kept) == 7
    for received, snapshot in kept:
        assert received == snapshot


def test_copy_tree_copies_dicts_and_lists_and_keeps_other_types():
    class Tagged(dict):
        pass

    value = {"a": [{"b": 1}, "x", None, 2.5, True], "t": (1, [2]), "s": Tagged(k=[1])}
    copied = engine_mod.copy_tree(value)
    assert copied == value
    assert copied["a"] is not value["a"]
    assert copied["a"][0] is not value["a"][0]
    assert type(copied["s"]) is Tagged
    assert copied["s"]["k"] is not value["s"]["k"]
    assert copied["t"][1] is not value["t"][1]
