"""Turn pydantic validation errors into `kargo.errors.Problem`s: where, what, how to fix.

`where` is a field path (`spec.subscriptions[0].image.repoURL`) plus, when the document came
from YAML, the line and column of that field (ruamel.yaml round-trip marks). Unknown fields name
the closest valid field. Used by `kargo.api.manifests`; nothing here reads files.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError as PydanticValidationError

from kargo.errors import Problem

Loc = tuple[int | str, ...]


def format_path(loc: Sequence[int | str]) -> str:
    """`("spec", "subscriptions", 0, "image")` -> `spec.subscriptions[0].image`."""
    out = ""
    for seg in loc:
        if isinstance(seg, int):
            out += f"[{seg}]"
        else:
            out += f".{seg}" if out else str(seg)
    return out


def position(doc: Any, loc: Sequence[int | str]) -> tuple[int | None, int | None]:
    """1-based line and column of the node at `loc` in a ruamel document (or its nearest parent)."""
    node = doc
    line, col = _node_pos(doc)
    for seg in loc:
        found, child, key_pos = _child(node, seg)
        if not found:
            break
        if key_pos != (None, None):
            line, col = key_pos
        node = child
    return line, col


def _node_pos(node: Any) -> tuple[int | None, int | None]:
    lc = getattr(node, "lc", None)
    if lc is None or lc.line is None:
        return None, None
    return lc.line + 1, lc.col + 1


def _child(node: Any, seg: int | str) -> tuple[bool, Any, tuple[int | None, int | None]]:
    if isinstance(node, Mapping) and seg in node:
        pos: tuple[int | None, int | None] = (None, None)
        lc = getattr(node, "lc", None)
        if lc is not None:
            try:
                kl, kc = lc.key(seg)
                pos = (kl + 1, kc + 1)
            except (KeyError, TypeError):
                pass
        return True, node[seg], pos
    if isinstance(node, list) and isinstance(seg, int) and 0 <= seg < len(node):
        pos = (None, None)
        lc = getattr(node, "lc", None)
        if lc is not None:
            try:
                il, ic = lc.item(seg)
                pos = (il + 1, ic + 1)
            except (KeyError, TypeError, IndexError):
                pass
        return True, node[seg], pos
    return False, None, (None, None)


def _real_loc(data: Any, loc: Sequence[int | str], err_type: str) -> Loc:
    """Drop pydantic's synthetic segments (union member tags) that are not keys of the data."""
    out: list[int | str] = []
    node = data
    for i, seg in enumerate(loc):
        found, child, _ = _child(node, seg)
        if found:
            out.append(seg)
            node = child
        elif i == len(loc) - 1 and err_type == "missing" and isinstance(node, Mapping):
            out.append(seg)
    return tuple(out)


def _unwrap(tp: Any) -> list[Any]:
    """The candidate types behind Annotated/Optional/Union."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType):
        out: list[Any] = []
        for arg in typing.get_args(tp):
            if arg is not type(None):
                out.extend(_unwrap(arg))
        return out
    return [tp]


def model_at(root: type[BaseModel], loc: Sequence[int | str]) -> type[BaseModel] | None:
    """The model class that validates the node at `loc`, when there is one."""
    candidates: list[Any] = [root]
    for seg in loc:
        nxt: list[Any] = []
        for tp in candidates:
            for cand in _unwrap(tp):
                origin = typing.get_origin(cand)
                if isinstance(cand, type) and issubclass(cand, BaseModel):
                    field = _field(cand, seg)
                    if field is not None:
                        nxt.append(field)
                elif origin in (list, dict, Sequence, Mapping) and typing.get_args(cand):
                    nxt.append(typing.get_args(cand)[-1])
        candidates = nxt
    for tp in candidates:
        for cand in _unwrap(tp):
            if isinstance(cand, type) and issubclass(cand, BaseModel):
                return cand
    return None


def _field(model: type[BaseModel], seg: int | str) -> Any:
    for name, field in model.model_fields.items():
        if seg in (name, field.alias):
            return field.annotation
    return None


def field_names(model: type[BaseModel]) -> list[str]:
    """The names a user may write in a model: aliases (camelCase) where set."""
    return [field.alias or name for name, field in model.model_fields.items()]


def suggest(word: str, choices: Sequence[str]) -> str | None:
    """The closest valid choice to a misspelled word, if one is close enough."""

    def fold(text: str) -> str:
        return text.lower().replace("_", "").replace("-", "")

    folded = {fold(c): c for c in choices}
    if fold(word) in folded:
        return folded[fold(word)]
    match = difflib.get_close_matches(fold(word), list(folded), n=1, cutoff=0.6)
    return folded[match[0]] if match else None


def from_pydantic(
    err: PydanticValidationError,
    model: type[BaseModel],
    data: Any,
    *,
    source: str = "",
    prefix: Loc = (),
) -> list[Problem]:
    """One Problem per distinct field error, with paths, positions and hints."""
    problems: list[Problem] = []
    seen: set[str] = set()
    for item in err.errors(include_url=False):
        loc = _real_loc(data, item["loc"], item["type"])
        path = format_path(prefix + loc)
        if path in seen:
            continue  # a union reports one error per member; the first is enough
        seen.add(path)
        message, hint = _describe(item, model, loc)
        line, col = position(data, loc) if source else (None, None)
        problems.append(
            Problem(message=message, path=path, file=source, line=line, column=col, hint=hint)
        )
    return problems


def _describe(item: Any, model: type[BaseModel], loc: Loc) -> tuple[str, str]:
    kind = item["type"]
    ctx = item.get("ctx") or {}
    if kind == "kargo":
        return item["msg"], str(ctx.get("hint", ""))
    if kind == "extra_forbidden":
        key = str(loc[-1]) if loc else "?"
        parent = model_at(model, loc[:-1])
        valid = field_names(parent) if parent is not None else []
        close = suggest(key, valid)
        if close:
            return f"unknown field {key!r}", f"did you mean {close!r}?"
        return f"unknown field {key!r}", (f"valid fields: {', '.join(valid)}" if valid else "")
    if kind == "missing":
        key = str(loc[-1]) if loc else "?"
        return f"{key!r} is required", f"add {key}: <value>"
    if kind == "literal_error":
        expected = str(ctx.get("expected", ""))
        choices = [c.strip().strip("'\"") for c in expected.replace(" or ", ",").split(",")]
        close = suggest(str(item.get("input")), [c for c in choices if c])
        hint = f"did you mean {close!r}?" if close else f"use one of {expected}"
        return f"{item.get('input')!r} is not allowed here", hint
    msg = str(item["msg"])
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    if msg and msg[0].isupper() and not msg[:2].isupper():
        msg = msg[0].lower() + msg[1:]
    return msg, ""
