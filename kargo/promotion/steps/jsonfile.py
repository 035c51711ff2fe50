"""The json step family: json-update and json-parse.

json-update behaves like tidwall/sjson, which Kargo uses: it rewrites only the bytes of the value
it sets and inserts new members next to their siblings with the siblings' spacing, so the rest of
the document keeps its formatting. A small span-recording JSON reader finds where each value
sits; the standard library decodes the scalars.

Neighbours: kargo.promotion.workdir (safe paths, key paths), kargo.expressions.lang (json-parse).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import Field

from kargo import errors
from kargo.promotion import registry as reg, structured, workdir
from kargo.promotion.context import StepContext, StepResult

_Config = structured.StepConfig


class JSONUpdate(_Config):
    """One key to set."""

    key: str = Field(
        min_length=1,
        description="The key to update, in sjson path syntax: dots between parts (`image.tag`), "
        "array indexes as parts (`items.0.name`; `-1` appends; an index past the end pads with "
        "nulls), `:` before a number for an object key (`ports.:8080`), `\\.` for a literal dot.",
    )
    value: Any = Field(
        description="The new value: a string, number, boolean, null, object or array."
    )


class JSONUpdateConfig(_Config):
    """Configuration of json-update."""

    path: str = Field(min_length=1, description="Path to a JSON file, relative to the work dir.")
    updates: list[JSONUpdate] = Field(
        min_length=1, description="The changes to apply to the file; at least one."
    )


class ParseOutput(_Config):
    """One named output of json-parse."""

    name: str = Field(min_length=1, description="The name of the output.")
    from_expression: str = Field(
        min_length=1,
        description="An expression (without `${{ }}`) evaluated against the parsed file.",
    )


class JSONParseConfig(_Config):
    """Configuration of json-parse."""

    path: str = Field(min_length=1, description="Path to a JSON file, relative to the work dir.")
    outputs: list[ParseOutput] = Field(
        min_length=1, description="The outputs to extract from the parsed file."
    )


# ---------------------------------------------------------------------------------------------
# a JSON reader that remembers where every value is


@dataclass
class Span:
    """Where a JSON value sits in the text; members/items for containers."""

    start: int
    end: int
    kind: str  # "object" | "array" | "scalar"
    members: list[tuple[str, int, Span]] = field(default_factory=list)  # (key, key_start, value)
    items: list[Span] = field(default_factory=list)


_WS = " \t\r\n"
_decoder = json.JSONDecoder()


def _skip(text: str, i: int) -> int:
    while i < len(text) and text[i] in _WS:
        i += 1
    return i


def _fail(text: str, i: int, what: str) -> errors.TerminalStepError:
    line = text.count("\n", 0, i) + 1
    col = i - (text.rfind("\n", 0, i) + 1) + 1
    return errors.TerminalStepError(f"invalid JSON at line {line}, column {col}: {what}")


def parse_spans(text: str, i: int = 0) -> Span:
    """Parse the value starting at or after `i`."""
    i = _skip(text, i)
    if i >= len(text):
        raise _fail(text, i, "unexpected end of input")
    char = text[i]
    if char == "{":
        span = Span(i, i, "object")
        j = _skip(text, i + 1)
        if j < len(text) and text[j] == "}":
            span.end = j + 1
            return span
        while True:
            j = _skip(text, j)
            if j >= len(text) or text[j] != '"':
                raise _fail(text, j, "expected a member name")
            key_start = j
            key, j = _decoder.raw_decode(text, j)
            j = _skip(text, j)
            if j >= len(text) or text[j] != ":":
                raise _fail(text, j, "expected ':'")
            value = parse_spans(text, j + 1)
            span.members.append((key, key_start, value))
            j = _skip(text, value.end)
            if j < len(text) and text[j] == ",":
                j += 1
                continue
            if j < len(text) and text[j] == "}":
                span.end = j + 1
                return span
            raise _fail(text, j, "expected ',' or '}'")
    if char == "[":
        span = Span(i, i, "array")
        j = _skip(text, i + 1)
        if j < len(text) and text[j] == "]":
            span.end = j + 1
            return span
        while True:
            value = parse_spans(text, j)
            span.items.append(value)
            j = _skip(text, value.end)
            if j < len(text) and text[j] == ",":
                j += 1
                continue
            if j < len(text) and text[j] == "]":
                span.end = j + 1
                return span
            raise _fail(text, j, "expected ',' or ']'")
    try:
        _, end = _decoder.raw_decode(text, i)
    except json.JSONDecodeError as err:
        raise _fail(text, i, err.msg) from err
    return Span(i, end, "scalar")


# ---------------------------------------------------------------------------------------------
# editing


def _indent_unit(text: str) -> str:
    for line in text.splitlines():
        stripped = line.lstrip(" \t")
        if stripped and len(stripped) < len(line):
            return line[: len(line) - len(stripped)]
    return "  "


def _line_indent(text: str, pos: int) -> str:
    start = text.rfind("\n", 0, pos) + 1
    line = text[start:pos]
    return line[: len(line) - len(line.lstrip(" \t"))]


def _render(text: str, pos: int, value: Any) -> str:
    """`value` as JSON; containers pretty-printed when the file is, indented to fit at `pos`."""
    if not isinstance(value, dict | list) or not value or "\n" not in text:
        return json.dumps(value, ensure_ascii=False)
    rendered = json.dumps(value, ensure_ascii=False, indent=_indent_unit(text))
    newline = "\r\n" if "\r\n" in text else "\n"
    base = _line_indent(text, pos)
    return rendered.replace("\n", newline + base)


# ---------------------------------------------------------------------------------------------
# sjson's path syntax


@dataclass(frozen=True)
class PathPart:
    """One component of an sjson path; `forced` (a leading `:`) makes a number an object key."""

    name: str
    forced: bool = False

    @property
    def index(self) -> int | None:
        """The array index sjson reads from this part (digits, not forced), else None."""
        if self.forced or not self.name.isascii() or not self.name.isdigit():
            return None
        return int(self.name)

    @property
    def appends(self) -> bool:
        """Whether the part is sjson's `-1`: append to an array."""
        return not self.forced and self.name == "-1"


# Setting index n of a shorter array pads it with nulls, as sjson does; a typo such as
# `items.10000000` must not make the controller build a ten-million-element array.
_MAX_PADDING = 10_000


def split_path(key: str) -> list[PathPart]:
    """Split an sjson path: `.` separates parts, `\\` makes the next character literal (`\\.`,
    `\\:`, `\\\\`), and a leading `:` marks a part as an object key even when it is a number.
    """
    key = key.strip()
    if not key:
        raise errors.TerminalStepError("key is empty; give a dot-separated path such as image.tag")
    parts: list[PathPart] = []
    i = 0
    while True:
        forced = key.startswith(":", i)
        i += forced
        name: list[str] = []
        while i < len(key) and key[i] != ".":
            if key[i] == "\\":
                if i + 1 == len(key):
                    raise errors.TerminalStepError(
                        f"key {key!r} ends with a lone backslash; write '\\\\' for a literal one"
                    )
                i += 1
            name.append(key[i])
            i += 1
        if not name:
            raise errors.TerminalStepError(
                f"key {key!r} has an empty part; escape a literal dot in a name as '\\.'"
            )
        parts.append(PathPart("".join(name), forced))
        if i == len(key):
            return parts
        i += 1  # the dot
        if i == len(key):
            raise errors.TerminalStepError(f"key {key!r} ends with a dot")


def _build(key: str, parts: list[PathPart], value: Any) -> Any:
    """The value sjson creates for a missing path: a number or `-1` makes an array (padded with
    nulls up to the index), anything else an object."""
    for part in reversed(parts):
        index = part.index
        if index is not None:
            if index > _MAX_PADDING:
                raise errors.TerminalStepError(
                    f"key {key!r}: index {index} would create an array of {index + 1} elements; "
                    f"use -1 to append, or ':{index}' for an object key"
                )
            value = [None] * index + [value]
        elif part.appends:
            value = [value]
        else:
            value = {part.name: value}
    return value


def _insert_member(text: str, obj: Span, key: str, value: Any) -> str:
    if not obj.members:
        inner = f"{json.dumps(key, ensure_ascii=False)}: {_render(text, obj.start, value)}"
        if "\n" in text[obj.start : obj.end] or "\n" in text:
            newline = "\r\n" if "\r\n" in text else "\n"
            base = _line_indent(text, obj.start)
            unit = _indent_unit(text)
            inner = f"{newline}{base}{unit}{json.dumps(key, ensure_ascii=False)}: " + _render(
                text, obj.start, value
            ).replace(newline, newline + unit)
            return text[: obj.start] + "{" + inner + newline + base + "}" + text[obj.end :]
        return text[: obj.start] + "{" + inner + "}" + text[obj.end :]
    last_key, last_key_start, last_value = obj.members[-1]
    # the whitespace in front of the last member's name, and between its name and its value
    before = text[:last_key_start]
    lead = before[len(before.rstrip(_WS)) :]
    if len(obj.members) == 1 and not lead:
        lead = " "  # {"a": 1} -> {"a": 1, "b": 2}
    key_end = _decoder.raw_decode(text, last_key_start)[1]
    colon = text[key_end : last_value.start]
    rendered = _render(text, last_key_start, value)
    insertion = f",{lead}{json.dumps(key, ensure_ascii=False)}{colon}{rendered}"
    return text[: last_value.end] + insertion + text[last_value.end :]


def _append_items(text: str, arr: Span, values: list[Any]) -> str:
    rendered = [_render(text, arr.start, v) for v in values]
    if not arr.items:
        return text[: arr.start] + "[" + ",".join(rendered) + "]" + text[arr.end :]
    last = arr.items[-1]
    before = text[: last.start]
    lead = before[len(before.rstrip(_WS)) :]
    if len(arr.items) >= 2:
        prev_end = arr.items[-2].end
        between = text[prev_end : last.start]
        lead = between[between.index(",") + 1 :] if "," in between else lead
    insertion = "".join("," + lead + r for r in rendered)
    return text[: last.end] + insertion + text[last.end :]


def _where(parts: list[PathPart], i: int) -> str:
    return ".".join(p.name for p in parts[:i]) or "the top level"


def set_value(text: str, key: str, value: Any) -> str:
    """`text` with the value at `key` set, creating what is missing (sjson semantics)."""
    parts = split_path(key)
    if not text.strip():  # sjson starts an empty document as the container the path needs
        text = ("[]" if parts[0].index is not None else "{}") + text
    span = parse_spans(text)
    for i, part in enumerate(parts):
        rest = parts[i + 1 :]
        if span.kind == "object":
            found = next((m for m in span.members if m[0] == part.name), None)
            if found is None:
                return _insert_member(text, span, part.name, _build(key, rest, value))
            span = found[2]
        elif span.kind == "array":
            # like gjson's lookup, an existing item is found by its digits even after ':'
            if part.name.isascii() and part.name.isdigit() and int(part.name) < len(span.items):
                span = span.items[int(part.name)]
                continue
            if part.index is None and not part.appends:
                hint = (
                    f"':{part.name}' forces an object key, but"
                    if part.forced
                    else f"{part.name!r} is not an array index:"
                )
                raise errors.TerminalStepError(
                    f"key {key!r}: {hint} the value at {_where(parts, i)} is an array; "
                    f"use a number (0 for the first item) or -1 to append"
                )
            padding = 0 if part.index is None else part.index - len(span.items)
            if padding > _MAX_PADDING:
                raise errors.TerminalStepError(
                    f"key {key!r}: index {part.index} is far past the end of the array at "
                    f"{_where(parts, i)} ({len(span.items)} items); use -1 to append"
                )
            return _append_items(text, span, [None] * padding + [_build(key, rest, value)])
        else:  # a scalar in the way: sjson replaces it with the container the path needs
            replacement = _render(text, span.start, _build(key, parts[i:], value))
            return text[: span.start] + replacement + text[span.end :]
    return text[: span.start] + _render(text, span.start, value) + text[span.end :]


def _quote(value: Any) -> str:
    """Go's `%q` for strings and `%v` otherwise, as Kargo's json-update message writes them."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, str | int | float):
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def commit_message(path: str, updates: list[tuple[str, Any]]) -> str:
    """Kargo's json-update commit message fragment."""
    return structured.update_message(path, updates, _quote)


# ---------------------------------------------------------------------------------------------
# steps


def _file(ctx: StepContext, path: str) -> Path:
    return workdir.existing_file(ctx.work_dir, path, "JSON")


def _read(file: Path, path: str) -> str:
    return workdir.read_text(file, path, "JSON")


async def json_update(ctx: StepContext, cfg: JSONUpdateConfig) -> StepResult:
    """Updates the values of keys in a JSON file, keeping its formatting."""
    file = _file(ctx, cfg.path)
    text = _read(file, cfg.path)
    new_text = text
    try:
        for upd in cfg.updates:
            new_text = set_value(new_text, upd.key, upd.value)
    except errors.TerminalStepError as err:
        raise errors.TerminalStepError(f"error updating {cfg.path!r}: {err.message}") from err
    if new_text != text:
        try:
            workdir.replace_text(ctx.work_dir, file, new_text)
        except OSError as err:
            raise errors.TerminalStepError(f"cannot write {cfg.path!r}: {err.strerror}") from err
    message = commit_message(cfg.path, [(u.key, u.value) for u in cfg.updates])
    return StepResult(output={"commitMessage": message})


async def json_parse(ctx: StepContext, cfg: JSONParseConfig) -> StepResult:
    """Parses a JSON file and extracts outputs from it with expressions."""
    file = _file(ctx, cfg.path)
    try:
        data = json.loads(_read(file, cfg.path))
    except json.JSONDecodeError as err:
        raise errors.TerminalStepError(f"file {cfg.path!r} is not valid JSON: {err}") from err
    outputs = [(o.name, o.from_expression) for o in cfg.outputs]
    return StepResult(output=workdir.evaluate_outputs(data, outputs, cfg.path))


def register(registry: reg.StepRegistry) -> None:
    """Register json-update and json-parse."""
    registry.step("json-update", JSONUpdateConfig, paths=lambda c: [c.path])(json_update)
    registry.step("json-parse", JSONParseConfig, paths=lambda c: [c.path])(json_parse)


_COMMIT_MESSAGE = "A description of the changes, for a later git-commit step's message."

DOCS = {
    "json-update": {
        "about": "Updates the values of keys in a JSON file with sjson's path syntax "
        "(`image.tag`, `items.0.name`, `items.-1` to append, `ports.:8080` for an object key "
        "that is a number, `a\\.b` for a literal dot), creating what is missing as sjson does "
        "(setting an index past the end of an array pads it with nulls). Only the changed "
        "values are rewritten; new members are written with their siblings' spacing.",
        "outputs": {"commitMessage": _COMMIT_MESSAGE},
        "example": {
            "path": "./src/config.json",
            "updates": [{"key": "image.tag", "value": '${{ imageFrom("my/image").Tag }}'}],
        },
    },
    "json-parse": {
        "about": "Parses a JSON file and sets one output per entry of `outputs`, each an "
        "expression evaluated with the document's top-level keys as variables.",
        "outputs": {"<name>": "One output per entry of `outputs`."},
        "example": {
            "path": "./src/package.json",
            "outputs": [{"name": "version", "fromExpression": "version"}],
        },
    },
}
