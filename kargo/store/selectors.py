"""Kubernetes label and field selectors: parsing, validation and matching.

`parse_label_selector` turns "a=b,c!=d,e in (x,y),!f,g" into `Requirement`s; the SQL backend
(`kargo.store.sql`) turns those into EXISTS clauses on the labels table for lists, and
`matches` / `filter_event` filter watch events in Python. Label keys and values are validated with the same
rules Kubernetes applies (`validate_labels`), so a bad label fails at write time, not at query time.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from kargo import errors
from kargo.store import interface

Operator = Literal["=", "!=", "in", "notin", "exists", "!exists"]

# metadata.name / metadata.namespace are the only fields the store can select on.
FIELD_SELECTOR_FIELDS = ("metadata.name", "metadata.namespace")

_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$")
_PREFIX = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")
_SELECTOR_HINT = (
    "use Kubernetes selector syntax, e.g. 'app=web,tier!=db,env in (dev,prod),!legacy,owner'"
)


@dataclass(frozen=True)
class Requirement:
    """One clause of a label selector: `key <op> values`."""

    key: str
    op: Operator
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether a label map satisfies this clause (Kubernetes semantics: `!=`/`notin` match
        objects that lack the key)."""
        present = self.key in labels
        if self.op == "exists":
            return present
        if self.op == "!exists":
            return not present
        value = labels.get(self.key)
        if self.op in ("=", "in"):
            return present and value in self.values
        return not present or value not in self.values


def label_key_problem(key: str) -> str | None:
    """Why `key` is not a valid label key, or None when it is."""
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or len(prefix) > 253 or not _PREFIX.match(prefix)):
        return f"invalid label key {key!r}: the prefix must be a DNS subdomain (e.g. example.com)"
    if not _NAME.match(name):
        return (
            f"invalid label key {key!r}: the name part must be 1-63 characters of [A-Za-z0-9_.-], "
            "starting and ending with a letter or digit"
        )
    return None


def label_value_problem(value: str) -> str | None:
    """Why `value` is not a valid label value, or None when it is."""
    if value == "" or _NAME.match(value):
        return None
    return (
        f"invalid label value {value!r}: use at most 63 characters of [A-Za-z0-9_.-], "
        "starting and ending with a letter or digit"
    )


def validate_labels(labels: object, where: str) -> dict[str, str]:
    """Check `metadata.labels` of an object being written; ValidationError lists every problem."""
    if labels is None:
        return {}
    if not isinstance(labels, dict):
        raise errors.ValidationError(
            "",
            [
                errors.Problem(
                    f"labels must be a map of strings, got {type(labels).__name__}",
                    path=f"{where}.metadata.labels",
                )
            ],
        )
    problems: list[errors.Problem] = []
    for key, value in labels.items():
        path = f"{where}.metadata.labels[{key!r}]"
        if not isinstance(key, str):
            problems.append(errors.Problem(f"label key {key!r} must be a string", path=path))
            continue
        if (msg := label_key_problem(key)) is not None:
            problems.append(errors.Problem(msg, path=path))
            continue
        if not isinstance(value, str):
            problems.append(
                errors.Problem(
                    f"label value must be a string, got {type(value).__name__}",
                    path=path,
                    hint='quote it in YAML, e.g. version: "1"',
                )
            )
        elif (msg := label_value_problem(value)) is not None:
            problems.append(errors.Problem(msg, path=path))
    if problems:
        raise errors.ValidationError("", problems)
    return labels


def _fail(selector: str, message: str) -> errors.ValidationError:
    return errors.ValidationError(
        "",
        [
            errors.Problem(
                f"invalid label selector {selector!r}: {message}",
                path="labelSelector",
                hint=_SELECTOR_HINT,
            )
        ],
    )


_TOKEN = re.compile(r"\s*(\(|\)|,|!=|==|=|!|[^\s(),!=]+)")


def _tokens(selector: str) -> list[str]:
    out: list[str] = []
    pos = 0
    while pos < len(selector):
        if selector[pos:].strip() == "":
            break
        m = _TOKEN.match(selector, pos)
        if m is None:  # pragma: no cover - the pattern accepts every non-space character
            raise _fail(selector, f"unexpected character at {pos}")
        out.append(m.group(1))
        pos = m.end()
    return out


def parse_label_selector(selector: str | None) -> tuple[Requirement, ...]:
    """Parse a Kubernetes label selector; ValidationError (naming the selector) on bad syntax."""
    if selector is None or selector.strip() == "":
        return ()
    toks = _tokens(selector)
    reqs: list[Requirement] = []
    i = 0

    def take() -> str:
        nonlocal i
        if i >= len(toks):
            raise _fail(selector, "unexpected end")
        tok = toks[i]
        i += 1
        return tok

    def key_token(tok: str) -> str:
        if tok in ("(", ")", ",", "=", "==", "!=", "!"):
            raise _fail(selector, f"expected a label key, found {tok!r}")
        if (msg := label_key_problem(tok)) is not None:
            raise _fail(selector, msg)
        return tok

    def value_token(tok: str) -> str:
        if tok in ("(", ")", ",", "=", "==", "!=", "!"):
            raise _fail(selector, f"expected a label value, found {tok!r}")
        if (msg := label_value_problem(tok)) is not None:
            raise _fail(selector, msg)
        return tok

    while i < len(toks):
        tok = take()
        if tok == "!":
            reqs.append(Requirement(key_token(take()), "!exists"))
        else:
            key = key_token(tok)
            nxt = toks[i] if i < len(toks) else ","
            if nxt == ",":
                reqs.append(Requirement(key, "exists"))
            elif nxt in ("=", "==", "!="):
                i += 1
                # `a=` selects the empty value, as in Kubernetes.
                value = "" if i >= len(toks) or toks[i] == "," else value_token(take())
                reqs.append(Requirement(key, "!=" if nxt == "!=" else "=", (value,)))
            elif nxt in ("in", "notin"):
                i += 1
                if take() != "(":
                    raise _fail(selector, f"expected '(' after {nxt!r}")
                values: list[str] = []
                while True:
                    tok = take()
                    if tok == ")" and not values:
                        raise _fail(selector, f"{nxt!r} needs at least one value")
                    values.append(value_token(tok))
                    sep = take()
                    if sep == ")":
                        break
                    if sep != ",":
                        raise _fail(selector, f"expected ',' or ')', found {sep!r}")
                op: Operator = "in" if nxt == "in" else "notin"
                reqs.append(Requirement(key, op, tuple(values)))
            else:
                raise _fail(
                    selector, f"unknown operator {nxt!r} (supported: =, ==, !=, in, notin, !)"
                )
        if i < len(toks):
            if toks[i] != ",":
                raise _fail(selector, f"expected ',' between requirements, found {toks[i]!r}")
            i += 1
            if i >= len(toks):
                raise _fail(selector, "trailing ','")
    return tuple(reqs)


def parse_field_selector(fields: Mapping[str, str]) -> dict[str, str]:
    """Validate a field selector; only metadata.name and metadata.namespace are supported."""
    problems = [
        errors.Problem(
            f"unsupported field selector {name!r}",
            path="fieldSelector",
            hint="select on " + " or ".join(FIELD_SELECTOR_FIELDS),
        )
        for name in fields
        if name not in FIELD_SELECTOR_FIELDS
    ]
    if problems:
        raise errors.ValidationError("", problems)
    return dict(fields)


def labels_of(obj: Mapping[str, Any]) -> dict[str, str]:
    """An object's labels (empty when it has none)."""
    labels = obj.get("metadata", {}).get("labels")
    return labels if isinstance(labels, dict) else {}


def matches(
    reqs: tuple[Requirement, ...], fields: Mapping[str, str], obj: Mapping[str, Any]
) -> bool:
    """Whether an object satisfies parsed label requirements and a field selector."""
    if fields:
        meta = obj.get("metadata", {})
        if "metadata.name" in fields and meta.get("name", "") != fields["metadata.name"]:
            return False
        if (
            "metadata.namespace" in fields
            and meta.get("namespace", "") != fields["metadata.namespace"]
        ):
            return False
    if not reqs:
        return True
    labels = labels_of(obj)
    return all(r.matches(labels) for r in reqs)


def filter_event(
    rv: int,
    type_: interface.EventType,
    body: str,
    prev_labels: str | None,
    reqs: tuple[Requirement, ...],
    fields: Mapping[str, str],
) -> interface.WatchEvent | None:
    """The event a filtered watch sees for one stored event, or None. As in Kubernetes, a
    change that makes an object start matching is ADDED and one that makes it stop is DELETED
    (`prev_labels`: the labels before a MODIFIED event, None when they did not change)."""
    obj = orjson.loads(body)
    if not reqs and not fields:
        return interface.WatchEvent(type_, obj, rv)
    now_matches = matches(reqs, fields, obj)
    if type_ != "MODIFIED" or prev_labels is None:
        return interface.WatchEvent(type_, obj, rv) if now_matches else None
    before = matches(
        reqs, fields, {"metadata": dict(obj["metadata"], labels=orjson.loads(prev_labels))}
    )
    if now_matches and before:
        return interface.WatchEvent("MODIFIED", obj, rv)
    if now_matches:
        return interface.WatchEvent("ADDED", obj, rv)
    if before:
        return interface.WatchEvent("DELETED", obj, rv)
    return None
