# ruff: noqa: ARG001 - every predicate builtin has the same (rt, coll, preds, extra) signature
"""expr-lang's predicate builtins: `filter(xs, # > 1)`, `map`, `all`, `reduce`, `sortBy`...

Each is `fn(rt, collection, closures, extra_args)`; a closure is `pred(item, index[, acc])`
built by `kargo.expressions.lang`, which charges the step budget on every call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kargo.expressions import values
from kargo.expressions.builtins import hashable, order_desc, sort_key
from kargo.expressions.support import (
    Pred,
    Runtime,
)
from kargo.expressions.values import ValueFailure, is_number, type_name


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


def p_find_index(rt: Runtime, coll: Any, preds: list[Pred], extra: list[Any]) -> int | None:
    for i, x in enumerate(_items("findIndex", coll)):
        if _bool("findIndex", preds[0](x, i)):
            return i
    return None  # expr pushes nil when nothing matches


def p_find_last(rt: Runtime, coll: Any, preds: list[Pred], extra: list[Any]) -> Any:
    items = _items("findLast", coll)
    for i in range(len(items) - 1, -1, -1):
        if _bool("findLast", preds[0](items[i], i)):
            return items[i]
    return None


def p_find_last_index(rt: Runtime, coll: Any, preds: list[Pred], extra: list[Any]) -> int | None:
    items = _items("findLastIndex", coll)
    for i in range(len(items) - 1, -1, -1):
        if _bool("findLastIndex", preds[0](items[i], i)):
            return i
    return None  # expr pushes nil when nothing matches


def p_group_by(rt: Runtime, coll: Any, preds: list[Pred], extra: list[Any]) -> dict[Any, Any]:
    out: dict[Any, list[Any]] = {}
    for i, x in enumerate(_items("groupBy", coll)):
        out.setdefault(hashable(preds[0](x, i)), []).append(x)
    return out


def p_sort_by(rt: Runtime, coll: Any, preds: list[Pred], extra: list[Any]) -> list[Any]:
    items = _items("sortBy", coll)
    desc = order_desc("sortBy", extra[0]) if extra else False
    keyed = [(preds[0](x, i), x) for i, x in enumerate(items)]
    rt.spend(len(keyed))
    key = sort_key([k for k, _ in keyed], "sortBy")
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
