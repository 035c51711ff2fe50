"""Measurements and phases of analysis, with Argo Rollouts' rules for judging them.

A metric takes measurements; each measurement's value (`result`) is judged by the metric's
`successCondition` / `failureCondition` (expressions over `result`), and the metric's phase follows
from its counts against `failureLimit`, `inconclusiveLimit` and `consecutiveErrorLimit`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from kargo.errors import ExpressionError
from kargo.expressions import lang


class Phase(StrEnum):
    """Phases of a measurement, a metric and a whole analysis run."""

    PENDING = "Pending"
    RUNNING = "Running"
    SUCCESSFUL = "Successful"
    FAILED = "Failed"
    ERROR = "Error"
    INCONCLUSIVE = "Inconclusive"
    ABORTED = "Aborted"


TERMINAL = frozenset(
    {Phase.SUCCESSFUL, Phase.FAILED, Phase.ERROR, Phase.INCONCLUSIVE, Phase.ABORTED}
)


@dataclass
class Measurement:
    """One observation: its phase, the value it judged, and a message for errors."""

    phase: Phase
    value: Any = None
    message: str = ""


def _condition_functions() -> dict[str, Any]:
    def is_nan(v: Any) -> bool:
        return isinstance(v, float) and math.isnan(v)

    def is_inf(v: Any) -> bool:
        return isinstance(v, float) and math.isinf(v)

    def is_nil(v: Any) -> bool:
        return v is None

    def default(v: Any, fallback: Any) -> Any:
        return fallback if v is None else v

    def as_int(v: Any) -> int:
        return int(float(v))

    def as_float(v: Any) -> float:
        return float(v)

    return {
        "isNaN": is_nan,
        "isInf": is_inf,
        "isNil": is_nil,
        "default": default,
        "asInt": as_int,
        "asFloat": as_float,
    }


def evaluate_condition(condition: str, result: Any) -> bool:
    """Evaluate one condition over `result`; a non-bool outcome is an error."""
    env: Mapping[str, Any] = {"result": result, **_condition_functions()}
    value = lang.compile(condition).run(env)
    if not isinstance(value, bool):
        raise ExpressionError(
            f"condition {condition!r} returned {type(value).__name__}, not a bool"
        )
    return value


def judge(result: Any, success_condition: str, failure_condition: str) -> Phase:
    """The phase of one measurement value, exactly as Argo Rollouts' EvaluateResult decides it."""
    success = evaluate_condition(success_condition, result) if success_condition else False
    failure = evaluate_condition(failure_condition, result) if failure_condition else False
    if not success_condition and not failure_condition:
        return Phase.SUCCESSFUL
    if success_condition and not failure_condition:
        failure = not success
    elif failure_condition and not success_condition:
        success = not failure
    if failure:
        return Phase.FAILED
    if not success:
        return Phase.INCONCLUSIVE
    return Phase.SUCCESSFUL


def judge_metric(value: Any, metric: Mapping[str, Any]) -> Measurement:
    """A measurement of `value`, judged by the metric's success and failure conditions."""
    phase = judge(
        value,
        str(metric.get("successCondition") or ""),
        str(metric.get("failureCondition") or ""),
    )
    return Measurement(phase, value=value)
