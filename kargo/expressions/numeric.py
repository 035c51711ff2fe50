# ruff: noqa: ARG001 - every builtin has the same (rt, args) signature
"""expr-lang's number builtins: abs, ceil, floor, round, max, min, mean, median and bit ops.

Same calling convention as `kargo.expressions.builtins` (`fn(rt, args)`), registered there.
`ceil`, `floor` and `round` return floats and `round` rounds half away from zero, as in Go.
"""

from __future__ import annotations

import math
from typing import Any

from kargo.expressions import values
from kargo.expressions.support import (
    Runtime,
    arity,
    int_arg,
)
from kargo.expressions.values import ValueFailure, is_number, type_name


def _num(name: str, v: Any) -> int | float:
    if not is_number(v):
        raise ValueFailure(f"invalid argument for {name} (type {type_name(v)})")
    return v  # type: ignore[no-any-return]


def b_abs(rt: Runtime, a: list[Any]) -> int | float:
    arity("abs", a, 1)
    v = _num("abs", a[0])
    if isinstance(v, int):
        return values.wrap_int(abs(v))
    return abs(v)


def b_ceil(rt: Runtime, a: list[Any]) -> float:
    arity("ceil", a, 1)
    v = float(_num("ceil", a[0]))
    return v if math.isinf(v) or math.isnan(v) else float(math.ceil(v))


def b_floor(rt: Runtime, a: list[Any]) -> float:
    arity("floor", a, 1)
    v = float(_num("floor", a[0]))
    return v if math.isinf(v) or math.isnan(v) else float(math.floor(v))


def b_round(rt: Runtime, a: list[Any]) -> float:
    arity("round", a, 1)
    v = float(_num("round", a[0]))
    if math.isinf(v) or math.isnan(v):
        return v
    return math.copysign(math.floor(abs(v) + 0.5), v)  # Go: half away from zero


def _flatten_numbers(name: str, args: list[Any]) -> list[int | float]:
    out: list[int | float] = []
    for v in args:
        if isinstance(v, list):
            out.extend(_flatten_numbers(name, v))
        else:
            out.append(_num(name, v))
    return out


def b_max(rt: Runtime, a: list[Any]) -> Any:
    nums = _flatten_numbers("max", a)
    if not nums:
        raise ValueFailure("not enough arguments to call max")
    best = nums[0]
    for x in nums[1:]:
        if x > best:
            best = x
    return best


def b_min(rt: Runtime, a: list[Any]) -> Any:
    nums = _flatten_numbers("min", a)
    if not nums:
        raise ValueFailure("not enough arguments to call min")
    best = nums[0]
    for x in nums[1:]:
        if x < best:
            best = x
    return best


def b_mean(rt: Runtime, a: list[Any]) -> float:
    nums = _flatten_numbers("mean", a)
    return float(sum(nums)) / len(nums) if nums else 0.0


def b_median(rt: Runtime, a: list[Any]) -> float:
    nums = sorted(float(x) for x in _flatten_numbers("median", a))
    n = len(nums)
    if n == 0:
        return 0.0
    return nums[n // 2] if n % 2 else (nums[n // 2 - 1] + nums[n // 2]) / 2


def _bits(name: str, a: list[Any], n: int) -> list[int]:
    arity(name, a, n)
    return [int_arg(name, x) for x in a]


def b_bitand(rt: Runtime, a: list[Any]) -> int:
    x, y = _bits("bitand", a, 2)
    return x & y


def b_bitor(rt: Runtime, a: list[Any]) -> int:
    x, y = _bits("bitor", a, 2)
    return x | y


def b_bitxor(rt: Runtime, a: list[Any]) -> int:
    x, y = _bits("bitxor", a, 2)
    return x ^ y


def b_bitnand(rt: Runtime, a: list[Any]) -> int:
    x, y = _bits("bitnand", a, 2)
    return x & ~y


def b_bitnot(rt: Runtime, a: list[Any]) -> int:
    (x,) = _bits("bitnot", a, 1)
    return ~x


def _shift(name: str, a: list[Any]) -> tuple[int, int]:
    x, y = _bits(name, a, 2)
    if y < 0:
        raise ValueFailure(f"invalid operation: negative shift count {y}")
    return x, min(y, 64)


def b_bitshl(rt: Runtime, a: list[Any]) -> int:
    x, y = _shift("bitshl", a)
    return values.wrap_int(x << y)


def b_bitshr(rt: Runtime, a: list[Any]) -> int:
    x, y = _shift("bitshr", a)
    return x >> y


def b_bitushr(rt: Runtime, a: list[Any]) -> int:
    x, y = _shift("bitushr", a)
    return values.wrap_int((x % 2**64) >> y)
