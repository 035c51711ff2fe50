"""The expression environment of one promotion step, and the one door to `kargo.expressions`.

The engine (`engine.py`) evaluates, in this order and just in time before each step
(kargo-model §4.3): promotion vars (each sees `ctx` and the vars before it, not outputs), step
vars (which also see `outputs`, `task.outputs` and `stepMetas`), then `if`, then config. The
env is assembled with `kargo.expressions.functions.build_promotion_env`; the data functions
read through `data.StoreData`, the step-status functions (`success()`, `failure()`,
`always()`, `status(alias)`) see the steps before the current one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kargo import clock as clock_mod
from kargo.errors import ExpressionError
from kargo.expressions import functions, templates
from kargo.promotion import data as data_mod

TASK_SEPARATOR = "::"

# Step statuses that make `failure()` true and cause the implicit skip of later steps.
FAILING = frozenset({"Failed", "Errored"})


def task_alias(alias: str) -> str | None:
    """The task alias of an inflated task step (`deploy::push` -> `deploy`), else None."""
    head, sep, _ = alias.partition(TASK_SEPARATOR)
    return head if sep else None


def task_outputs(alias: str, state: Mapping[str, Any]) -> dict[str, Any]:
    """Outputs of the sibling steps of a task step, keyed by their alias within the task."""
    task = task_alias(alias)
    if task is None:
        return {}
    prefix = task + TASK_SEPARATOR
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


def has_expression(value: Any) -> bool:
    """Whether any string value inside `value` holds a `${{` or `${%` delimiter."""
    if isinstance(value, str):
        return templates.contains_expression(value)
    if isinstance(value, Mapping):
        return any(has_expression(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(has_expression(v) for v in value)
    return False


@dataclass
class StepEnv:
    """What a step's expressions can see; `env()` builds the evaluator's mapping."""

    ctx: dict[str, Any]
    vars: dict[str, Any]
    outputs: Mapping[str, Any]
    step_metas: list[dict[str, Any]]  # metadata of the steps before this one, in order
    alias: str
    data: data_mod.StoreData | None
    clock: clock_mod.Clock | None = None

    def with_vars(self, values: dict[str, Any]) -> StepEnv:
        """The same env with other vars."""
        return StepEnv(
            self.ctx, values, self.outputs, self.step_metas, self.alias, self.data, self.clock
        )

    def env(self, *, with_outputs: bool = True) -> dict[str, Any]:
        """The mapping handed to the template evaluator."""
        ctx = dict(self.ctx)
        meta = dict(ctx.get("meta") or {})
        meta["step"] = {"alias": self.alias}
        ctx["meta"] = meta
        fns: dict[str, Any] = {}
        if self.data is not None:
            fns.update(functions.promotion_functions(self.data))
        earlier: list[Mapping[str, Any]] = list(self.step_metas)
        fns.update(functions.status_functions(self.alias, earlier))
        metas = {str(m.get("alias")): dict(m) for m in self.step_metas}
        in_task = task_alias(self.alias) is not None
        env = functions.build_promotion_env(
            ctx,
            self.vars,
            self.outputs if with_outputs else {},
            task_outputs(self.alias, self.outputs) if in_task and with_outputs else None,
            metas if with_outputs else {},
            fns,
        )
        if not with_outputs:
            env.pop("outputs", None)
            env.pop("stepMetas", None)
        return env


def evaluate(value: Any, env: Mapping[str, Any], clock: clock_mod.Clock | None = None) -> Any:
    """Evaluate every `${{ }}` in `value` (recursively through maps and lists, never keys).

    Values without a delimiter are returned untouched, without building an evaluator.
    """
    if not has_expression(value):
        return value
    return templates.evaluate_template(value, env, clock=clock)


async def evaluate_vars(
    declared: list[dict[str, Any]] | None, base: StepEnv, *, with_outputs: bool
) -> dict[str, Any]:
    """Evaluate a `vars[]` list in order; each var sees the ones before it."""
    result = dict(base.vars)
    for item in declared or []:
        name = str(item.get("name", ""))
        value = item.get("value", "")
        if not has_expression(value):
            result[name] = value
            continue
        current = base.with_vars(dict(result))

        def run(current: StepEnv = current, value: Any = value) -> Any:
            return evaluate(value, current.env(with_outputs=with_outputs), current.clock)

        try:
            result[name] = await data_mod.evaluate_with_data(base.data, run)
        except ExpressionError as err:
            raise ExpressionError(f"error evaluating var {name!r}: {err.message}") from err
    return result


async def evaluate_if(expression: Any, base: StepEnv) -> bool:
    """Evaluate a step's `if`; anything but a boolean is an error."""
    if isinstance(expression, bool):
        return expression

    def run() -> Any:
        return evaluate(expression, base.env(), base.clock)

    try:
        value = await data_mod.evaluate_with_data(base.data, run)
    except ExpressionError as err:
        raise ExpressionError(f"error evaluating if expression: {err.message}") from err
    if not isinstance(value, bool):
        raise ExpressionError(
            f"if expression must evaluate to a boolean, got {type(value).__name__} {value!r}"
        )
    return value


async def evaluate_config(config: Any, base: StepEnv) -> Any:
    """Evaluate a step's config just in time, before validation."""

    def run() -> Any:
        if not has_expression(config):
            return config
        return templates.evaluate_template(config, base.env(), clock=base.clock, path="config")

    try:
        return await data_mod.evaluate_with_data(base.data, run)
    except ExpressionError as err:
        raise ExpressionError(f"error evaluating {err.message}") from err
