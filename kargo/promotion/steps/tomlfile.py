"""The toml step family: toml-update and toml-parse.

tomlkit keeps a TOML document's comments, whitespace and ordering through a load and dump, so an
update changes only the values it sets. Key paths use the same dot syntax as yaml-update.

Neighbours: kargo.promotion.workdir (safe paths, key paths), kargo.expressions.lang (toml-parse).
"""

from __future__ import annotations

import json
import re
from typing import Any

import tomlkit
import tomlkit.exceptions
from pydantic import Field
from tomlkit.container import Container
from tomlkit.items import AoT, Array, InlineTable, Table

from kargo import errors
from kargo.promotion import registry as reg, structured, workdir
from kargo.promotion.context import StepContext, StepResult

_Config = structured.StepConfig


class TOMLUpdate(_Config):
    """One key to set."""

    key: str = Field(
        min_length=1,
        description="The key to update. Nested keys are separated by dots (`server.port`), "
        "array items by index (`servers.0.host`); escape literal dots as `\\.`.",
    )
    value: Any = Field(description="The new value for the key.")


class TOMLUpdateConfig(_Config):
    """Configuration of toml-update."""

    path: str = Field(min_length=1, description="Path to a TOML file, relative to the work dir.")
    updates: list[TOMLUpdate] = Field(
        min_length=1, description="The changes to apply to the file; at least one."
    )


class ParseOutput(_Config):
    """One named output of toml-parse."""

    name: str = Field(min_length=1, description="The name of the output.")
    from_expression: str = Field(
        min_length=1,
        description="An expression (without `${{ }}`) evaluated against the parsed file.",
    )


class TOMLParseConfig(_Config):
    """Configuration of toml-parse."""

    path: str = Field(min_length=1, description="Path to a TOML file, relative to the work dir.")
    outputs: list[ParseOutput] = Field(
        min_length=1, description="The outputs to extract from the parsed file."
    )


_Mapping = Container | Table | InlineTable | tomlkit.TOMLDocument
_Sequence = Array | AoT


def _check_value(key: str, value: Any) -> None:
    if value is None:
        raise errors.TerminalStepError(f"key {key!r}: TOML has no null; give a value")


def set_value(doc: tomlkit.TOMLDocument, key: str, value: Any) -> None:
    """Set `value` at `key` in `doc`, creating missing tables; formatting elsewhere is kept."""
    _check_value(key, value)
    parts = workdir.split_key(key)
    node: Any = doc
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, _Sequence):
            index = workdir.parse_index(part)
            if index is None:
                raise errors.TerminalStepError(f"key {key!r}: {part!r} is not an array index")
            if index == -1 or index >= len(node):
                node.append(value if last else tomlkit.table())
                if last:
                    return
                index = len(node) - 1
            if last:
                node[index] = value
                return
            node = node[index]
        elif isinstance(node, _Mapping):
            if last:
                node[part] = value
                return
            child = node.get(part)
            if not isinstance(child, _Mapping | _Sequence):
                node[part] = (
                    tomlkit.table()
                    if isinstance(node, Container | Table)
                    else (tomlkit.inline_table())
                )
                child = node[part]
            node = child
        else:
            raise errors.TerminalStepError(
                f"key {key!r}: {'.'.join(parts[:i])!r} is a value, not a table or array"
            )


def _quote(value: Any) -> str:
    """The value as TOML writes it (strings quoted), as Kargo's toml-update message does."""
    try:
        if isinstance(value, dict):
            table = tomlkit.inline_table()
            table.update(value)
            return str(table.as_string())
        return str(tomlkit.item(value).as_string())
    except (TypeError, ValueError):
        return json.dumps(value, ensure_ascii=False, default=str)


def commit_message(path: str, updates: list[tuple[str, Any]]) -> str:
    """Kargo's toml-update commit message fragment."""
    return structured.update_message(path, updates, _quote)


def _load(ctx: StepContext, path: str) -> tuple[Any, tomlkit.TOMLDocument, str]:
    file = workdir.existing_file(ctx.work_dir, path, "TOML")
    text = workdir.read_text(file, path, "TOML")
    try:
        return file, tomlkit.parse(text), text
    except tomlkit.exceptions.ParseError as err:
        raise errors.TerminalStepError(f"file {path!r} is not valid TOML: {err}") from err


async def toml_update(ctx: StepContext, cfg: TOMLUpdateConfig) -> StepResult:
    """Updates the values of keys in a TOML file, keeping its comments and formatting."""
    file, doc, text = _load(ctx, cfg.path)
    try:
        for upd in cfg.updates:
            set_value(doc, upd.key, upd.value)
    except errors.TerminalStepError as err:
        raise errors.TerminalStepError(f"error updating {cfg.path!r}: {err.message}") from err
    new_text = tomlkit.dumps(doc)
    if "\r\n" in text:  # tomlkit writes "\n" after what it adds, even in a CRLF file
        new_text = re.sub(r"(?<!\r)\n", "\r\n", new_text)
    if new_text != text:
        workdir.replace_text(ctx.work_dir, file, new_text)
    message = commit_message(cfg.path, [(u.key, u.value) for u in cfg.updates])
    return StepResult(output={"commitMessage": message})


async def toml_parse(ctx: StepContext, cfg: TOMLParseConfig) -> StepResult:
    """Parses a TOML file and extracts outputs from it with expressions."""
    _, doc, _ = _load(ctx, cfg.path)
    outputs = [(o.name, o.from_expression) for o in cfg.outputs]
    return StepResult(output=workdir.evaluate_outputs(doc.unwrap(), outputs, cfg.path))


def register(registry: reg.StepRegistry) -> None:
    """Register toml-update and toml-parse."""
    registry.step("toml-update", TOMLUpdateConfig, paths=lambda c: [c.path])(toml_update)
    registry.step("toml-parse", TOMLParseConfig, paths=lambda c: [c.path])(toml_parse)


DOCS = {
    "toml-update": {
        "about": "Updates the values of keys in a TOML file (`server.port`, `backends.0.weight`), "
        "creating missing tables. Comments, ordering and formatting are kept. TOML has no null.",
        "outputs": {"commitMessage": "A description of the changes, for a later git-commit."},
        "example": {
            "path": "./src/config.toml",
            "updates": [{"key": "image.tag", "value": '${{ imageFrom("my/image").Tag }}'}],
        },
    },
    "toml-parse": {
        "about": "Parses a TOML file and sets one output per entry of `outputs`, each an "
        "expression evaluated with the document's top-level keys as variables.",
        "outputs": {"<name>": "One output per entry of `outputs`."},
        "example": {
            "path": "./src/Cargo.toml",
            "outputs": [{"name": "version", "fromExpression": "package.version"}],
        },
    },
}
