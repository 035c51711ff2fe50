"""`${{ }}` templates in configuration values, with Kargo's result-typing rules.

`evaluate_template(value, env)` walks dicts and lists (values only, never keys) and evaluates
every string that contains `${{ expr }}` or `${% expr %}` (several per string allowed); other
strings come back untouched, so "42" stays a string. Each expression's result is appended to
the output as-is when it is a string and as Go's JSON otherwise. The concatenated text is then
typed exactly as Kargo's EvaluateTemplate does (pkg/expressions/json_templates.go):

1. one trailing newline is removed (YAML `|` blocks add it);
2. text wrapped in double quotes loses the quotes and stays a string (`quote()` uses this;
   escapes inside are kept as written, as Kargo does); the newline is put back;
3. text Go's strconv.ParseFloat accepts becomes a number: an int when it is integral and
   |n| < 2**53 (so YAML writes 3, not 3.0; JSON output is identical to Kargo's), else a float;
4. text Go's strconv.ParseBool accepts (true, false, t, F, TRUE...) becomes a bool;
5. valid JSON becomes its value (object, array, null; integral floats inside become ints);
6. anything else is the string, with its newline put back.

The helpers `quote`, `unsafeQuote`, `asYAML` and `asJSON` are always available; an env that
defines `quote`, `asYAML` or `asJSON` is rejected (`validate_env`).
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Mapping
from typing import Any

import yaml

from kargo import clock as clock_mod, errors
from kargo.expressions import builtins, lang, values

FORBIDDEN_ENV_KEYS = ("quote", "asYAML", "asJSON")
DELIMITERS = (("${{", "}}"), ("${%", "%}"))
_GO_BOOLS = {
    "1": True,
    "t": True,
    "T": True,
    "TRUE": True,
    "true": True,
    "True": True,
    "0": False,
    "f": False,
    "F": False,
    "FALSE": False,
    "false": False,
    "False": False,
}
_MAX_EXACT_INT = 2**53
_JSON_STARTS = frozenset('[{"-0123456789tfn')


def contains_expression(s: str) -> bool:
    """Whether `s` holds a `${{` or `${%` delimiter (and so would be evaluated)."""
    return "${{" in s or "${%" in s


def validate_env(env: Mapping[str, Any]) -> None:
    """Reject an env that would shadow the template helpers."""
    for key in FORBIDDEN_ENV_KEYS:
        if key in env:
            raise errors.ExpressionError(
                f'"{key}" is a forbidden key in the environment map; it is reserved for '
                "internal use (rename the variable)"
            )


# -- helpers -------------------------------------------------------------------------------------
def go_quote(s: str) -> str:
    """Go's strconv.Quote (fmt %q of a string)."""
    out = ['"']
    for ch in s:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch in "\a\b\f\n\r\t\v":
            out.append("\\" + "abfnrtv"["\a\b\f\n\r\t\v".index(ch)])
        elif ch.isprintable():
            out.append(ch)
        elif code < 0x80:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def _json_or_fail(v: Any, fn: str, indent: str | None = None) -> str:
    try:
        return values.go_json(v, indent)
    except values.ValueFailure as err:
        raise values.ValueFailure(f"error applying {fn}() function: {err}") from None


def quote(v: Any) -> str:
    """Force a string: Go %q for strings, else `"` + JSON + `"`."""
    if isinstance(v, str):
        return go_quote(v)
    return unsafe_quote(v)


def unsafe_quote(v: Any) -> str:
    """`"` + JSON(v) + `"`: for a string the JSON quotes stay visible."""
    return '"' + _json_or_fail(v, "unsafeQuote") + '"'


def as_json(v: Any) -> str:
    """Pretty JSON (2-space indent) with a trailing newline, kept a string."""
    return '"' + _json_or_fail(v, "asJSON", "  ") + '\n"'


class _GoYAMLDumper(yaml.SafeDumper):
    """Close to Go's yaml.v3 Marshal: 4-space indent, sequences indented under their key,
    multi-line strings as literal blocks."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:  # noqa: ARG002
        super().increase_indent(flow, False)


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data.rstrip("\n") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_GoYAMLDumper.add_representer(str, _represent_str)


def as_yaml(v: Any) -> str:
    """YAML text (sorted keys, block style, 4-space indent), kept a string."""
    plain = values.to_plain(v)
    text = yaml.dump(
        plain,
        Dumper=_GoYAMLDumper,
        default_flow_style=False,
        sort_keys=True,
        allow_unicode=True,
        indent=4,
        width=2**31,
    )
    if text.endswith("\n...\n"):
        text = text[: -len("...\n")]
    if plain == {} or plain == []:
        text = "{}\n" if plain == {} else "[]\n"
    return '"' + text + '"'


HELPERS: dict[str, Callable[[Any], str]] = {
    "quote": quote,
    "unsafeQuote": unsafe_quote,
    "asYAML": as_yaml,
    "asJSON": as_json,
}


# -- evaluation ----------------------------------------------------------------------------------
def _next_expression(template: str) -> tuple[str, str | None, str]:
    """(before, expression or None, after) for the earliest delimiter."""
    best: tuple[int, str, str] | None = None
    for start, end in DELIMITERS:
        i = template.find(start)
        if i >= 0 and (best is None or i < best[0]):
            best = (i, start, end)
    if best is None:
        return "", None, template
    i, start, end = best
    expr_start = i + len(start)
    j = template.find(end, expr_start)
    if j < 0:
        raise errors.ExpressionError(
            f'unclosed expression: expected "{end}" but reached end of template'
        )
    return template[:i], template[expr_start:j], template[j + len(end) :]


@functools.lru_cache(maxsize=8192)
def _template_parts(template: str) -> tuple[tuple[str, lang.Program | None], ...]:
    """The literal text and compiled expression of each segment (cached by template)."""
    parts: list[tuple[str, lang.Program | None]] = []
    rest = template
    while True:
        before, expression, rest = _next_expression(rest)
        if expression is None:
            parts.append((before + rest, None))
            return tuple(parts)
        parts.append((before, lang.compile(expression)))


def _render(template: str, env: Mapping[str, Any], clock: clock_mod.Clock | None) -> str:
    out: list[str] = []
    for text, program in _template_parts(template):
        out.append(text)
        if program is None:
            continue
        result = program.run(env, clock=clock)
        if isinstance(result, str):
            out.append(result)
        else:
            try:
                out.append(values.go_json(result))
            except values.ValueFailure as err:
                raise errors.ExpressionError(f"{err}\n | {program.source}") from None
    return "".join(out)


def _number(text: str) -> int | float | None:
    f = builtins.parse_go_float(text)
    if f is None:
        return None
    if math.isfinite(f) and f.is_integer() and abs(f) < _MAX_EXACT_INT:
        return int(f)
    return f


def _normalize(v: Any) -> Any:
    if isinstance(v, float) and v.is_integer() and abs(v) < _MAX_EXACT_INT:
        return int(v)
    if isinstance(v, list):
        return [_normalize(x) for x in v]
    if isinstance(v, dict):
        return {k: _normalize(x) for k, x in v.items()}
    return v


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


def type_result(result: str) -> Any:
    """Kargo's typing of a rendered template string (rules 1-6 in the module docstring)."""
    removed_newline = result.endswith("\n")
    if removed_newline:
        result = result[:-1]
    if len(result) > 1 and result.startswith('"') and result.endswith('"'):
        return result[1:-1] + ("\n" if removed_newline else "")
    number = _number(result)
    if number is not None:
        return number
    if result in _GO_BOOLS:
        return _GO_BOOLS[result]
    if result.lstrip(" \t\r\n")[:1] in _JSON_STARTS:
        try:
            return _normalize(json.loads(result, parse_constant=_reject_constant))
        except (ValueError, RecursionError):
            pass
    return result + ("\n" if removed_newline else "")


def evaluate_string(
    template: str, env: Mapping[str, Any], *, clock: clock_mod.Clock | None = None
) -> Any:
    """Evaluate one string value (untouched when it holds no delimiter)."""
    if not contains_expression(template):
        return template
    full = {**env, **HELPERS}
    return type_result(_render(template, full, clock))


def evaluate_template(
    value: Any,
    env: Mapping[str, Any],
    *,
    clock: clock_mod.Clock | None = None,
    path: str = "",
) -> Any:
    """Evaluate every string value inside `value` (dicts and lists recursively, never keys).

    Returns a new structure; `value` is not modified. Errors are `ExpressionError`s whose
    message starts with the path of the failing value (e.g. `config.images[0].tag`).
    """
    validate_env(env)
    full = {**env, **HELPERS}
    try:
        return _walk(value, full, clock)
    except _PathFailure as failure:
        where = path + "".join(
            f"[{seg}]" if isinstance(seg, int) else (f".{seg}" if path or i else str(seg))
            for i, seg in enumerate(reversed(failure.segments))
        )
        message = failure.error.message
        raise errors.ExpressionError(f"{where}: {message}" if where else message) from None


class _PathFailure(Exception):
    """Internal: an ExpressionError on its way up, collecting the path segments."""

    def __init__(self, error: errors.ExpressionError) -> None:
        super().__init__(error.message)
        self.error = error
        self.segments: list[str | int] = []


def _walk(value: Any, env: dict[str, Any], clock: clock_mod.Clock | None) -> Any:
    if isinstance(value, str):
        if "${" not in value or not contains_expression(value):
            return value
        try:
            return type_result(_render(value, env, clock))
        except errors.ExpressionError as err:
            raise _PathFailure(err) from None
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for k, v in value.items():
            try:
                out[k] = _walk(v, env, clock)
            except _PathFailure as failure:
                failure.segments.append(str(k))
                raise
        return out
    if isinstance(value, list):
        items: list[Any] = []
        for i, v in enumerate(value):
            try:
                items.append(_walk(v, env, clock))
            except _PathFailure as failure:
                failure.segments.append(i)
                raise
        return items
    return value
