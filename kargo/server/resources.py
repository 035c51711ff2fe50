"""`POST|PUT|DELETE /v1beta1/resources`: create, create-or-update and delete from multi-document YAML.

Two phases, as a user expects of `kargo apply -f`:
1. Admit every document (load, validate, default, `kargo.api.admission`), collecting ALL problems;
   if any document is invalid, raise one `ValidationError` and store nothing.
2. Write in dependency order (Projects first; reverse order for delete) and report one result per
   object; a write that fails (e.g. AlreadyExists on create) is reported in its result, in the
   one error shape, without undoing the others (as `kubectl create -f` does).
"""

from __future__ import annotations

import copy
import inspect
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from kargo import errors
from kargo.api import admission, kinds, manifests
from kargo.server import lookup as lookup_mod, redact
from kargo.server.http_errors import ErrorDetail
from kargo.store import interface

Operation = Literal["create", "apply", "delete"]
SOURCE = "request body"

# Lower ranks are written first (and deleted last).
_RANK = {
    "Project": 0,
    "ProjectConfig": 1,
    "ClusterConfig": 1,
    "Secret": 2,
    "ConfigMap": 2,
    "Warehouse": 3,
    "ClusterPromotionTask": 3,
    "PromotionTask": 3,
    "ClusterAnalysisTemplate": 3,
    "AnalysisTemplate": 3,
    "Stage": 4,
    "Freight": 5,
    "Promotion": 6,
}
_STORE_OWNED = ("uid", "creationTimestamp", "generation", "resourceVersion", "deletionTimestamp")


class ResourceResult(BaseModel):
    """What happened to one document."""

    model_config = ConfigDict(populate_by_name=True)

    api_version: str = Field(alias="apiVersion")
    kind: str
    namespace: str | None = None
    name: str
    result: Literal["created", "updated", "unchanged", "deleted", "deleting", "failed"]
    object: dict[str, Any] | None = None
    error: ErrorDetail | None = None


class ResourcesResponse(BaseModel):
    """One result per document, in the order they were written."""

    results: list[ResourceResult]


@dataclass
class _Doc:
    index: int
    obj: dict[str, Any]
    info_: kinds.KindInfo | None

    @property
    def info(self) -> kinds.KindInfo:
        assert self.info_ is not None
        return self.info_

    @property
    def kind(self) -> str:
        return str(self.obj.get("kind", ""))

    @property
    def namespace(self) -> str:
        return str((self.obj.get("metadata") or {}).get("namespace") or "")

    @property
    def name(self) -> str:
        return str((self.obj.get("metadata") or {}).get("name") or "")

    @property
    def ref(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"document {self.index + 1} ({self.kind} {where}{self.name or '<unnamed>'})"


def _problems_of(err: errors.KargoError, doc: _Doc | None) -> list[errors.Problem]:
    problems = list(err.problems) if isinstance(err, errors.ValidationError) else []
    if not problems:
        problems = [errors.Problem(message=err.message)]
    if doc is None:
        return problems
    out = []
    for p in problems:
        if p.file or p.line is not None:
            out.append(p)
        else:
            out.append(
                errors.Problem(
                    message=p.message, path=p.path, file=f"{SOURCE}: {doc.ref}", hint=p.hint
                )
            )
    return out


def _lookup_kind(obj: dict[str, Any]) -> kinds.KindInfo:
    kind = obj.get("kind")
    if not isinstance(kind, str) or not kind:
        raise errors.ValidationError(
            "", [errors.Problem("kind is required", path="kind", hint="e.g. kind: Stage")]
        )
    try:
        return kinds.lookup(kind)
    except errors.KargoError:
        known = ", ".join(sorted({i.kind for i in kinds.KINDS.values()}))
        raise errors.ValidationError(
            "",
            [errors.Problem(f"unknown kind {kind!r}", path="kind", hint=f"use one of: {known}")],
        ) from None


def _comparable(obj: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in obj.items() if k != "status"}
    meta = dict(out.get("metadata") or {})
    for key in _STORE_OWNED:
        meta.pop(key, None)
    out["metadata"] = meta
    return out


def _sort(docs: list[_Doc], reverse: bool) -> list[_Doc]:
    ordered = sorted(docs, key=lambda d: (_RANK.get(d.kind, 5), d.index))
    return list(reversed(ordered)) if reverse else ordered


async def _parse(text: str) -> tuple[list[_Doc], list[errors.Problem]]:
    problems: list[errors.Problem] = []
    raw = manifests.load_documents(text, SOURCE)  # raises ValidationError with all problems
    docs: list[_Doc] = []
    for index, obj in enumerate(raw):
        try:
            info = _lookup_kind(obj)
        except errors.ValidationError as err:
            problems.extend(_problems_of(err, _Doc(index, obj, None)))
            continue
        docs.append(_Doc(index, obj, info))
    if not raw:
        problems.append(
            errors.Problem(
                "no documents found", file=SOURCE, hint="send one or more YAML documents"
            )
        )
    return docs, problems


def _check_scope(doc: _Doc) -> list[errors.Problem]:
    if doc.info.namespaced and not doc.namespace:
        return _problems_of(
            errors.ValidationError(
                "",
                [
                    errors.Problem(
                        f"a {doc.kind} lives in a project, but metadata.namespace is empty",
                        path="metadata.namespace",
                        hint="set metadata.namespace to the project's name",
                    )
                ],
            ),
            doc,
        )
    if not doc.info.namespaced and doc.namespace:
        doc.obj["metadata"].pop("namespace", None)
    if not doc.name and doc.kind not in ("Freight", "Promotion"):
        return _problems_of(
            errors.ValidationError(
                "", [errors.Problem("metadata.name is required", path="metadata.name")]
            ),
            doc,
        )
    return []


async def _admit(
    docs: list[_Doc],
    op: Operation,
    store: interface.Store,
    actor: str,
    now: datetime,
) -> tuple[list[tuple[_Doc, dict[str, Any] | None]], list[errors.Problem]]:
    """Phase 1: admit every document; returns (doc, existing-or-None) pairs and all problems."""
    problems: list[errors.Problem] = []
    view = lookup_mod.StoreLookup(store)
    admitted: list[tuple[_Doc, dict[str, Any] | None]] = []
    for doc in _sort(docs, reverse=op == "delete"):
        scope_problems = _check_scope(doc)
        if scope_problems:
            problems.extend(scope_problems)
            continue
        try:
            if op == "delete":
                existing = await view.get(doc.kind, doc.namespace, doc.name)
                if existing is not None:
                    await _maybe(admission.check_delete(existing, view))
                admitted.append((doc, existing))
                continue
            manifests.validate(doc.obj)
            defaulted = manifests.apply_defaults(doc.obj)
            obj = defaulted if isinstance(defaulted, dict) else doc.obj
            if doc.info.namespaced:
                project = await view.get("Project", "", doc.namespace)
                if project is None:
                    raise errors.ValidationError(
                        "",
                        [
                            errors.Problem(
                                f"project {doc.namespace!r} does not exist",
                                path="metadata.namespace",
                                hint="create the Project first, or add a Project document "
                                "to the same file",
                            )
                        ],
                    )
            existing = await view.get(doc.kind, doc.namespace, doc.name) if doc.name else None
            if existing is not None and op == "apply":
                result = await _maybe(
                    admission.admit_update(existing, obj, view, actor=actor, now=now)
                )
            else:
                result = await _maybe(admission.admit_create(obj, view, actor=actor, now=now))
            doc.obj = result
            view.add(result)
            admitted.append((doc, existing))
        except errors.KargoError as err:
            problems.extend(_problems_of(err, doc))
    return admitted, problems


def _result(doc: _Doc, result: str, obj: dict[str, Any] | None = None) -> ResourceResult:
    return ResourceResult.model_validate(
        {
            "apiVersion": str(doc.obj.get("apiVersion") or doc.info.api_version),
            "kind": doc.kind,
            "namespace": doc.namespace or None,
            "name": doc.name,
            "result": result,
            "object": redact.redact(obj) if obj is not None else None,
        }
    )


def _failed(doc: _Doc, err: errors.KargoError) -> ResourceResult:
    res = _result(doc, "failed")
    res.error = ErrorDetail.model_validate(errors.ErrorBody.from_error(err).to_dict()["error"])
    return res


async def handle(
    text: str, op: Operation, store: interface.Store, actor: str, now: datetime
) -> ResourcesResponse:
    """Run one /v1beta1/resources request: admit everything, then write; see module docstring."""
    docs, problems = await _parse(text)
    admitted, more = await _admit(docs, op, store, actor, now)
    problems.extend(more)
    if problems:
        unique = _dedupe(problems)
        raise errors.ValidationError(
            f"{len(unique)} problem(s) in the manifests; nothing was stored", unique
        )
    results: list[ResourceResult] = []
    for doc, existing in admitted:
        try:
            results.append(await _write(doc, existing, op, store))
        except errors.KargoError as err:
            results.append(_failed(doc, err))
    return ResourcesResponse(results=results)


async def _write(
    doc: _Doc, existing: dict[str, Any] | None, op: Operation, store: interface.Store
) -> ResourceResult:
    if op == "delete":
        if existing is None:
            raise errors.NotFoundError(
                f"{doc.kind} {doc.namespace + '/' if doc.namespace else ''}{doc.name} not found"
            )
        remaining = await store.delete(doc.kind, doc.namespace, doc.name)
        return _result(doc, "deleting" if remaining is not None else "deleted")
    if existing is None or op == "create":
        created = await store.create(doc.obj)
        doc.obj = created
        return _result(doc, "created", created)
    if _comparable(doc.obj) == _comparable(existing):
        return _result(doc, "unchanged", existing)
    new = copy.deepcopy(doc.obj)
    new.setdefault("metadata", {})["resourceVersion"] = (existing.get("metadata") or {}).get(
        "resourceVersion"
    )
    updated = await store.update(new)
    return _result(doc, "updated", updated)


async def _maybe(value: Any) -> Any:
    """Await `value` when admission returned an awaitable (its functions may be async)."""
    if inspect.isawaitable(value):
        return await value
    return value


def _dedupe(problems: list[errors.Problem]) -> list[errors.Problem]:
    seen: set[str] = set()
    out = []
    for p in problems:
        if str(p) not in seen:
            seen.add(str(p))
            out.append(p)
    return out
