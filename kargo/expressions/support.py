"""What builtins share: the `Runtime` protocol (budget, clock, limits) and argument checks.

Used by `builtins`, `numeric` and `predicates`; failures raise `values.ValueFailure`, which the
evaluator locates in the source.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from kargo.expressions import gotime
from kargo.expressions.values import ValueFailure, is_int, type_name

Pred = Callable[..., Any]


class Runtime(Protocol):
    """What builtins need from the evaluation scope."""

    def spend(self, steps: int) -> None:
        """Charge `steps` to the budget; raises when it is exhausted."""
        ...

    def now(self) -> gotime.TimeValue:
        """The injected clock's current time."""
        ...

    max_items: int
    max_string: int


def arity(name: str, args: list[Any], low: int, high: int | None = None) -> None:
    high = low if high is None else high
    if not low <= len(args) <= high:
        expected = str(low) if low == high else f"{low} to {high}"
        raise ValueFailure(
            f"invalid number of arguments for {name} (expected {expected}, got {len(args)})"
        )


def string_arg(name: str, v: Any) -> str:
    if not isinstance(v, str):
        raise ValueFailure(f"invalid argument for {name} (type {type_name(v)}, expected string)")
    return v


def int_arg(name: str, v: Any) -> int:
    if is_int(v):
        return int(v)
    if isinstance(v, float) and v.is_integer():
        return int(v)
    raise ValueFailure(f"invalid argument for {name} (type {type_name(v)}, expected int)")


def array_arg(name: str, v: Any) -> list[Any]:
    if not isinstance(v, list):
        raise ValueFailure(f"invalid argument for {name} (type {type_name(v)}, expected array)")
    return v


def map_arg(name: str, v: Any) -> dict[Any, Any]:
    if not isinstance(v, dict):
        raise ValueFailure(f"invalid argument for {name} (type {type_name(v)}, expected map)")
    return v


def check_size(rt: Runtime, n: int, what: str) -> None:
    if n > rt.max_items:
        raise ValueFailure(f"{what} would have {n} elements; the limit is {rt.max_items}")
    rt.spend(max(1, n // 16))


def check_string(rt: Runtime, n: int, what: str) -> None:
    if n > rt.max_string:
        raise ValueFailure(f"{what} would be {n} characters long; the limit is {rt.max_string}")
