"""Runtime operations of the evaluator: member access, slicing, `in`, regexes, calls, ranges.

`kargo.expressions.lang` compiles nodes into closures that call these. Each raises
`EvalFailure` with the node's offset, or `ValueFailure` for the enclosing node to locate.
"""

from __future__ import annotations

import functools
from typing import Any

import re2  # type: ignore[import-untyped]

from kargo import errors
from kargo.expressions import gotime, values
from kargo.expressions.errors import EvalFailure
from kargo.expressions.objects import ExprObject
from kargo.expressions.support import Runtime
from kargo.expressions.values import ValueFailure, type_name


class ChainNil(Exception):
    """`?.` met nil; the enclosing chain evaluates to nil."""


# -- runtime helpers ----------------------------------------------------------------------------
def fetch(obj: Any, key: Any, pos: int, optional: bool) -> Any:
    if isinstance(obj, dict):
        try:
            return obj.get(key)
        except TypeError:
            raise EvalFailure(f"invalid map key (type {type_name(key)})", pos) from None
    if isinstance(obj, list | str):
        if not values.is_int(key):
            raise EvalFailure(f"cannot use {type_name(key)} as an index to {type_name(obj)}", pos)
        i = key + len(obj) if key < 0 else key
        if not 0 <= i < len(obj):
            raise EvalFailure(f"index out of range: {key} (array length is {len(obj)})", pos)
        return obj[i]
    if obj is None:
        if optional:
            raise ChainNil
        raise EvalFailure(f"cannot fetch {show_key(key)} from nil", pos)
    if isinstance(obj, ExprObject) and isinstance(key, str):
        try:
            return obj.get_field(key)
        except KeyError:
            raise EvalFailure(f"type {obj.expr_type()} has no field {key}", pos) from None
    raise EvalFailure(f"cannot fetch {show_key(key)} from {type_name(obj)}", pos)


def show_key(key: Any) -> str:
    return key if isinstance(key, str) else values.go_v(key)


def slice(obj: Any, lo: Any, hi: Any, pos: int) -> Any:
    if not isinstance(obj, list | str):
        raise EvalFailure(f"cannot slice {type_name(obj)}", pos)
    length = len(obj)
    a = 0 if lo is None else lo
    b = length if hi is None else hi
    if not (values.is_int(a) and values.is_int(b)):
        raise EvalFailure("slice bounds must be integers", pos)
    if a < 0:
        a = max(length + a, 0)
    if b < 0:
        b = max(length + b, 0)
    b = min(b, length)
    a = min(a, b)
    return obj[a:b]


def contains_item(needle: Any, haystack: Any) -> bool:
    if isinstance(haystack, list):
        return any(values.equal(needle, x) for x in haystack)
    if isinstance(haystack, dict):
        try:
            return needle in haystack
        except TypeError:
            return False
    if haystack is None:
        return False
    if isinstance(haystack, ExprObject) and isinstance(needle, str):
        try:
            haystack.get_field(needle)
        except KeyError:
            return False
        return True
    raise ValueFailure(f'operator "in" not defined on {type_name(haystack)}')


@functools.lru_cache(maxsize=512)
def regex(pattern: str) -> Any:
    options = re2.Options()
    options.log_errors = False
    try:
        return re2.compile(pattern, options=options)
    except re2.error as err:
        detail = err.args[0].decode() if err.args and isinstance(err.args[0], bytes) else err
        raise ValueFailure(f"error parsing regexp: {detail}: `{pattern}`") from None


def string_pair(op: str, a: Any, b: Any) -> tuple[str, str]:
    if isinstance(a, str) and isinstance(b, str):
        return a, b
    raise ValueFailure(
        f"invalid operation: {op} (mismatched types {type_name(a)} and {type_name(b)})"
    )


def call_function(fn: Any, name: str, args: list[Any], pos: int) -> Any:
    if fn is None:
        raise EvalFailure(f"unknown function {name}()", pos)
    if isinstance(fn, type) or not callable(fn) or isinstance(fn, ExprObject):
        raise EvalFailure(f"{name} is not a function (it is {type_name(fn)})", pos)
    try:
        return fn(*args)
    except errors.ExpressionError as err:
        raise EvalFailure(f"{name}(): {first_line(err.message)}", pos) from None
    except (ValueFailure, gotime.TimeError) as err:
        raise EvalFailure(f"{name}(): {err}", pos) from None
    except errors.KargoError as err:
        raise EvalFailure(f"{name}(): {err.message}", pos) from None
    except TypeError as err:
        raise EvalFailure(f"{name}(): invalid arguments ({err})", pos) from None


def first_line(message: str) -> str:
    return message.split("\n", 1)[0]


def contains_text(a: Any, b: Any) -> bool:
    x, y = string_pair("contains", a, b)
    return y in x


def matches(a: Any, b: Any) -> bool:
    x, y = string_pair("matches", a, b)
    return regex(y).search(x) is not None


def make_range(s: Runtime, a: Any, b: Any) -> list[int]:
    if not (values.is_int(a) and values.is_int(b)):
        raise ValueFailure(
            f"invalid operation: .. (mismatched types {type_name(a)} and {type_name(b)})"
        )
    size = b - a + 1
    if size > s.max_items:
        raise ValueFailure(f"range {a}..{b} has {size} elements; the limit is {s.max_items}")
    if size <= 0:
        return []
    s.spend(max(1, size // 16))
    return list(range(a, b + 1))
