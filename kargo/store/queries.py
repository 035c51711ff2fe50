"""Compiled-once SQL for lists: statements are cached by their shape, values are bound.

Building a SQLAlchemy statement costs more than running it on a 100-row page, so `list_page`
builds each shape (which filters, how many label requirements and values, paging or not) once
and binds the values per call; every value has its own named parameter (no expanding IN), so a
shape compiles to one fixed SQL text (`kargo.store.reads` caches it per database). Keyset paging uses `name > :after` inside one namespace and a row-value
comparison `(namespace, name) > (:ns, :name)` across namespaces, so both walk the
(kind, namespace, name) index from the page start instead of skipping earlier rows.
The current resourceVersion is read in the same statement, so a page and its resourceVersion
come from one snapshot. Used by `kargo.store.sql`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from kargo.store import schema, selectors

_obj = schema.objects
_lab = schema.labels
_state = schema.store_state

RV_NOW = sa.select(_state.c.resource_version).where(_state.c.id == 1)


@dataclass(frozen=True)
class ListShape:
    """What varies between list statements, apart from bound values."""

    namespace: bool
    name: bool
    after: str  # "" (first page), "name" (within one namespace) or "key" (across namespaces)
    limit: bool
    requirements: tuple[tuple[str, int], ...]  # (operator, number of values) per requirement


def _label_clause(i: int, op: str, count: int) -> sa.ColumnElement[bool]:
    sub = sa.select(_lab.c.object_id).where(
        _lab.c.object_id == _obj.c.id, _lab.c.key == sa.bindparam(f"lk{i}")
    )
    if op == "exists":
        return sub.exists()
    if op == "!exists":
        return ~sub.exists()
    values: list[sa.BindParameter[str]] = [sa.bindparam(f"lv{i}_{j}") for j in range(count)]
    with_value = sub.where(_lab.c.value.in_(values)).exists()
    return with_value if op in ("=", "in") else ~with_value


@functools.lru_cache(maxsize=512)
def list_statement(shape: ListShape) -> sa.Select[Any]:
    """The statement for one shape: rows (body, current resourceVersion). A continue token is
    made from the last object's metadata, so no more columns are fetched than must be."""
    q = sa.select(_obj.c.body, RV_NOW.scalar_subquery()).where(_obj.c.kind == sa.bindparam("kind"))
    if shape.namespace:
        q = q.where(_obj.c.namespace == sa.bindparam("ns"))
    if shape.name:
        q = q.where(_obj.c.name == sa.bindparam("name"))
    if shape.after == "name":
        q = q.where(_obj.c.name > sa.bindparam("after_name"))
    elif shape.after == "key":
        q = q.where(
            sa.tuple_(_obj.c.namespace, _obj.c.name)
            > sa.tuple_(sa.bindparam("after_ns"), sa.bindparam("after_name"))
        )
    for i, (op, count) in enumerate(shape.requirements):
        q = q.where(_label_clause(i, op, count))
    q = q.order_by(_obj.c.namespace, _obj.c.name)
    if shape.limit:
        q = q.limit(sa.bindparam("limit", literal_execute=False))
    return q


def list_page(
    kind: str,
    namespace: str | None,
    name: str | None,
    after: tuple[str, str] | None,
    limit: int | None,
    reqs: tuple[selectors.Requirement, ...],
) -> tuple[sa.Select[Any], dict[str, Any]]:
    """The cached statement and its parameters for one page (`limit` rows, or all)."""
    after_mode = "" if after is None else ("name" if namespace is not None else "key")
    shape = ListShape(
        namespace=namespace is not None,
        name=name is not None,
        after=after_mode,
        limit=limit is not None,
        requirements=tuple((r.op, len(r.values)) for r in reqs),
    )
    params: dict[str, Any] = {"kind": kind}
    if namespace is not None:
        params["ns"] = namespace
    if name is not None:
        params["name"] = name
    if after is not None:
        params["after_name"] = after[1]
        if after_mode == "key":
            params["after_ns"] = after[0]
    if limit is not None:
        params["limit"] = limit
    for i, req in enumerate(reqs):
        params[f"lk{i}"] = req.key
        if req.op not in ("exists", "!exists"):
            for j, value in enumerate(req.values):
                params[f"lv{i}_{j}"] = value
    return list_statement(shape), params


# -- prebuilt statements for the hot paths (values are bound at execution) --------------------

_evt = schema.events

STATE_LOCK = RV_NOW.with_for_update()
STATE_SET_RV = (
    _state.update().where(_state.c.id == 1).values(resource_version=sa.bindparam("new_rv"))
)
STATE_NOW = sa.select(_state.c.resource_version, _state.c.compacted_version).where(_state.c.id == 1)
EVENTS_INSERT = _evt.insert()

_KEY = sa.and_(
    _obj.c.kind == sa.bindparam("kind"),
    _obj.c.namespace == sa.bindparam("ns"),
    _obj.c.name == sa.bindparam("name"),
)
BODY_BY_KEY = sa.select(_obj.c.body).where(_KEY)
ROW_BY_KEY = sa.select(_obj.c.id, _obj.c.body).where(_KEY)
OBJECT_INSERT = _obj.insert().returning(_obj.c.id)
OBJECT_SET_BODY = (
    _obj.update().where(_obj.c.id == sa.bindparam("oid")).values(body=sa.bindparam("new_body"))
)
OBJECT_DELETE = _obj.delete().where(_obj.c.id == sa.bindparam("oid"))
ANY_IN_NAMESPACE = sa.select(_obj.c.id).where(_obj.c.namespace == sa.bindparam("ns")).limit(1)
CACHE_GET = sa.select(schema.cache.c.value).where(
    schema.cache.c.bucket == sa.bindparam("bucket"), schema.cache.c.key == sa.bindparam("key")
)
ALL_IN_NAMESPACE = (
    sa.select(_obj.c.id, _obj.c.kind, _obj.c.name, _obj.c.body)
    .where(_obj.c.namespace == sa.bindparam("ns"))
    .order_by(_obj.c.kind, _obj.c.name)
)
LABELS_DELETE = _lab.delete().where(_lab.c.object_id == sa.bindparam("oid"))
LABELS_INSERT = _lab.insert()


def key_params(kind: str, namespace: str, name: str) -> dict[str, str]:
    """Parameters for BODY_BY_KEY / ROW_BY_KEY."""
    return {"kind": kind, "ns": namespace, "name": name}


@functools.lru_cache(maxsize=8)
def events_after(by_kind: bool, by_namespace: bool, batch: int) -> sa.Select[Any]:
    """Watch events after `:cursor`, optionally of one kind and namespace, oldest first."""
    q = sa.select(_evt.c.resource_version, _evt.c.type, _evt.c.body, _evt.c.prev_labels).where(
        _evt.c.resource_version > sa.bindparam("cursor")
    )
    if by_kind:
        q = q.where(_evt.c.kind == sa.bindparam("kind"))
    if by_namespace:
        q = q.where(_evt.c.namespace == sa.bindparam("ns"))
    return q.order_by(_evt.c.resource_version).limit(batch)
