"""Load Kargo manifests (multi-document YAML or JSON) and validate them, reporting every problem.

    docs = load_documents(text, source="stages.yaml")    # list of plain dicts, as written
    pairs = load_paths(["manifests/"], recursive=True)    # [(source, dict), ...]
    model = validate(obj)                                 # the pydantic model of obj's kind
    full = apply_defaults(obj)                            # obj with Kargo's defaults filled in

A file with problems raises ONE `kargo.errors.ValidationError` whose `problems` list every
problem of the file (or of all files) with file, line, column, field path, message and hint.
Models: `kargo.api.models`; kinds: `kargo.api.kinds`; error mapping: `kargo.api.problems`.
"""

from __future__ import annotations

import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError as PydanticValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from kargo import errors
from kargo.api import kinds, problems as problems_
from kargo.errors import Problem

EXTENSIONS = (".yaml", ".yml", ".json")
# Kinds whose names admission generates (Freight: its ID; Promotion: stage.ulid.hash).
GENERATED_NAMES = frozenset({"Freight", "Promotion"})


def load_documents(text: str, source: str = "<stdin>") -> list[dict[str, Any]]:
    """Parse and validate every document of `text`; raise one ValidationError with all problems."""
    docs, found = _parse(text, source)
    out: list[dict[str, Any]] = []
    for index, doc in docs:
        found.extend(_check_document(doc, source, index))
        out.append(to_plain(doc))
    if found:
        found.sort(key=lambda p: (p.line or 0, p.column or 0))
        raise _error(found)
    return out


def load_paths(paths: list[str], recursive: bool) -> list[tuple[str, dict[str, Any]]]:
    """Load files and directories (`.yaml`, `.yml`, `.json`; `-` is stdin), all problems at once."""
    out: list[tuple[str, dict[str, Any]]] = []
    found: list[Problem] = []
    for entry in _read_sources(paths, recursive):
        if isinstance(entry, Problem):
            found.append(entry)
            continue
        source, text = entry
        try:
            out.extend((source, doc) for doc in load_documents(text, source))
        except errors.ValidationError as err:
            found.extend(err.problems)
    if found:
        raise _error(found)
    return out


def validate(obj: dict[str, Any]) -> BaseModel:
    """Validate one object against its kind's model; ValidationError lists every problem."""
    found = _check_header(obj, "", None)
    if found:
        raise _error(found)
    info = kinds.KINDS[obj["kind"]]
    try:
        return info.model.model_validate(obj)
    except PydanticValidationError as err:
        raise _error(problems_.from_pydantic(err, info.model, obj)) from None


def apply_defaults(obj: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of `obj` with Kargo's defaults filled in where fields are absent.

    Only fields with a Kargo default are added (Warehouse interval `5m0s`,
    freightCreationPolicy `Automatic`, image strategy `SemVer`, discoveryLimit 20,
    strictSemvers true, ...); everything written is kept as written.
    """
    model = validate(obj)
    filled = _fill(obj, model)
    assert isinstance(filled, dict)
    return filled


def to_plain(node: Any) -> Any:
    """ruamel round-trip nodes -> plain dict/list/str/int/float/bool/None."""
    if isinstance(node, dict):
        return {str(k): to_plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [to_plain(v) for v in node]
    if isinstance(node, bool):
        return bool(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    if isinstance(node, datetime):
        text = node.isoformat()
        return text.replace("+00:00", "Z")
    if isinstance(node, date):
        return node.isoformat()
    return node


def _error(found: list[Problem]) -> errors.ValidationError:
    files = sorted({p.file for p in found if p.file})
    where = f" in {', '.join(files)}" if files else ""
    head = f"{len(found)} problem{'s' if len(found) != 1 else ''}{where}"
    return errors.ValidationError(head + ":\n" + "\n".join(f"  {p}" for p in found), problems=found)


def _parse(text: str, source: str) -> tuple[list[tuple[int, Any]], list[Problem]]:
    yaml = YAML(typ="rt")
    docs: list[tuple[int, Any]] = []
    found: list[Problem] = []
    try:
        for index, doc in enumerate(yaml.load_all(text)):
            if doc is None:
                continue  # an empty document (e.g. a trailing ---)
            if not isinstance(doc, dict):
                line, col = problems_._node_pos(doc)
                found.append(
                    Problem(
                        message=f"document {index + 1} is a {type(doc).__name__}, not a mapping",
                        file=source,
                        line=line,
                        column=col,
                        hint="each document must be an object with apiVersion, kind, metadata",
                    )
                )
                continue
            docs.append((index, doc))
    except MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        found.append(
            Problem(
                message=f"invalid YAML: {err.problem or err.context}",
                file=source,
                line=mark.line + 1 if mark else None,
                column=mark.column + 1 if mark else None,
                hint="check indentation, quoting and duplicate keys near this line",
            )
        )
    except YAMLError as err:
        found.append(Problem(message=f"invalid YAML: {err}", file=source))
    return docs, found


def _check_header(doc: Any, source: str, index: int | None) -> list[Problem]:
    """apiVersion and kind must name a known kind; names and namespaces must fit its scope."""

    def at(key: str, message: str, hint: str, path: str | None = None) -> Problem:
        line, col = problems_.position(doc, (key,)) if source else (None, None)
        return Problem(
            message=message, path=path or key, file=source, line=line, column=col, hint=hint
        )

    kind = doc.get("kind")
    api_version = doc.get("apiVersion")
    if not kind or not isinstance(kind, str):
        which = f"document {index + 1}" if index is not None else "object"
        return [at("kind", f"{which} has no kind", "add kind: <Kind>, e.g. kind: Stage")]
    info = kinds.KINDS.get(kind)
    if info is None:
        close = problems_.suggest(kind, list(kinds.KINDS))
        return [
            at(
                "kind",
                f"unknown kind {kind!r}",
                f"did you mean {close!r}?" if close else f"known kinds: {', '.join(kinds.KINDS)}",
            )
        ]
    found: list[Problem] = []
    if api_version != info.api_version:
        found.append(
            at(
                "apiVersion",
                f"apiVersion {api_version!r} is not served for kind {kind}",
                f"use apiVersion: {info.api_version}",
            )
        )
    meta = doc.get("metadata")
    if isinstance(meta, dict):
        if not info.namespaced and meta.get("namespace"):
            line, col = (
                problems_.position(doc, ("metadata", "namespace")) if source else (None, None)
            )
            found.append(
                Problem(
                    message=f"{kind} is cluster-scoped and cannot have a namespace",
                    path="metadata.namespace",
                    file=source,
                    line=line,
                    column=col,
                    hint="remove metadata.namespace",
                )
            )
        if kind not in GENERATED_NAMES and not meta.get("name") and not meta.get("generateName"):
            line, col = problems_.position(doc, ("metadata",)) if source else (None, None)
            found.append(
                Problem(
                    message=f"a {kind} needs a name",
                    path="metadata.name",
                    file=source,
                    line=line,
                    column=col,
                    hint="add metadata.name: <name>",
                )
            )
    return found


def _check_document(doc: Any, source: str, index: int) -> list[Problem]:
    found = _check_header(doc, source, index)
    kind = doc.get("kind")
    if not isinstance(kind, str) or kind not in kinds.KINDS:
        return found
    info = kinds.KINDS[kind]
    plain = to_plain(doc)
    try:
        info.model.model_validate(plain)
    except PydanticValidationError as err:
        # Header problems already reported apiVersion/kind; skip pydantic's echo of them.
        for p in problems_.from_pydantic(err, info.model, doc, source=source):
            if p.path not in ("apiVersion", "kind") and not any(f.path == p.path for f in found):
                found.append(p)
    return found


def _read_sources(paths: list[str], recursive: bool) -> list[tuple[str, str] | Problem]:
    """The text of each file, in argument order; a Problem where a path cannot be read."""
    out: list[tuple[str, str] | Problem] = []
    found = out
    for raw in paths:
        if raw == "-":
            out.append(("<stdin>", sys.stdin.read()))
            continue
        path = Path(raw)
        if path.is_dir():
            pattern = "**/*" if recursive else "*"
            files = sorted(p for p in path.glob(pattern) if p.is_file() and p.suffix in EXTENSIONS)
            if not files:
                found.append(
                    Problem(
                        message="no .yaml, .yml or .json files in this directory",
                        file=raw,
                        hint="use --recursive to include subdirectories" if not recursive else "",
                    )
                )
            for file in files:
                out.append((str(file), file.read_text(encoding="utf-8")))
        elif path.is_file():
            out.append((raw, path.read_text(encoding="utf-8")))
        else:
            found.append(
                Problem(message="no such file or directory", file=raw, hint="check the path")
            )
    return out


def _fill(data: Any, value: Any) -> Any:
    """Merge a validated model's defaults into the data as written (nothing else changes)."""
    if isinstance(value, BaseModel) and isinstance(data, dict):
        out = dict(data)
        for name, field in type(value).model_fields.items():
            alias = field.alias or name
            key = alias if alias in data else (name if name in data else None)
            sub = getattr(value, name)
            if key is None:
                if sub is not None and not field.is_required():
                    out[alias] = _dump(sub)
            else:
                out[key] = _fill(data[key], sub)
        for key, sub in (value.model_extra or {}).items():
            if key in data:
                out[key] = _fill(data[key], sub)
        return out
    if isinstance(value, list) and isinstance(data, list):
        return [_fill(d, v) for d, v in zip(data, value, strict=False)]
    if isinstance(value, dict) and isinstance(data, dict):
        return {k: _fill(v, value[k]) if k in value else v for k, v in data.items()}
    return data


def _dump(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(by_alias=True, exclude_none=True, mode="json")
    return value
