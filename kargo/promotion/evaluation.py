"""The expression environment of one promotion step, and the one door to `kargo.expressions`.

The engine (`engine.py`) calls `promotion_vars`, `step_vars`, `evaluate_if` and `evaluate_config`
in that order, just in time before each step (kargo-model §4.3): promotion vars see `ctx` and the
vars before them; step vars also see `outputs`, `task.outputs` and `stepMetas`; `if` and config see
everything. The step-status functions `success()`, `failure()`, `always()` and `status(alias)`
depend on the engine's bookkeeping, so they are built here rather than in the expressions package.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kargo.errors import ExpressionError

TASK_SEPARATOR = "::"

# Step statuses that make `failure()` true and cause the implicit skip of later steps.
FAILING = frozenset({"Failed", "Errored"})

FunctionsFactory = Callable[[Mapping[str, Any]], Mapping[str, Any]]


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


@dataclass
class StepEnv:
    """What a step's expressions can see; rebuilt before every evaluation."""

    ctx: dict[str, Any]
    vars: dict[str, Any]
    outputs: Mapping[str, Any]
    step_metas: Mapping[str, dict[str, Any]]
    alias: str
    functions: Mapping[str, Any] = field(default_factory=dict)

    def as_env(self, *, with_outputs: bool = True) -> dict[str, Any]:
        """The mapping handed to the template evaluator."""
        ctx = dict(self.ctx)
        meta = dict(ctx.get("meta") or {})
        meta["step"] = {"alias": self.alias}
        ctx["meta"] = meta
        env: dict[str, Any] = dict(self.functions)
        env.update(self._status_functions())
        env["ctx"] = ctx
        env["vars"] = dict(self.vars)
        if with_outputs:
            env["outputs"] = dict(self.outputs)
            env["task"] = {"outputs": task_outputs(self.alias, self.outputs)}
            env["stepMetas"] = {k: dict(v) for k, v in self.step_metas.items()}
        return env

    def _status_functions(self) -> dict[str, Callable[..., Any]]:
        metas = self.step_metas
        alias = self.alias

        def _failed() -> bool:
            return any(
                m.get("status") in FAILING and not m.get("continueOnError")
                for a, m in metas.items()
                if a != alias
            )

        def success() -> bool:
            return not _failed()

        def failure() -> bool:
            return _failed()

        def always() -> bool:
            return True

        def status(name: str) -> str:
            task = task_alias(alias)
            key = f"{task}{TASK_SEPARATOR}{name}" if task is not None else name
            meta = metas.get(key) or metas.get(name)
            return str(meta.get("status", "")) if meta else ""

        return {"success": success, "failure": failure, "always": always, "status": status}


def has_expression(value: Any) -> bool:
    """Whether any string value inside `value` holds a `${{` or `${%` delimiter."""
    if isinstance(value, str):
        return "${{" in value or "${%" in value
    if isinstance(value, Mapping):
        return any(has_expression(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(has_expression(v) for v in value)
    return False


def evaluate(value: Any, env: Mapping[str, Any]) -> Any:
    """Evaluate every `${{ }}` in `value` (recursively through maps and lists, never keys).

    Values without a delimiter are returned untouched, without building an evaluator.
    """
    if not has_expression(value):
        return value
    from kargo.expressions import templates  # the expressions layer, loaded on first use

    return templates.evaluate_template(value, dict(env))


def evaluate_vars(
    declared: list[dict[str, Any]] | None, base: StepEnv, *, with_outputs: bool
) -> dict[str, Any]:
    """Evaluate a `vars[]` list in order; each var sees the ones before it."""
    result = dict(base.vars)
    for item in declared or []:
        name = str(item.get("name", ""))
        env = StepEnv(
            ctx=base.ctx,
            vars=result,
            outputs=base.outputs,
            step_metas=base.step_metas,
            alias=base.alias,
            functions=base.functions,
        ).as_env(with_outputs=with_outputs)
        try:
            result[name] = evaluate(item.get("value", ""), env)
        except ExpressionError as err:
            raise ExpressionError(f"error evaluating var {name!r}: {err.message}") from err
    return result


def evaluate_if(expression: str, env: Mapping[str, Any]) -> bool:
    """Evaluate a step's `if`; anything but a boolean is an error."""
    try:
        value = evaluate(expression, env)
    except ExpressionError as err:
        raise ExpressionError(f"error evaluating if expression: {err.message}") from err
    if not isinstance(value, bool):
        raise ExpressionError(
            f"if expression must evaluate to a boolean, got {type(value).__name__} {value!r}"
        )
    return value


def evaluate_config(config: Any, env: Mapping[str, Any]) -> Any:
    """Evaluate a step's config just in time, before validation."""
    try:
        return evaluate(config, env)
    except ExpressionError as err:
        raise ExpressionError(f"error evaluating config: {err.message}") from err
