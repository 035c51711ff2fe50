"""expr-lang's builtin functions (`len`, `filter`, `toJSON`, `date`...) for `kargo.expressions.lang`.

Plain builtins are `fn(rt, args) -> value`; predicate builtins (`filter(xs, # > 1)`) are
`fn(rt, collection, closures, extra_args)`. `rt` is the evaluation scope: it holds the clock and
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
from typing import Any, Protocol

from kargo.expressions import gotime, values
from kargo.expressions.values import ValueFailure, is_int, is_number, type_name

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


def _arity(name: str, args: list[Any], low: int, high: int | None = None) -> None:
    high = low if high is None else high
    if not low <= len(args) <= high:
        expected = str(low) if low == high else f"{low} to {high}"
        raise ValueFailure(
            f"invalid number of arguments for {name} (expected {expected}, got {len(args)})"
        )


def _str(name: str, v: Any) -> str:
    if not isinstance(v, str):
        raise ValueFailure(f"invalid argument for {name} (type {type_name(v)}, expected string)")
    return v


def _int(name: str, v: Any) -> int:
    if is_int(v):
        return int(v)
    if isinstance(v, float) and v.is_integer():
        return int(v)
    raise ValueFailure(f"invalid argument for {name} (type {type_name(v)}, expected int)")


def _array(name: str, v: Any) -> list[Any]:
    if not isinstance(v, list):
        raise ValueFailure(f"invalid argument for {name} (type {type_name(v)}, expected array)")
    return v


def _map(name: str, v: Any) -> dict[Any, Any]:
    if not isinstance(v, dict):
        raise ValueFailure(f"invalid argument for {name} (type {type_name(v)}, expected map)")
    return v


def _check_size(rt: Runtime, n: int, what: str) -> None:
    if n > rt.max_items:
        raise ValueFailure(f"{what} would have {n} elements; the limit is {rt.max_items}")
    rt.spend(max(1, n // 16))


def _check_string(rt: Runtime, n: int, what: str) -> None:
    if n > rt.max_string:
        raise ValueFailure(f"{what} would be {n} characters long; the limit is {rt.max_string}")


# -- strings ------------------------------------------------------------------------------------
def b_len(rt: Runtime, a: list[Any]) -> int:
    _arity("len", a, 1)
    v = a[0]
    if isinstance(v, str | list | dict):
        return len(v)
    raise ValueFailure(f"invalid argument for len (type {type_name(v)})")


def b_upper(rt: Runtime, a: list[Any]) -> str:
    _arity("upper", a, 1)
    return _str("upper", a[0]).upper()


def b_lower(rt: Runtime, a: list[Any]) -> str:
    _arity("lower", a, 1)
    return _str("lower", a[0]).lower()


def b_trim(rt: Runtime, a: list[Any]) -> str:
    _arity("trim", a, 1, 2)
    s = _str("trim", a[0])
    return s.strip() if len(a) == 1 else s.strip(_str("trim", a[1]))


def b_trim_prefix(rt: Runtime, a: list[Any]) -> str:
    _arity("trimPrefix", a, 1, 2)
    s = _str("trimPrefix", a[0])
    return s.removeprefix(_str("trimPrefix", a[1]) if len(a) == 2 else " ")


def b_trim_suffix(rt: Runtime, a: list[Any]) -> str:
    _arity("trimSuffix", a, 1, 2)
    s = _str("trimSuffix", a[0])
    return s.removesuffix(_str("trimSuffix", a[1]) if len(a) == 2 else " ")


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
    _arity("split", a, 2, 3)
    n = _int("split", a[2]) if len(a) == 3 else -1
    return _go_split(_str("split", a[0]), _str("split", a[1]), n, after=False)


def b_split_after(rt: Runtime, a: list[Any]) -> list[str]:
    _arity("splitAfter", a, 2, 3)
    n = _int("splitAfter", a[2]) if len(a) == 3 else -1
    return _go_split(_str("splitAfter", a[0]), _str("splitAfter", a[1]), n, after=True)


def b_replace(rt: Runtime, a: list[Any]) -> str:
    _arity("replace", a, 3, 4)
    s, old, new = (_str("replace", x) for x in a[:3])
    n = _int("replace", a[3]) if len(a) == 4 else -1
    count = s.count(old) + 1 if old == "" else s.count(old)
    if n >= 0:
        count = min(count, n)
    _check_string(rt, len(s) + count * len(new), "replace result")
    return s.replace(old, new, n)


def b_repeat(rt: Runtime, a: list[Any]) -> str:
    _arity("repeat", a, 2)
    s, n = _str("repeat", a[0]), _int("repeat", a[1])
    if n < 0:
        raise ValueFailure(f"invalid argument for repeat (expected positive integer, got {n})")
    _check_string(rt, len(s) * n, "repeat result")
    return s * n


def b_join(rt: Runtime, a: list[Any]) -> str:
    _arity("join", a, 1, 2)
    items = _array("join", a[0])
    glue = _str("join", a[1]) if len(a) == 2 else ""
    strs = [_str("join", x) for x in items]
    _check_string(rt, sum(map(len, strs)) + len(glue) * len(strs), "join result")
    return glue.join(strs)


def b_index_of(rt: Runtime, a: list[Any]) -> int:
    _arity("indexOf", a, 2)
    return _str("indexOf", a[0]).find(_str("indexOf", a[1]))


def b_last_index_of(rt: Runtime, a: list[Any]) -> int:
    _arity("lastIndexOf", a, 2)
    return _str("lastIndexOf", a[0]).rfind(_str("lastIndexOf", a[1]))


def b_has_prefix(rt: Runtime, a: list[Any]) -> bool:
    _arity("hasPrefix", a, 2)
    return _str("hasPrefix", a[0]).startswith(_str("hasPrefix", a[1]))


def b_has_suffix(rt: Runtime, a: list[Any]) -> bool:
    _arity("hasSuffix", a, 2)
    return _str("hasSuffix", a[0]).endswith(_str("hasSuffix", a[1]))


# -- conversion ---------------------------------------------------------------------------------
def b_type(rt: Runtime, a: list[Any]) -> str:
    _arity("type", a, 1)
    return type_name(a[0])


def b_int(rt: Runtime, a: list[Any]) -> int:
    _arity("int", a, 1)
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
    _arity("float", a, 1)
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
    _arity("string", a, 1)
    return values.go_v(a[0])


def b_to_json(rt: Runtime, a: list[Any]) -> str:
    _arity("toJSON", a, 1)
    return values.go_json(a[0], indent="  ")


def b_from_json(rt: Runtime, a: list[Any]) -> Any:
    _arity("fromJSON", a, 1)
    text = _str("fromJSON", a[0])
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as err:
        raise ValueFailure(f"fromJSON: invalid JSON: {err}") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"invalid character {name!r}")


def b_to_base64(rt: Runtime, a: list[Any]) -> str:
    _arity("toBase64", a, 1)
    return base64.b64encode(_str("toBase64", a[0]).encode()).decode()


def b_from_base64(rt: Runtime, a: list[Any]) -> str:
    _arity("fromBase64", a, 1)
    try:
        raw = base64.b64decode(_str("fromBase64", a[0]).encode(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueFailure("fromBase64: illegal base64 data") from None
    return raw.decode("utf-8", errors="replace")


# -- numbers ------------------------------------------------------------------------------------
def _num(name: str, v: Any) -> int | float:
    if not is_number(v):
        raise ValueFailure(f"invalid argument for {name} (type {type_name(v)})")
    return v  # type: ignore[no-any-return]


def b_abs(rt: Runtime, a: list[Any]) -> int | float:
    _arity("abs", a, 1)
    v = _num("abs", a[0])
    if isinstance(v, int):
        return values.wrap_int(abs(v))
    return abs(v)


def b_ceil(rt: Runtime, a: list[Any]) -> float:
    _arity("ceil", a, 1)
    v = float(_num("ceil", a[0]))
    return v if math.isinf(v) or math.isnan(v) else float(math.ceil(v))


def b_floor(rt: Runtime, a: list[Any]) -> float:
    _arity("floor", a, 1)
    v = float(_num("floor", a[0]))
    return v if math.isinf(v) or math.isnan(v) else float(math.floor(v))


def b_round(rt: Runtime, a: list[Any]) -> float:
    _arity("round", a, 1)
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
    _arity(name, a, n)
    return [_int(name, x) for x in a]


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


# -- collections --------------------------------------------------------------------------------
def b_first(rt: Runtime, a: list[Any]) -> Any:
    _arity("first", a, 1)
    v = a[0]
    return v[0] if isinstance(v, list) and v else None


def b_last(rt: Runtime, a: list[Any]) -> Any:
    _arity("last", a, 1)
    v = a[0]
    return v[-1] if isinstance(v, list) and v else None


def b_get(rt: Runtime, a: list[Any]) -> Any:
    _arity("get", a, 2)
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
    _arity("take", a, 2)
    items = _array("take", a[0])
    n = _int("take", a[1])
    return items[: max(n, 0)]


def b_keys(rt: Runtime, a: list[Any]) -> list[Any]:
    _arity("keys", a, 1)
    return list(_map("keys", a[0]).keys())


def b_values(rt: Runtime, a: list[Any]) -> list[Any]:
    _arity("values", a, 1)
    return list(_map("values", a[0]).values())


def b_to_pairs(rt: Runtime, a: list[Any]) -> list[Any]:
    _arity("toPairs", a, 1)
    return [[k, v] for k, v in _map("toPairs", a[0]).items()]


def b_from_pairs(rt: Runtime, a: list[Any]) -> dict[Any, Any]:
    _arity("fromPairs", a, 1)
    out: dict[Any, Any] = {}
    for pair in _array("fromPairs", a[0]):
        if not isinstance(pair, list) or len(pair) != 2:
            raise ValueFailure("fromPairs: each element must be a [key, value] pair")
        out[_hashable(pair[0])] = pair[1]
    return out


def _hashable(k: Any) -> Any:
    if k is None or isinstance(k, str | int | float | bool):
        return k
    raise ValueFailure(f"invalid map key (type {type_name(k)})")


def _sort_key(items: list[Any], name: str) -> Callable[[Any], Any]:
    def cmp(x: Any, y: Any) -> int:
        if values.less(x, y, name):
            return -1
        return 1 if values.less(y, x, name) else 0

    return cmp_to_key(cmp)


def _order(name: str, v: Any) -> bool:
    order = _str(name, v)
    if order not in ("asc", "desc"):
        raise ValueFailure(f'{name}: unknown order "{order}", use "asc" or "desc"')
    return order == "desc"


def b_sort(rt: Runtime, a: list[Any]) -> list[Any]:
    _arity("sort", a, 1, 2)
    items = _array("sort", a[0])
    rt.spend(len(items))
    desc = _order("sort", a[1]) if len(a) == 2 else False
    return sorted(items, key=_sort_key(items, "sort"), reverse=desc)


def b_reverse(rt: Runtime, a: list[Any]) -> list[Any]:
    _arity("reverse", a, 1)
    return list(reversed(_array("reverse", a[0])))


def b_uniq(rt: Runtime, a: list[Any]) -> list[Any]:
    _arity("uniq", a, 1)
    out: list[Any] = []
    items = _array("uniq", a[0])
    rt.spend(len(items))
    for x in items:
        if not any(values.equal(x, y) for y in out):
            out.append(x)
            rt.spend(len(out) // 64)
    return out


def b_concat(rt: Runtime, a: list[Any]) -> list[Any]:
    out: list[Any] = []
    for arr in a:
        out.extend(_array("concat", arr))
        _check_size(rt, len(out), "concat result")
    return out


def b_flatten(rt: Runtime, a: list[Any]) -> list[Any]:
    _arity("flatten", a, 1)
    out: list[Any] = []

    def walk(v: list[Any], depth: int) -> None:
        if depth > 100:
            raise ValueFailure("flatten: array nested too deeply")
        for x in v:
            if isinstance(x, list):
                walk(x, depth + 1)
            else:
                out.append(x)
        _check_size(rt, len(out), "flatten result")

    walk(_array("flatten", a[0]), 0)
    return out


# -- time ---------------------------------------------------------------------------------------
def b_now(rt: Runtime, a: list[Any]) -> gotime.TimeValue:
    _arity("now", a, 0, 1)
    t = rt.now()
    if a:
        if not isinstance(a[0], gotime.LocationValue):
            raise ValueFailure("invalid argument for now (expected a timezone())")
        return t.m_In(a[0])
    return t


def b_duration(rt: Runtime, a: list[Any]) -> gotime.DurationValue:
    _arity("duration", a, 1)
    return gotime.DurationValue(gotime.parse_duration(_str("duration", a[0])))


def b_timezone(rt: Runtime, a: list[Any]) -> gotime.LocationValue:
    _arity("timezone", a, 1)
    return gotime.load_location(_str("timezone", a[0]))


def b_date(rt: Runtime, a: list[Any]) -> gotime.TimeValue:
    if a and isinstance(a[0], gotime.LocationValue):
        tz = a[0].tz
        a = a[1:]
    else:
        tz = None
    _arity("date", a, 1, 3)
    text = a[0]
    if isinstance(text, gotime.TimeValue):
        return text
    text = _str("date", text)
    if len(a) >= 2:
        layout = _str("date", a[1])
        if len(a) == 3:
            tz = gotime.load_location(_str("date", a[2])).tz
        return gotime.parse_time(layout, text, tz)
    for layout in gotime.DEFAULT_LAYOUTS:
        try:
            return gotime.parse_time(layout, text, tz)
        except gotime.TimeError:
            continue
    raise ValueFailure(f"invalid date {text}")


# -- predicates ---------------------------------------------------------------------------------
def _items(name: str, v: Any) -> list[Any]:
    if isinstance(v, list):
        return v
    if isinstance(v, dict):
        return list(v.values())
    raise ValueFailure(f"cannot iterate over {type_name(v)} in {name}")


def _bool(name: str, v: Any) -> bool:
    if not isinstance(v, bool):
        raise ValueFailure(f"{name}: the predicate must return a bool, got {type_name(v)}")
    return v


def p_all(rt: Runtime, coll: Any, preds: list[Pred], extra: list[Any]) -> bool:
    return all(_bool("all", preds[0](x, i)) for i, x in enumerate(_items("all", coll)))


def p_any(rt: Runtime, coll: Any, preds: list[Pred], extra: list[Any]) -> bool:
    return any(_bool("any", preds[0](x, i)) for i, x in enumerate(_items("any", coll)))


def p_none(rt: Runtime, coll: Any, preds: list[Pred], extra: list[Any]) -> bool:
    return not any(_bool("none", preds[0](x, i)) for i, x in enumerate(_items("none", coll)))


def p_one(rt: Runtime, coll: Any, preds: list[Pred], extra: list[Any]) -> bool:
    count = 0
    for i, x in enumerate(_items("one", coll)):
        if _bool("one", preds[0](x, i)):
            count += 1
            if count > 1:
                return False
    return count == 1


def p_filter(rt: Runtime, coll: Any, preds: list[Pred], extra: list[Any]) -> list[Any]:
    return [x for i, x in enumerate(_items("filter", coll)) if _bool("filter", preds[0](x, i))]


def p_map(rt: Runtime, coll: Any, preds: list[Pred], extra: list[Any]) -> list[Any]:
    return [preds[0](x, i) for i, x in enumerate(_items("map", coll))]


def p_count(rt: Runtime, coll: Any, preds: list[Pred], extra: list[Any]) -> int:
    items = _items("count", coll)
    if not preds:
        return sum(1 for x in items if _bool("count", x))
    return sum(1 for i, x in enumerate(items) if _bool("count", preds[0](x, i)))


def p_sum(rt: Runtime, coll: Any, preds: list[Pred], extra: list[Any]) -> Any:
    items = _items("sum", coll)
    nums = [preds[0](x, i) for i, x in enumerate(items)] if preds else items
    total: Any = 0
    for v in nums:
        if not is_number(v):
            raise ValueFailure(f"sum: cannot add {type_name(v)}")
        total = values.add(total, v, rt.max_string)
    return total


def p_find(rt: Runtime, coll: Any, preds: list[Pred], extra: list[Any]) -> Any:
    for i, x in enumerate(_items("find", coll)):
        if _bool("find", preds[0](x, i)):
            return x
    return None


def p_find_index(rt: Runtime, coll: Any, preds: list[Pred], extra: list[Any]) -> int:
    for i, x in enumerate(_items("findIndex", coll)):
        if _bool("findIndex", preds[0](x, i)):
            return i
    return -1


def p_find_last(rt: Runtime, coll: Any, preds: list[Pred], extra: list[Any]) -> Any:
    items = _items("findLast", coll)
    for i in range(len(items) - 1, -1, -1):
        if _bool("findLast", preds[0](items[i], i)):
            return items[i]
    return None


def p_find_last_index(rt: Runtime, coll: Any, preds: list[Pred], extra: list[Any]) -> int:
    items = _items("findLastIndex", coll)
    for i in range(len(items) - 1, -1, -1):
        if _bool("findLastIndex", preds[0](items[i], i)):
            return i
    return -1


def p_group_by(rt: Runtime, coll: Any, preds: list[Pred], extra: list[Any]) -> dict[Any, Any]:
    out: dict[Any, list[Any]] = {}
    for i, x in enumerate(_items("groupBy", coll)):
        out.setdefault(_hashable(preds[0](x, i)), []).append(x)
    return out


def p_sort_by(rt: Runtime, coll: Any, preds: list[Pred], extra: list[Any]) -> list[Any]:
    items = _items("sortBy", coll)
    desc = _order("sortBy", extra[0]) if extra else False
    keyed = [(preds[0](x, i), x) for i, x in enumerate(items)]
    rt.spend(len(keyed))
    key = _sort_key([k for k, _ in keyed], "sortBy")
    keyed.sort(key=lambda kv: key(kv[0]), reverse=desc)
    return [x for _, x in keyed]


_NO_INITIAL = object()


def p_reduce(rt: Runtime, coll: Any, preds: list[Pred], extra: list[Any]) -> Any:
    items = _items("reduce", coll)
    if extra:
        acc, start = extra[0], 0
    else:
        if not items:
            raise ValueFailure("reduce of empty array with no initial value")
        acc, start = items[0], 1
    for i in range(start, len(items)):
        acc = preds[0](items[i], i, acc)
    return acc


BUILTINS: dict[str, Callable[[Runtime, list[Any]], Any]] = {
    "len": b_len,
    "type": b_type,
    "abs": b_abs,
    "ceil": b_ceil,
    "floor": b_floor,
    "round": b_round,
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
    "max": b_max,
    "min": b_min,
    "mean": b_mean,
    "median": b_median,
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
    "bitand": b_bitand,
    "bitor": b_bitor,
    "bitxor": b_bitxor,
    "bitnand": b_bitnand,
    "bitnot": b_bitnot,
    "bitshl": b_bitshl,
    "bitshr": b_bitshr,
    "bitushr": b_bitushr,
}

PREDICATE_BUILTINS: dict[str, Callable[[Runtime, Any, list[Pred], list[Any]], Any]] = {
    "all": p_all,
    "any": p_any,
    "none": p_none,
    "one": p_one,
    "filter": p_filter,
    "map": p_map,
    "count": p_count,
    "sum": p_sum,
    "find": p_find,
    "findIndex": p_find_index,
    "findLast": p_find_last,
    "findLastIndex": p_find_last_index,
    "groupBy": p_group_by,
    "sortBy": p_sort_by,
    "reduce": p_reduce,
}
