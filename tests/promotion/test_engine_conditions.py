"""`if`, the implicit skip, continueOnError, vars and outputs through real `${{ }}` expressions."""

from __future__ import annotations

import pytest

from kargo.clock import ManualClock
from kargo.promotion import engine as engine_mod
from kargo.store import open_store
from tests.controller.teststeps import Persisted, make_promotion, make_registry


@pytest.fixture
def engine(tmp_path):
    services = engine_mod.EngineServices(extra={"calls": []})
    return engine_mod.Engine(make_registry(), ManualClock(), services, work_root=tmp_path)


def ran(engine):
    return [a for a, _ in engine.services.extra["calls"]]


def statuses(result):
    return {m["alias"]: m["status"] for m in result["status"]["stepExecutionMetadata"]}


async def test_a_false_if_skips_the_step(engine):
    promo = make_promotion([{"uses": "record", "as": "a", "if": "${{ 1 > 2 }}"}])
    result = await engine.run(promo, Persisted())
    assert statuses(result) == {"a": "Skipped"}
    assert ran(engine) == []
    assert result["status"]["phase"] == "Succeeded"


async def test_an_if_that_is_not_a_boolean_errors_the_step(engine):
    promo = make_promotion([{"uses": "record", "as": "a", "if": "${{ 'yes' }}"}])
    result = await engine.run(promo, Persisted())
    assert statuses(result) == {"a": "Errored"}
    assert result["status"]["message"] == (
        "step \"a\" (record): if expression must evaluate to a boolean, got str 'yes'"
    )


async def test_steps_after_a_failure_are_skipped_unless_their_if_says_otherwise(engine):
    promo = make_promotion(
        [
            {"uses": "flaky", "as": "bad", "config": {"failures": 9}},
            {"uses": "record", "as": "implicit"},
            {"uses": "record", "as": "on-failure", "if": "${{ failure() }}"},
            {"uses": "record", "as": "on-success", "if": "${{ success() }}"},
            {"uses": "record", "as": "always", "if": "${{ always() }}"},
            {"uses": "record", "as": "by-status", "if": "${{ status('bad') == 'Errored' }}"},
        ]
    )
    result = await engine.run(promo, Persisted())
    assert statuses(result) == {
        "bad": "Errored",
        "implicit": "Skipped",
        "on-failure": "Succeeded",
        "on-success": "Skipped",
        "always": "Succeeded",
        "by-status": "Succeeded",
    }
    assert result["status"]["phase"] == "Errored"


async def test_continue_on_error_neither_stops_the_promotion_nor_sets_its_phase(engine):
    promo = make_promotion(
        [
            {"uses": "flaky", "as": "bad", "config": {"failures": 9}, "continueOnError": True},
            {"uses": "record", "as": "next"},
            {"uses": "record", "as": "check", "if": "${{ success() }}"},
        ]
    )
    result = await engine.run(promo, Persisted())
    assert statuses(result) == {"bad": "Errored", "next": "Succeeded", "check": "Succeeded"}
    assert result["status"]["phase"] == "Succeeded"


async def test_the_if_decision_is_made_once_when_the_step_first_starts(engine):
    # the step starts while a is not yet Errored... then polls: the if is not re-evaluated
    promo = make_promotion(
        [{"uses": "poll", "as": "p", "if": "${{ outputs['p'] == nil }}", "config": {"polls": 2}}]
    )
    persist = Persisted()
    outcome = await engine.execute(promo, persist)
    assert outcome.phase == "Running"
    outcome = await engine.execute(outcome.promotion, persist)
    assert outcome.phase == "Succeeded"
    assert ran(engine) == ["p", "p"]


async def test_outputs_of_earlier_steps_feed_later_config(engine):
    promo = make_promotion(
        [
            {"uses": "record", "as": "a", "config": {"value": 41}},
            {"uses": "record", "as": "b", "config": {"value": "${{ outputs.a.value + 1 }}"}},
        ]
    )
    result = await engine.run(promo, Persisted())
    assert result["status"]["state"]["b"]["value"] == 42


async def test_promotion_vars_then_step_vars_then_if_then_config(engine):
    promo = make_promotion(
        [
            {"uses": "record", "as": "a", "config": {"value": "x"}},
            {
                "uses": "record",
                "as": "b",
                "vars": [
                    {"name": "fromOutput", "value": "${{ outputs.a.value }}"},
                    {"name": "both", "value": "${{ vars.base + '-' + vars.fromOutput }}"},
                ],
                "if": "${{ vars.both == 'demo/test-x' }}",
                "config": {"value": "${{ vars.both + '@' + ctx.meta.step.alias }}"},
            },
        ],
        vars=[
            {"name": "project", "value": "${{ ctx.project }}"},
            {"name": "base", "value": "${{ vars.project + '/' + ctx.stage }}"},
        ],
    )
    result = await engine.run(promo, Persisted())
    assert result["status"]["state"]["b"]["value"] == "demo/test-x@b"


async def test_promotion_vars_cannot_see_outputs(engine):
    promo = make_promotion(
        [{"uses": "record", "as": "a"}],
        vars=[{"name": "x", "value": "${{ outputs.a }}"}],
    )
    result = await engine.run(promo, Persisted())
    assert result["status"]["phase"] == "Errored"
    assert result["status"]["message"].startswith("error evaluating var 'x': ")
    assert ran(engine) == []


async def test_an_expression_error_in_config_errors_the_step_naming_the_field(engine):
    promo = make_promotion([{"uses": "record", "as": "a", "config": {"value": "${{ nope( }}"}}])
    result = await engine.run(promo, Persisted())
    message = result["status"]["stepExecutionMetadata"][0]["message"]
    assert message.startswith('step "a" (record): error evaluating config.value: ')


async def test_ctx_describes_the_promotion(engine):
    promo = make_promotion(
        [
            {
                "uses": "record",
                "as": "a",
                "config": {
                    "value": "${{ ctx.project + ' ' + ctx.stage + ' ' + ctx.promotion + ' ' + ctx.targetFreight.name }}"
                },
            }
        ]
    )
    result = await engine.run(promo, Persisted())
    assert result["status"]["state"]["a"]["value"] == "demo test test.01abc.f00 f00"


async def test_task_steps_see_their_siblings_as_task_outputs(engine):
    promo = make_promotion(
        [
            {"uses": "record", "as": "deploy::clone", "config": {"value": "sha1"}},
            {
                "uses": "record",
                "as": "deploy::use",
                "config": {"value": "${{ task.outputs.clone.value }}"},
            },
            {
                "uses": "record",
                "as": "deploy::status",
                "config": {"value": "${{ status('clone') }}"},
            },
            {
                "uses": "compose-output",
                "as": "deploy::out",
                "config": {"sha": "${{ task.outputs.use.value }}"},
            },
            {"uses": "record", "as": "after", "config": {"value": "${{ outputs.deploy.sha }}"}},
        ]
    )
    result = await engine.run(promo, Persisted())
    state = result["status"]["state"]
    assert state["deploy::use"]["value"] == "sha1"
    assert state["deploy::status"]["value"] == "Succeeded"
    assert state["after"]["value"] == "sha1"


async def test_step_metas_are_visible_to_later_steps(engine):
    promo = make_promotion(
        [
            {"uses": "record", "as": "a"},
            {"uses": "record", "as": "b", "config": {"value": "${{ stepMetas.a.status }}"}},
        ]
    )
    result = await engine.run(promo, Persisted())
    assert result["status"]["state"]["b"]["value"] == "Succeeded"


async def test_data_functions_read_the_store_fresh_for_each_step(tmp_path):
    store = await open_store(f"sqlite:///{tmp_path}/k.db")
    try:
        await store.create(
            {
                "apiVersion": "kargo.akuity.io/v1alpha1",
                "kind": "Stage",
                "metadata": {"name": "test", "namespace": "demo"},
                "spec": {"requestedFreight": []},
            }
        )
        services = engine_mod.EngineServices(
            control_plane=store, data_store=store, extra={"calls": []}
        )
        engine = engine_mod.Engine(make_registry(), ManualClock(), services, work_root=tmp_path)
        promo = make_promotion(
            [
                {
                    "uses": "set-metadata",
                    "config": {"updates": [{"kind": "Stage", "name": "test", "values": {"n": 7}}]},
                },
                {
                    "uses": "record",
                    "as": "r",
                    "config": {"value": "${{ stageMetadata('test').n }}"},
                },
                {"uses": "record", "as": "cm", "config": {"value": "${{ configMap('none') }}"}},
            ]
        )
        result = await engine.run(promo, Persisted())
        assert result["status"]["phase"] == "Succeeded", result["status"]
        assert result["status"]["state"]["r"]["value"] == 7
        assert result["status"]["state"]["cm"]["value"] == {}
    finally:
        await store.close()
