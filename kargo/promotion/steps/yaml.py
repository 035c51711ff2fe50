"""The yaml step family: yaml-update, yaml-parse, yaml-merge.

yaml-update edits values in place so that a git diff shows only the changed values: when every
update addresses an existing scalar, the new value is spliced into the original text at the
position the YAML composer reports (comments, key order, quoting, indentation, anchors, document
markers and CRLF line endings all survive byte for byte). Updates that add keys or replace
collections fall back to a ruamel.yaml round trip, with the file's own mapping and sequence
indentation detected first so the rest of the file is not re-indented.

Neighbours: kargo.promotion.workdir (safe paths, key-path parsing), kargo.expressions.lang
(yaml-parse outputs), kargo.promotion.registry (registration).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, SingleQuotedScalarString
from ruamel.yaml.tokens import CommentToken

from kargo import errors
from kargo.promotion import registry as reg, structured, workdir
from kargo.promotion.context import StepContext, StepResult

_Config = structured.StepConfig


class YAMLUpdate(_Config):
    """One key to set."""

    key: str = Field(
        min_length=1,
        description="The key to update. Nested keys are separated by dots (`image.tag`), sequence "
        "items by index (`containers.0.image`); escape literal dots as `\\.`.",
    )
    value: Any = Field(description="The new value for the key; usually an expression.")


class YAMLUpdateConfig(_Config):
    """Configuration of yaml-update."""

    path: str = Field(min_length=1, description="Path to a YAML file, relative to the work dir.")
    updates: list[YAMLUpdate] = Field(
        min_length=1, description="The changes to apply to the file; at least one."
    )


class ParseOutput(_Config):
    """One named output of a *-parse step."""

    name: str = Field(min_length=1, description="The name of the output.")
    from_expression: str = Field(
        min_length=1,
        description="An expression (without `${{ }}`) evaluated against the parsed file; its "
        "result becomes the output's value.",
    )


class YAMLParseConfig(_Config):
    """Configuration of yaml-parse."""

    path: str = Field(min_length=1, description="Path to a YAML file, relative to the work dir.")
    outputs: list[ParseOutput] = Field(
        min_length=1, description="The outputs to extract from the parsed file."
    )


class YAMLMergeConfig(_Config):
    """Configuration of yaml-merge."""

    in_files: list[str] = Field(
        min_length=1,
        description="Paths of the YAML files to merge, in order; later files win.",
    )
    out_file: str = Field(min_length=1, description="Path of the merged file to create or update.")
    ignore_missing_files: bool = Field(
        default=False, description="Skip input files that do not exist instead of failing."
    )


@dataclass(frozen=True)
class Update:
    """A parsed update: key parts and the new value."""

    key: str
    parts: list[str]
    value: Any


def commit_message(path: str, updates: list[tuple[str, Any]]) -> str:
    """Kargo's yaml-update commit message fragment."""
    return structured.update_message(path, updates, workdir.quote_if_necessary)


# ---------------------------------------------------------------------------------------------
# round trip (kargo.promotion.workdir.load_yaml keeps indentation, header and CRLF)


def _styled(old: Any, new: Any) -> Any:
    if isinstance(new, str):
        if isinstance(old, SingleQuotedScalarString):
            return SingleQuotedScalarString(new)
        if isinstance(old, DoubleQuotedScalarString):
            return DoubleQuotedScalarString(new)
    return new


def _set_path(data: Any, upd: Update) -> Any:
    """Set upd.value at upd.parts inside ruamel data, creating what is missing; the new root."""
    if not isinstance(data, CommentedMap | CommentedSeq):
        data = CommentedMap()
    root = data
    node: Any = data
    for i, part in enumerate(upd.parts):
        last = i == len(upd.parts) - 1
        if isinstance(node, CommentedSeq):
            index = workdir.parse_index(part)
            if index is None:
                raise errors.TerminalStepError(f"key {upd.key!r}: {part!r} is not a sequence index")
            if index == -1 or index >= len(node):
                node.append(None if last else CommentedMap())
                index = len(node) - 1
            if last:
                node[index] = _styled(node[index], upd.value)
                return root
            if not isinstance(node[index], CommentedMap | CommentedSeq):
                node[index] = CommentedMap()
            node = node[index]
        else:
            if last:
                node[part] = _styled(node.get(part), upd.value)
                return root
            if not isinstance(node.get(part), CommentedMap | CommentedSeq):
                node[part] = CommentedMap()
            node = node[part]
    return root


def _round_trip(text: str, updates: list[Update]) -> str:
    loaded = workdir.load_yaml(text)
    for upd in updates:
        loaded.docs[0] = _set_path(loaded.docs[0], upd)
    return loaded.dump()


def update_text(text: str, updates: list[Update]) -> str:
    """`text` with `updates` applied, changing as few bytes as possible."""
    try:
        try:
            return workdir.edit_yaml(
                text, [workdir.YAMLEdit(u.key, u.parts, u.value) for u in updates]
            )
        except workdir.NeedsStructuralEdit:
            return _round_trip(text, updates)
    except YAMLError as err:
        raise errors.TerminalStepError(f"the file is not valid YAML: {err}") from err


# ---------------------------------------------------------------------------------------------
# merging


def _own_items(node: Any) -> Any:
    """A container's own entries: a mapping's keys written in it (not brought in by a `<<`
    merge key), a sequence's items by index."""
    if isinstance(node, CommentedMap):
        return node.non_merged_items()
    if isinstance(node, dict):
        return node.items()
    if isinstance(node, list):
        return enumerate(node)
    return ()


def _alias_slots(doc: Any) -> set[tuple[int, Any]]:
    """(id of container, key) of every entry that is an alias (`*name`) of a collection.

    ruamel gives an alias the anchored object itself; the first place it appears in the
    document is the anchor, every later one an alias.
    """
    seen = {id(doc)}
    slots: set[tuple[int, Any]] = set()

    def walk(node: Any, depth: int) -> None:
        for key, value in list(_own_items(node)):
            if not isinstance(value, dict | list):
                continue
            if id(value) in seen:
                slots.add((id(node), key))
            elif depth < _MAX_MERGE_DEPTH:
                seen.add(id(value))
                walk(value, depth + 1)  # depth first: document order

    walk(doc, 0)
    return slots


_MAX_MERGE_DEPTH = 256


def _append_key(base: CommentedMap, key: Any, value: Any) -> None:
    """Add a new key after the last one, moving what follows the last one's line (blank
    lines, comments about the next section) below the new key, where it belongs."""
    own = [k for k, _ in base.non_merged_items()]
    base[key] = value
    if not own:
        return
    entry = base.ca.items.get(own[-1])
    token = entry[2] if entry and len(entry) > 2 else None
    if not isinstance(token, CommentToken):
        return
    text = str(token.value)
    newline = text.find("\n")
    if newline == -1 or newline == len(text) - 1:
        return  # only an end-of-line comment: it stays where it is
    head, tail = text[: newline + 1], text[newline + 1 :]
    if head.startswith("#"):
        token.value = head
    else:
        entry[2] = None
    base.ca.items[key] = [None, None, CommentToken("\n" + tail, token.start_mark, None), None]


def deep_merge(base: Any, overlay: Any, aliases: set[tuple[int, Any]] | None = None) -> Any:
    """Merge `overlay` into `base`: mappings recursively, anything else replaced.

    As in Kargo (pkg/yaml/merge.go), anchors, aliases and merge keys are never expanded: a key
    that `base` has only through a `<<` merge key, or whose value is an alias, is replaced by
    the overlay's value rather than merged into, so the anchored mapping (and every other alias
    of it) is left as it was.
    """
    if aliases is None:
        aliases = _alias_slots(base)
    if isinstance(base, dict) and isinstance(overlay, dict):
        own = {key for key, _ in _own_items(base)}
        for key, value in overlay.items():
            if key in own and (id(base), key) not in aliases:
                base[key] = deep_merge(base[key], value, aliases)
            elif isinstance(base, CommentedMap) and key not in own:
                _append_key(base, key, value)
            else:
                base[key] = value
        return base
    return overlay


# ---------------------------------------------------------------------------------------------
# steps


def _text(file: Path, path: str) -> str:
    return workdir.read_text(file, path, "YAML")


def _read(ctx: StepContext, path: str) -> tuple[Path, str]:
    file = workdir.existing_file(ctx.work_dir, path, "YAML")
    return file, _text(file, path)


def _write(work_dir: Path, file: Path, text: str, path: str) -> None:
    try:
        workdir.replace_text(work_dir, file, text)
    except OSError as err:
        raise errors.TerminalStepError(f"cannot write {path!r}: {err.strerror}") from err


async def yaml_update(ctx: StepContext, cfg: YAMLUpdateConfig) -> StepResult:
    """Updates the values of keys in a YAML file, keeping its comments and formatting."""
    file, text = _read(ctx, cfg.path)
    updates = [Update(u.key, workdir.split_key(u.key), u.value) for u in cfg.updates]
    try:
        new_text = update_text(text, updates)
    except errors.TerminalStepError as err:
        raise errors.TerminalStepError(f"error updating {cfg.path!r}: {err.message}") from err
    if new_text != text:
        _write(ctx.work_dir, file, new_text, cfg.path)
    message = commit_message(cfg.path, [(u.key, u.value) for u in cfg.updates])
    return StepResult(output={"commitMessage": message})


async def yaml_parse(ctx: StepContext, cfg: YAMLParseConfig) -> StepResult:
    """Parses a YAML file and extracts outputs from it with expressions."""
    _, text = _read(ctx, cfg.path)
    try:
        data = workdir.safe_load(text)
    except YAMLError as err:
        raise errors.TerminalStepError(f"file {cfg.path!r} is not valid YAML: {err}") from err
    outputs = [(o.name, o.from_expression) for o in cfg.outputs]
    return StepResult(output=workdir.evaluate_outputs(data, outputs, cfg.path))


def merge_commit_message(out_file: str, in_files: list[str]) -> str:
    """Kargo's yaml-merge commit message fragment, listing the files merged (not those skipped
    as missing); empty when there were none."""
    if not in_files:
        return ""
    if len(in_files) == 1:
        return f"Wrote {in_files[0]} to {out_file}"
    return "\n".join(
        [f"Merged {len(in_files)} YAML files to {out_file}"] + [f"- {f}" for f in in_files]
    )


async def yaml_merge(ctx: StepContext, cfg: YAMLMergeConfig) -> StepResult:
    """Deep-merges YAML files into one; mappings merge, later files win.

    Every input is read and parsed, and the output path checked, before the output is written.
    """
    files: list[tuple[Path, str]] = []
    for path in cfg.in_files:
        file = workdir.resolve(ctx.work_dir, path)
        if file.is_dir():
            raise errors.TerminalStepError(
                f"input file {path!r} is a directory; list the YAML files inside it in inFiles"
            )
        if not file.is_file():
            if cfg.ignore_missing_files:
                continue
            raise errors.TerminalStepError(
                f"input file {path!r} not found; set ignoreMissingFiles: true to skip missing files"
            )
        files.append((file, path))
    out = workdir.resolve(ctx.work_dir, cfg.out_file)
    if out.is_dir():
        raise errors.TerminalStepError(
            f"outFile {cfg.out_file!r} is a directory; give the path of the merged file, for "
            f"example {cfg.out_file.rstrip('/')}/values.yaml"
        )
    workdir.check_parents(ctx.work_dir, out, cfg.out_file)
    merged: workdir.YAMLDocument | None = None
    for file, path in files:
        text = _text(file, path)
        try:
            loaded = workdir.load_yaml(text)
        except YAMLError as err:
            raise errors.TerminalStepError(f"file {path!r} is not valid YAML: {err}") from err
        if loaded.docs[0] is None:
            continue
        if merged is None:
            merged = loaded
            merged.docs = merged.docs[:1]
        else:
            merged.docs[0] = deep_merge(merged.docs[0], loaded.docs[0])
    output = merged.dump() if merged is not None else ""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise errors.TerminalStepError(f"cannot write {cfg.out_file!r}: {err.strerror}") from err
    _write(ctx.work_dir, out, output, cfg.out_file)
    message = merge_commit_message(cfg.out_file, [path for _, path in files])
    return StepResult(output={"commitMessage": message} if message else {})


def register(registry: reg.StepRegistry) -> None:
    """Register yaml-update, yaml-parse and yaml-merge."""
    registry.step("yaml-update", YAMLUpdateConfig, paths=lambda c: [c.path])(yaml_update)
    registry.step("yaml-parse", YAMLParseConfig, paths=lambda c: [c.path])(yaml_parse)
    registry.step("yaml-merge", YAMLMergeConfig, paths=lambda c: [*c.in_files, c.out_file])(
        yaml_merge
    )


COMMIT_MESSAGE = (
    "A description of the changes, for a later git-commit step to include in its message "
    "(e.g. `${{ outputs.update.commitMessage }}`)."
)

DOCS = {
    "yaml-update": {
        "about": "Updates the values of keys in a YAML file, most often image tags in Helm "
        "values. Keys use sjson dot syntax: `image.tag`, `containers.0.image` (an index; `-1` "
        "appends), `example\\.com/version` for a literal dot. Missing keys are created. Only the "
        "changed values' bytes change: comments, quoting, indentation, anchors, document markers "
        "and CRLF line endings are kept, so the git diff shows exactly the update. Only the first "
        "document of a multi-document file is edited; updating through an alias updates its "
        "anchor.",
        "outputs": {"commitMessage": COMMIT_MESSAGE},
        "example": {
            "path": "./src/charts/my-chart/values.yaml",
            "updates": [{"key": "image.tag", "value": '${{ imageFrom("my/image").Tag }}'}],
        },
    },
    "yaml-parse": {
        "about": "Parses a YAML file and sets one output per entry of `outputs`, each the "
        "result of an expression (without `${{ }}`) evaluated with the document's top-level "
        "keys as variables (a document that is not a mapping is `value`).",
        "outputs": {"<name>": "One output per entry of `outputs`."},
        "example": {
            "path": "./src/charts/my-chart/Chart.yaml",
            "outputs": [{"name": "version", "fromExpression": "version"}],
        },
    },
    "yaml-merge": {
        "about": "Deep-merges YAML files into one: mappings merge key by key, anything else "
        "(lists included) is replaced by the later file. The first file's comments and "
        "formatting are kept, and so are anchors, aliases and `<<` merge keys, never expanded: "
        "a key that a mapping has only through a merge key, or whose value is an alias, is "
        "replaced rather than merged into, so the anchored mapping stays as it was. The "
        "commit message lists the files merged, not those skipped as missing.",
        "outputs": {"commitMessage": COMMIT_MESSAGE},
        "example": {
            "inFiles": ["./src/base/values.yaml", "./src/stages/${{ ctx.stage }}/values.yaml"],
            "outFile": "./out/values.yaml",
        },
    },
}
