"""expr-lang's builtin functions (`len`, `filter`, `toJSON`, `date`...) for `kargo.expressions.lang`.

Plain builtins are `fn(rt, args) -> value`; predicate builtins (`filter(xs, # > 1)`) live in
`kargo.expressions.predicates`. `rt` is the evaluation scope: it holds the clock and
the budget every loop spends from, so nothing a user writes can run or allocate without bound.
Failures raise `values.ValueFailure` (or `gotime.TimeError`); the evaluator adds the location.
"""

# ruff: noqa: ARG001 - every builtin has the same (rt, args) signature
from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Callable
from functools import cmp_to_key
from typing import Any

from kargo.expressions import gotime, numeric, values
from kargo.expressions.support import (
    Runtime,
    arity,
    array_arg,
    check_size,
    check_string,
    int_arg,
    map_arg,
    string_arg,
)
from kargo.expressions.values import ValueFailure, is_int, is_number, type_name


# -- strings ------------------------------------------------------------------------------------
def b_len(rt: Runtime, a: list[Any]) -> int:
    arity("len", a, 1)
    v = a[0]
    if isinstance(v, str | list | dict):
        return len(v)
    raise ValueFailure(f"invalid argument for len (type {type_name(v)})")


def b_upper(rt: Runtime, a: list[Any]) -> str:
    arity("upper", a, 1)
    return string_arg("upper", a[0]).upper()


def b_lower(rt: Runtime, a: list[Any]) -> str:
    arity("lower", a, 1)
    return string_arg("lower", a[0]).lower()


def b_trim(rt: Runtime, a: list[Any]) -> str:
    arity("trim", a, 1, 2)
    s = string_arg("trim", a[0])
    return s.strip() if len(a) == 1 else s.strip(string_arg("trim", a[1]))


def b_trim_prefix(rt: Runtime, a: list[Any]) -> str:
    arity("trimPrefix", a, 1, 2)
    s = string_arg("trimPrefix", a[0])
    return s.removeprefix(string_arg("trimPrefix", a[1]) if len(a) == 2 else " ")


def b_trim_suffix(rt: Runtime, a: list[Any]) -> str:
    arity("trimSuffix", a, 1, 2)
    s = string_arg("trimSuffix", a[0])
    return s.removesuffix(string_arg("trimSuffix", a[1]) if len(a) == 2 else " ")


def _go_split(s: str, sep: str, n: int, after: bool) -> list[str]:
    if n == 0:
        return []
    if sep == "":
        chars = list(s)
        if 0 < n < len(chars):
            chars = [*chars[: n - 1], "".join(chars[n - 1 :])]
        return chars
    parts = s.split(sep) if n < 0 else s.split(sep, n - 1)
    if after:
        parts = [p + sep for p in parts[:-1]] + parts[-1:]
    return parts


def b_split(rt: Runtime, a: list[Any]) -> list[str]:
    arity("split", a, 2, 3)
    n = int_arg("split", a[2]) if len(a) == 3 else -1
    return _go_split(string_arg("split", a[0]), string_arg("split", a[1]), n, after=False)


def b_split_after(rt: Runtime, a: list[Any]) -> list[str]:
    arity("splitAfter", a, 2, 3)
    n = int_arg("splitAfter", a[2]) if len(a) == 3 else -1
    return _go_split(string_arg("splitAfter", a[0]), string_arg("splitAfter", a[1]), n, after=True)


def b_replace(rt: Runtime, a: list[Any]) -> str:
    arity("replace", a, 3, 4)
    s, old, new = (string_arg("replace", x) for x in a[:3])
    n = int_arg("replace", a[3]) if len(a) == 4 else -1
    count = s.count(old) + 1 if old == "" else s.count(old)
    if n >= 0:
        count = min(count, n)
    check_string(rt, len(s) + count * len(new), "replace result")
    return s.replace(old, new, n)


def b_repeat(rt: Runtime, a: list[Any]) -> str:
    arity("repeat", a, 2)
    s, n = string_arg("repeat", a[0]), int_arg("repeat", a[1])
    if n < 0:
        raise ValueFailure(f"invalid argument for repeat (expected positive integer, got {n})")
    check_string(rt, len(s) * n, "repeat result")
    return s * n


def b_join(rt: Runtime, a: list[Any]) -> str:
    arity("join", a, 1, 2)
    items = array_arg("join", a[0])
    glue = string_arg("join", a[1]) if len(a) == 2 else ""
    strs = [string_arg("join", x) for x in items]
    check_string(rt, sum(map(len, strs)) + len(glue) * len(strs), "join result")
    return glue.join(strs)


def b_index_of(rt: Runtime, a: list[Any]) -> int:
    arity("indexOf", a, 2)
    return string_arg("indexOf", a[0]).find(string_arg("indexOf", a[1]))


def b_last_index_of(rt: Runtime, a: list[Any]) -> int:
    arity("lastIndexOf", a, 2)
    return string_arg("lastIndexOf", a[0]).rfind(string_arg("lastIndexOf", a[1]))


def b_has_prefix(rt: Runtime, a: list[Any]) -> bool:
    arity("hasPrefix", a, 2)
    return string_arg("hasPrefix", a[0]).startswith(string_arg("hasPrefix", a[1]))


def b_has_suffix(rt: Runtime, a: list[Any]) -> bool:
    arity("hasSuffix", a, 2)
    return string_arg("hasSuffix", a[0]).endswith(string_arg("hasSuffix", a[1]))


# -- conversion ---------------------------------------------------------------------------------
def b_type(rt: Runtime, a: list[Any]) -> str:
    arity("type", a, 1)
    return type_name(a[0])


def b_int(rt: Runtime, a: list[Any]) -> int:
    arity("int", a, 1)
    v = a[0]
    if is_int(v):
        return int(v)
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            return values.INT_MIN
        return values.wrap_int(int(v))
    if isinstance(v, str):
        try:
            if not v or "_" in v or v != v.strip():
                raise ValueError
            return values.wrap_int(int(v, 10))
        except ValueError:
            raise ValueFailure(f'strconv.Atoi: parsing "{v}": invalid syntax') from None
    raise ValueFailure(f"invalid argument for int (type {type_name(v)})")


def b_float(rt: Runtime, a: list[Any]) -> float:
    arity("float", a, 1)
    v = a[0]
    if is_number(v):
        return float(v)
    if isinstance(v, str):
        parsed = parse_go_float(v)
        if parsed is None:
            raise ValueFailure(f'strconv.ParseFloat: parsing "{v}": invalid syntax')
        return parsed
    raise ValueFailure(f"invalid argument for float (type {type_name(v)})")


_GO_FLOAT = re.compile(
    r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|infinity|nan)", re.IGNORECASE
)


_GO_HEX_FLOAT = re.compile(
    r"[+-]?0[xX](?:[0-9a-fA-F]+(?:\.[0-9a-fA-F]*)?|\.[0-9a-fA-F]+)[pP][+-]?[0-9]+"
)


def parse_go_float(text: str) -> float | None:
    """Go's strconv.ParseFloat(text, 64), or None when Go would reject it."""
    if _GO_FLOAT.fullmatch(text) is None:
        if _GO_HEX_FLOAT.fullmatch(text) is not None:
            try:
                return float.fromhex(text)
            except OverflowError:
                return math.copysign(math.inf, -1.0 if text.startswith("-") else 1.0)
        return None
    try:
        return float(text)
    except (ValueError, OverflowError):
        return None


def b_string(rt: Runtime, a: list[Any]) -> str:
    arity("string", a, 1)
    return values.go_v(a[0])


def b_to_json(rt: Runtime, a: list[Any]) -> str:
    arity("toJSON", a, 1)
    return values.go_json(a[0], indent="  ")


def b_from_json(rt: Runtime, a: list[Any]) -> Any:
    arity("fromJSON", a, 1)
    text = string_arg("fromJSON", a[0])
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as err:
        raise ValueFailure(f"fromJSON: invalid JSON: {err}") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"invalid character {name!r}")


def b_to_base64(rt: Runtime, a: list[Any]) -> str:
    arity("toBase64", a, 1)
    return base64.b64encode(string_arg("toBase64", a[0]).encode()).decode()


def b_from_base64(rt: Runtime, a: list[Any]) -> str:
    arity("fromBase64", a, 1)
    try:
        raw = base64.b64decode(string_arg("fromBase64", a[0]).encode(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueFailure("fromBase64: illegal base64 data") from None
    return raw.decode("utf-8", errors="replace")


# -- collections --------------------------------------------------------------------------------
def b_first(rt: Runtime, a: list[Any]) -> Any:
    arity("first", a, 1)
    v = a[0]
    return v[0] if isinstance(v, list) and v else None


def b_last(rt: Runtime, a: list[Any]) -> Any:
    arity("last", a, 1)
    v = a[0]
    return v[-1] if isinstance(v, list) and v else None


def b_get(rt: Runtime, a: list[Any]) -> Any:
    arity("get", a, 2)
    v, key = a
    if isinstance(v, dict):
        try:
            return v.get(key)
        except TypeError:
            return None
    if isinstance(v, list) and is_int(key):
        i = key + len(v) if key < 0 else key
        return v[i] if 0 <= i < len(v) else None
    return None


def b_take(rt: Runtime, a: list[Any]) -> list[Any]:
    arity("take", a, 2)
    items = array_arg("take", a[0])
    n = int_arg("take", a[1])
    return items[: max(n, 0)]


def b_keys(rt: Runtime, a: list[Any]) -> list[Any]:
    arity("keys", a, 1)
    return list(map_arg("keys", a[0]).keys())


def b_values(rt: Runtime, a: list[Any]) -> list[Any]:
    arity("values", a, 1)
    return list(map_arg("values", a[0]).values())


def b_to_pairs(rt: Runtime, a: list[Any]) -> list[Any]:
    arity("toPairs", a, 1)
    return [[k, v] for k, v in map_arg("toPairs", a[0]).items()]


def b_from_pairs(rt: Runtime, a: list[Any]) -> dict[Any, Any]:
    arity("fromPairs", a, 1)
    out: dict[Any, Any] = {}
    for pair in array_arg("fromPairs", a[0]):
        if not isinstance(pair, list) or len(pair) != 2:
            raise ValueFailure("fromPairs: each element must be a [key, value] pair")
        out[hashable(pair[0])] = pair[1]
    return out


def hashable(k: Any) -> Any:
    """`k` when it can be a map key (a scalar); fails otherwise."""
    if k is None or isinstance(k, str | int | float | bool):
        return k
    raise ValueFailure(f"invalid map key (type {type_name(k)})")


def sort_key(items: list[Any], name: str) -> Callable[[Any], Any]:
    """A key function ordering values as expr does (numbers, strings, times)."""

    def cmp(x: Any, y: Any) -> int:
        if values.less(x, y, name):
            return -1
        return 1 if values.less(y, x, name) else 0

    return cmp_to_key(cmp)


def order_desc(name: str, v: Any) -> bool:
    """Whether an "asc"/"desc" argument asks for descending order."""
    order = string_arg(name, v)
    if order not in ("asc", "desc"):
        raise ValueFailure(f'{name}: unknown order "{order}", use "asc" or "desc"')
    return order == "desc"


def b_sort(rt: Runtime, a: list[Any]) -> list[Any]:
    arity("sort", a, 1, 2)
    items = array_arg("sort", a[0])
    rt.spend(len(items))
    desc = order_desc("sort", a[1]) if len(a) == 2 else False
    return sorted(items, key=sort_key(items, "sort"), reverse=desc)


def b_reverse(rt: Runtime, a: list[Any]) -> list[Any]:
    arity("reverse", a, 1)
    return list(reversed(array_arg("reverse", a[0])))


def b_uniq(rt: Runtime, a: list[Any]) -> list[Any]:
    arity("uniq", a, 1)
    out: list[Any] = []
    items = array_arg("uniq", a[0])
    rt.spend(len(items))
    for x in items:
        if not any(values.equal(x, y) for y in out):
            out.append(x)
            rt.spend(len(out) // 64)
    return out


def b_concat(rt: Runtime, a: list[Any]) -> list[Any]:
    out: list[Any] = []
    for arr in a:
        out.extend(array_arg("concat", arr))
        check_size(rt, len(out), "concat result")
    return out


def b_flatten(rt: Runtime, a: list[Any]) -> list[Any]:
    arity("flatten", a, 1)
    out: list[Any] = []

    def walk(v: list[Any], depth: int) -> None:
        if depth > 100:
            raise ValueFailure("flatten: array nested too deeply")
        for x in v:
            if isinstance(x, list):
                walk(x, depth + 1)
            else:
                out.append(x)
        check_size(rt, len(out), "flatten result")

    walk(array_arg("flatten", a[0]), 0)
    return out


# -- time ---------------------------------------------------------------------------------------
def b_now(rt: Runtime, a: list[Any]) -> gotime.TimeValue:
    arity("now", a, 0, 1)
    t = rt.now()
    if a:
        if not isinstance(a[0], gotime.LocationValue):
            raise ValueFailure("invalid argument for now (expected a timezone())")
        return t.m_In(a[0])
    return t


def b_duration(rt: Runtime, a: list[Any]) -> gotime.DurationValue:
    arity("duration", a, 1)
    return gotime.DurationValue(gotime.parse_duration(string_arg("duration", a[0])))


def b_timezone(rt: Runtime, a: list[Any]) -> gotime.LocationValue:
    arity("timezone", a, 1)
    return gotime.load_location(string_arg("timezone", a[0]))


def b_date(rt: Runtime, a: list[Any]) -> gotime.TimeValue:
    if a and isinstance(a[0], gotime.LocationValue):
        tz = a[0].tz
        a = a[1:]
    else:
        tz = None
    arity("date", a, 1, 3)
    text = a[0]
    if isinstance(text, gotime.TimeValue):
        return text
    text = string_arg("date", text)
    if len(a) >= 2:
        layout = string_arg("date", a[1])
        if len(a) == 3:
            tz = gotime.load_location(string_arg("date", a[2])).tz
        return gotime.parse_time(layout, text, tz)
    for layout in gotime.DEFAULT_LAYOUTS:
        try:
            return gotime.parse_time(layout, text, tz)
        except gotime.TimeError:
            continue
    raise ValueFailure(f"invalid date {text}")


BUILTINS: dict[str, Callable[[Runtime, list[Any]], Any]] = {
    "len": b_len,
    "type": b_type,
    "abs": numeric.b_abs,
    "ceil": numeric.b_ceil,
    "floor": numeric.b_floor,
    "round": numeric.b_round,
    "int": b_int,
    "float": b_float,
    "string": b_string,
    "trim": b_trim,
    "trimPrefix": b_trim_prefix,
    "trimSuffix": b_trim_suffix,
    "upper": b_upper,
    "lower": b_lower,
    "split": b_split,
    "splitAfter": b_split_after,
    "replace": b_replace,
    "repeat": b_repeat,
    "join": b_join,
    "indexOf": b_index_of,
    "lastIndexOf": b_last_index_of,
    "hasPrefix": b_has_prefix,
    "hasSuffix": b_has_suffix,
    "max": numeric.b_max,
    "min": numeric.b_min,
    "mean": numeric.b_mean,
    "median": numeric.b_median,
    "toJSON": b_to_json,
    "fromJSON": b_from_json,
    "toBase64": b_to_base64,
    "fromBase64": b_from_base64,
    "now": b_now,
    "duration": b_duration,
    "date": b_date,
    "timezone": b_timezone,
    "first": b_first,
    "last": b_last,
    "get": b_get,
    "take": b_take,
    "keys": b_keys,
    "values": b_values,
    "toPairs": b_to_pairs,
    "fromPairs": b_from_pairs,
    "sort": b_sort,
    "reverse": b_reverse,
    "uniq": b_uniq,
    "concat": b_concat,
    "flatten": b_flatten,
    "bitand": numeric.b_bitand,
    "bitor": numeric.b_bitor,
    "bitxor": numeric.b_bitxor,
    "bitnand": numeric.b_bitnand,
    "bitnot": numeric.b_bitnot,
    "bitshl": numeric.b_bitshl,
    "bitshr": numeric.b_bitshr,
    "bitushr": numeric.b_bitushr,
}
