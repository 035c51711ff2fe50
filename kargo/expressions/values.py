"""Runtime semantics of expression values: types, equality, ordering, arithmetic, JSON, %v.

Values are JSON-like (None, bool, int, float, str, list, dict) plus `ExprObject`s. The rules
are expr-lang's (which are Go's): ints are 64-bit and wrap, `/` is always float, `%` needs
ints and truncates toward zero, `**` is always float, `==` never equates a bool with a number,
and JSON is what Go's encoding/json writes (sorted keys, HTML-escaped, `3` for a float 3.0).
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

from kargo.expressions import gotime
from kargo.expressions.objects import ExprObject

INT_MIN = -(2**63)
INT_MAX = 2**63 - 1


class ValueFailure(Exception):
    """A value-level failure (wrong types, bad conversion); located by the evaluator."""


def type_name(v: Any) -> str:
    """The Go-ish type name used in messages and by `type()`."""
    if v is None:
        return "nil"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "map"
    if isinstance(v, ExprObject):
        return v.expr_type()
    if callable(v):
        return "func"
    return "unknown"


def is_number(v: Any) -> bool:
    """An int or float, never a bool."""
    return isinstance(v, int | float) and not isinstance(v, bool)


def is_int(v: Any) -> bool:
    """An int, never a bool."""
    return isinstance(v, int) and not isinstance(v, bool)


def wrap_int(i: int) -> int:
    """Two's-complement 64-bit wrap, as Go's int."""
    if INT_MIN <= i <= INT_MAX:
        return i
    return (i - INT_MIN) % 2**64 + INT_MIN


def _mismatch(op: str, a: Any, b: Any) -> ValueFailure:
    return ValueFailure(
        f"invalid operation: {op} (mismatched types {type_name(a)} and {type_name(b)})"
    )


def add(a: Any, b: Any, max_len: int) -> Any:
    """`a + b`."""
    if is_int(a) and is_int(b):
        return wrap_int(a + b)
    if is_number(a) and is_number(b):
        return float(a) + float(b)
    if isinstance(a, str) and isinstance(b, str):
        if len(a) + len(b) > max_len:
            raise ValueFailure(f"string longer than the limit of {max_len} characters")
        return a + b
    if isinstance(a, gotime.TimeValue) and isinstance(b, gotime.DurationValue):
        return gotime.add_duration(a, b.ns)
    if isinstance(a, gotime.DurationValue) and isinstance(b, gotime.TimeValue):
        return gotime.add_duration(b, a.ns)
    if isinstance(a, gotime.DurationValue) and isinstance(b, gotime.DurationValue):
        return gotime.DurationValue(wrap_int(a.ns + b.ns))
    raise _mismatch("+", a, b)


def sub(a: Any, b: Any) -> Any:
    """`a - b`."""
    if is_int(a) and is_int(b):
        return wrap_int(a - b)
    if is_number(a) and is_number(b):
        return float(a) - float(b)
    if isinstance(a, gotime.TimeValue) and isinstance(b, gotime.TimeValue):
        return gotime.DurationValue(gotime.sub_times(a, b))
    if isinstance(a, gotime.TimeValue) and isinstance(b, gotime.DurationValue):
        return gotime.add_duration(a, -b.ns)
    if isinstance(a, gotime.DurationValue) and isinstance(b, gotime.DurationValue):
        return gotime.DurationValue(wrap_int(a.ns - b.ns))
    raise _mismatch("-", a, b)


def mul(a: Any, b: Any) -> Any:
    """`a * b`."""
    if is_int(a) and is_int(b):
        return wrap_int(a * b)
    if is_number(a) and is_number(b):
        return float(a) * float(b)
    if isinstance(a, gotime.DurationValue) and is_number(b):
        return gotime.DurationValue(wrap_int(int(a.ns * b)))
    if is_number(a) and isinstance(b, gotime.DurationValue):
        return gotime.DurationValue(wrap_int(int(a * b.ns)))
    raise _mismatch("*", a, b)


def div(a: Any, b: Any) -> float:
    """`a / b`: always a float; division by zero gives ±Inf or NaN as in Go."""
    if not (is_number(a) and is_number(b)):
        raise _mismatch("/", a, b)
    x, y = float(a), float(b)
    if y == 0.0:
        if x == 0.0 or math.isnan(x):
            return math.nan
        return math.copysign(math.inf, x) * math.copysign(1.0, y)
    return x / y


def mod(a: Any, b: Any) -> int:
    """`a % b`: ints only, truncated toward zero (Go's remainder)."""
    if not (is_int(a) and is_int(b)):
        raise _mismatch("%", a, b)
    if b == 0:
        raise ValueFailure("integer divide by zero")
    r: int = abs(a) % abs(b)
    return -r if a < 0 else r


def power(a: Any, b: Any) -> float:
    """`a ** b` / `a ^ b`: Go's math.Pow, always a float."""
    if not (is_number(a) and is_number(b)):
        raise _mismatch("**", a, b)
    try:
        return math.pow(float(a), float(b))
    except OverflowError:
        odd = float(b).is_integer() and int(b) % 2 == 1
        return -math.inf if a < 0 and odd else math.inf
    except ValueError:
        return math.inf if float(a) == 0.0 else math.nan


def negate(a: Any) -> Any:
    """Unary minus."""
    if is_int(a):
        return wrap_int(-a)
    if isinstance(a, float):
        return -a
    if isinstance(a, gotime.DurationValue):
        return gotime.DurationValue(-a.ns)
    raise ValueFailure(f"invalid operation: - (mismatched type {type_name(a)})")


def equal(a: Any, b: Any) -> bool:
    """expr's runtime.Equal: numbers compare across int/float; otherwise deep, type-strict."""
    if is_number(a) and is_number(b):
        return bool(a == b)
    return deep_equal(a, b)


def deep_equal(a: Any, b: Any) -> bool:
    """Go's reflect.DeepEqual over JSON-like values (1 != 1.0 inside collections)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(deep_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(deep_equal(a[k], b[k]) for k in a)
    if isinstance(a, float) and math.isnan(a):
        return False
    return bool(a == b)


def less(a: Any, b: Any, op: str = "<") -> bool:
    """Ordering for numbers, strings, times and durations."""
    if is_number(a) and is_number(b):
        return bool(a < b)
    if isinstance(a, str) and isinstance(b, str):
        return a < b
    if isinstance(a, gotime.TimeValue) and isinstance(b, gotime.TimeValue):
        return a.dt < b.dt
    if isinstance(a, gotime.DurationValue) and isinstance(b, gotime.DurationValue):
        return a.ns < b.ns
    raise _mismatch(op, a, b)


def compare(op: str, a: Any, b: Any) -> bool:
    """`<`, `>`, `<=`, `>=`."""
    if op == "<":
        return less(a, b, op)
    if op == ">":
        return less(b, a, op)
    if op == "<=":
        return less(a, b, op) or equal(a, b)
    return less(b, a, op) or equal(a, b)


def truthy_bool(v: Any, what: str) -> bool:
    """A value that must be a bool (conditions, `and`, `or`, `not`)."""
    if isinstance(v, bool):
        return v
    raise ValueFailure(f"{what}: expected bool, got {type_name(v)}")


# -- JSON as Go writes it -----------------------------------------------------------------------
def go_float_json(f: float) -> str:
    """Go encoding/json float formatting ('f' for 1e-6 <= |f| < 1e21, else 'e', shortest)."""
    if math.isnan(f) or math.isinf(f):
        raise ValueFailure(f"json: unsupported value: {go_float_v(f)}")
    if f == 0:
        return "-0" if math.copysign(1.0, f) < 0 else "0"
    a = abs(f)
    if 1e-6 <= a < 1e21:
        text = format(Decimal(repr(f)), "f")
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        return text
    mant, _, e = f"{Decimal(repr(f)):e}".partition("e")
    n = int(e)
    return f"{mant}e{'-' if n < 0 else '+'}{abs(n)}"


def go_float_v(f: float) -> str:
    """Go fmt %v for a float64: shortest %g (1e+06, 1.5, 1.8446744073709552e+19)."""
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    if f == 0:
        return "-0" if math.copysign(1.0, f) < 0 else "0"
    d = Decimal(repr(f))
    exp = d.adjusted()
    if exp < -4 or exp >= 6:  # strconv: shortest %g switches to %e at precision 6
        mant, _, e = f"{d:e}".partition("e")
        if "." in mant:
            mant = mant.rstrip("0").rstrip(".")
        n = int(e)
        return f"{mant}e{'-' if n < 0 else '+'}{abs(n):02d}"
    text = format(d, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def to_plain(v: Any) -> Any:
    """Replace ExprObjects by their JSON form, recursively."""
    if isinstance(v, ExprObject):
        return to_plain(v.to_json())
    if isinstance(v, list):
        return [to_plain(x) for x in v]
    if isinstance(v, dict):
        return {(k if isinstance(k, str) else map_key_string(k)): to_plain(x) for k, x in v.items()}
    return v


def map_key_string(k: Any) -> str:
    """Go marshals int/float/bool map keys as their text."""
    if isinstance(k, bool):
        return "true" if k else "false"
    if isinstance(k, float):
        return go_float_v(k)
    if k is None:
        return ""
    return str(k)


def _enc(v: Any, out: list[str], indent: str | None, level: int) -> None:
    if v is None:
        out.append("null")
    elif v is True:
        out.append("true")
    elif v is False:
        out.append("false")
    elif isinstance(v, int):
        out.append(str(v))
    elif isinstance(v, float):
        out.append(go_float_json(v))
    elif isinstance(v, str):
        out.append(_go_json_string(v))
    elif isinstance(v, ExprObject):
        _enc(v.to_json(), out, indent, level)
    elif isinstance(v, list):
        if not v:
            out.append("[]")
            return
        out.append("[")
        for i, item in enumerate(v):
            if i:
                out.append(",")
            if indent is not None:
                out.append("\n" + indent * (level + 1))
            _enc(item, out, indent, level + 1)
        if indent is not None:
            out.append("\n" + indent * level)
        out.append("]")
    elif isinstance(v, dict):
        if not v:
            out.append("{}")
            return
        out.append("{")
        items = sorted(
            ((map_key_string(k) if not isinstance(k, str) else k), x) for k, x in v.items()
        )
        for i, (k, x) in enumerate(items):
            if i:
                out.append(",")
            if indent is not None:
                out.append("\n" + indent * (level + 1))
            out.append(_go_json_string(k))
            out.append(": " if indent is not None else ":")
            _enc(x, out, indent, level + 1)
        if indent is not None:
            out.append("\n" + indent * level)
        out.append("}")
    else:
        raise ValueFailure(f"json: unsupported type: {type_name(v)}")


def _go_json_string(s: str) -> str:
    text = json.dumps(s, ensure_ascii=False)
    if any(c in text for c in "<>&\u2028\u2029"):
        text = (
            text.replace("<", "\\u003c")
            .replace(">", "\\u003e")
            .replace("&", "\\u0026")
            .replace("\u2028", "\\u2028")
            .replace("\u2029", "\\u2029")
        )
    return text


def go_json(v: Any, indent: str | None = None) -> str:
    """Go's json.Marshal (indent=None) or json.MarshalIndent(v, "", indent)."""
    out: list[str] = []
    try:
        _enc(v, out, indent, 0)
    except RecursionError:
        raise ValueFailure("json: value nested too deeply") from None
    return "".join(out)


def go_v(v: Any) -> str:
    """Go's fmt %v, used by `string()`."""
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return go_float_v(v)
    if isinstance(v, str):
        return v
    if isinstance(v, list):
        return "[" + " ".join(go_v(x) for x in v) + "]"
    if isinstance(v, dict):
        items = sorted(
            (map_key_string(k) if not isinstance(k, str) else k, x) for k, x in v.items()
        )
        return "map[" + " ".join(f"{k}:{go_v(x)}" for k, x in items) + "]"
    if isinstance(v, ExprObject):
        return v.go_string()
    return type_name(v)
