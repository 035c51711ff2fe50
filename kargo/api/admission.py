"""What Kargo's admission webhooks do, pure and store-independent.

    obj = await admit_create(obj, lookup, actor="admin", now=clock.now())
    obj = await admit_update(old, new, lookup, actor="admin", now=clock.now())
    await check_delete(obj, lookup)

Creation validates the object (`kargo.api.manifests`), fills Kargo's defaults, requires the
Project of a namespaced object, and then per kind:
- Freight: name = Freight ID (`kargo.api.freight_id`), at least one artifact, `discoveredAt`
  defaulted, a unique alias generated when absent (label `kargo.akuity.io/alias` synced).
- Promotion: name `<stage>.<ulid>.<freight[:7]>`, label `kargo.akuity.io/stage`, annotation
  `kargo.akuity.io/create-actor`, vars and steps copied from the Stage with PromotionTasks
  inflated (`inflate_steps`, Kargo's pkg/api/promotion.go).
- ProjectConfig: its name equals its project. Stage: upstream Stages form no cycle.
Updates keep Freight content and Promotion specs immutable. Deletion of Freight in use fails.

The store calls this through the `Lookup` protocol, so the rules are testable with a dict.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

import ulid

from kargo import errors
from kargo.api import aliases, availability, freight_id as freight_id_, kinds, manifests
from kargo.api.models.step import step_alias
from kargo.errors import Problem

Obj = dict[str, Any]

LABEL_ALIAS = "kargo.akuity.io/alias"
LABEL_STAGE = "kargo.akuity.io/stage"
LABEL_SHARD = "kargo.akuity.io/shard"
ANNOTATION_CREATE_ACTOR = "kargo.akuity.io/create-actor"
TASK_ALIAS_SEPARATOR = "::"
MAX_NAME = 253
SHORT_HASH = 7
FREIGHT_CONTENT = ("origin", "commits", "images", "charts", "artifacts", "discoveredAt")


class Lookup(Protocol):
    """Read access to stored objects; cluster-scoped kinds use namespace ""."""

    async def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        ...

    async def list(self, kind: str, namespace: str) -> list[dict[str, Any]]:
        """Every object of a kind in a namespace."""
        ...


def _invalid(message: str, path: str = "", hint: str = "") -> errors.ValidationError:
    return errors.ValidationError(
        message + (f"; {hint}" if hint else ""),
        problems=[Problem(message=message, path=path, hint=hint)],
    )


def _meta(obj: Obj) -> dict[str, Any]:
    meta = obj.setdefault("metadata", {})
    assert isinstance(meta, dict)
    return meta


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


async def admit_create(
    obj: dict[str, Any],
    lookup: Lookup,
    *,
    actor: str,
    now: datetime,
    new_alias: Callable[[], str] | None = None,
) -> dict[str, Any]:
    """Validate, default and complete an object about to be created; return what to store."""
    manifests.validate(obj)
    out = manifests.apply_defaults(copy.deepcopy(obj))
    info = kinds.KINDS[out["kind"]]
    namespace = await _require_project(out, info, lookup)
    kind = out["kind"]
    if kind == "Freight":
        await _admit_freight(out, namespace, lookup, now, new_alias)
    elif kind == "Promotion":
        await _admit_promotion(out, namespace, lookup, actor, now)
    elif kind == "ProjectConfig":
        _check_project_config_name(out, namespace)
    elif kind == "Stage":
        await _check_stage_cycle(out, namespace, lookup)
    if kind in ("Stage", "Warehouse"):
        _sync_shard_label(out)
    return out


async def admit_update(
    old: dict[str, Any],
    new: dict[str, Any],
    lookup: Lookup,
    *,
    actor: str,
    now: datetime,
) -> dict[str, Any]:
    """Validate and default an update; refuse changes to what Kargo keeps immutable."""
    del actor, now  # the same signature as admit_create; updates record no actor today
    manifests.validate(new)
    out = manifests.apply_defaults(copy.deepcopy(new))
    info = kinds.KINDS[out["kind"]]
    namespace = await _require_project(out, info, lookup)
    kind = out["kind"]
    if kind == "Freight":
        if "discoveredAt" not in out and "discoveredAt" in old:
            out["discoveredAt"] = old["discoveredAt"]
        changed = [k for k in FREIGHT_CONTENT if out.get(k) != old.get(k)]
        if changed:
            raise _invalid(
                f"Freight is immutable: {', '.join(changed)} cannot change",
                changed[0],
                "only alias, labels and annotations of Freight may be updated",
            )
        alias = out.get("alias") or old.get("alias")
        if alias:
            await _check_alias_unique(alias, out, namespace, lookup)
            out["alias"] = alias
            _labels(out)[LABEL_ALIAS] = alias
    elif kind == "Promotion":
        if out.get("spec") != old.get("spec"):
            raise _invalid(
                "the spec of a Promotion is immutable",
                "spec",
                "create a new Promotion instead of changing this one",
            )
    elif kind == "ProjectConfig":
        _check_project_config_name(out, namespace)
    elif kind == "Stage":
        await _check_stage_cycle(out, namespace, lookup)
    if kind in ("Stage", "Warehouse"):
        _sync_shard_label(out)
    return out


async def check_delete(obj: dict[str, Any], lookup: Lookup) -> None:
    """Refuse deletions Kargo refuses: Freight currently used by a Stage."""
    if obj.get("kind") != "Freight":
        return
    meta = obj.get("metadata") or {}
    name, namespace = meta.get("name", ""), meta.get("namespace", "")
    users = [
        stage["metadata"]["name"]
        for stage in await lookup.list("Stage", namespace)
        if name in _current_freight(stage)
    ]
    if users:
        raise errors.ConflictError(
            f"Freight {name!r} is in use by Stage(s) {', '.join(sorted(users))} "
            "and cannot be deleted; promote other Freight into them first"
        )


def _current_freight(stage: Obj) -> set[str]:
    history = ((stage.get("status") or {}).get("freightHistory")) or []
    if not history:
        return set()
    items = (history[0] or {}).get("items") or {}
    return {ref.get("name", "") for ref in items.values() if isinstance(ref, dict)}


async def _require_project(obj: Obj, info: kinds.KindInfo, lookup: Lookup) -> str:
    meta = _meta(obj)
    if not info.namespaced:
        return ""
    namespace = meta.get("namespace") or ""
    if not namespace:
        raise _invalid(
            f"a {info.kind} must belong to a project",
            "metadata.namespace",
            "set metadata.namespace to the project's name",
        )
    if await lookup.get("Project", "", namespace) is None:
        raise errors.NotFoundError(
            f'project "{namespace}" does not exist; create the Project first'
        )
    return str(namespace)


def _labels(obj: Obj) -> dict[str, str]:
    meta = _meta(obj)
    labels = meta.get("labels")
    if not isinstance(labels, dict):
        labels = meta["labels"] = {}
    return labels


def _sync_shard_label(obj: Obj) -> None:
    shard = (obj.get("spec") or {}).get("shard")
    if shard:
        _labels(obj)[LABEL_SHARD] = shard
    else:
        labels = _meta(obj).get("labels")
        if isinstance(labels, dict):
            labels.pop(LABEL_SHARD, None)


def _check_project_config_name(obj: Obj, namespace: str) -> None:
    name = _meta(obj).get("name")
    if name != namespace:
        raise _invalid(
            f"a ProjectConfig must be named after its project ({namespace!r}), not {name!r}",
            "metadata.name",
            f"set metadata.name: {namespace}",
        )


# --- Freight ---------------------------------------------------------------------------------


async def _admit_freight(
    obj: Obj,
    namespace: str,
    lookup: Lookup,
    now: datetime,
    new_alias: Callable[[], str] | None,
) -> None:
    if not any(obj.get(k) for k in ("commits", "images", "charts", "artifacts")):
        raise _invalid(
            "Freight needs at least one artifact",
            "",
            "add at least one of commits, images, charts or artifacts",
        )
    origin = obj.get("origin") or {}
    if await lookup.get("Warehouse", namespace, origin.get("name", "")) is None:
        raise _invalid(
            f"origin Warehouse {origin.get('name')!r} does not exist in project {namespace!r}",
            "origin.name",
            "name an existing Warehouse",
        )
    _meta(obj)["name"] = freight_id_.freight_id(obj)
    obj.setdefault("discoveredAt", _rfc3339(now))
    alias = obj.get("alias")
    if alias:
        await _check_alias_unique(alias, obj, namespace, lookup)
    else:
        taken = {f.get("alias") for f in await lookup.list("Freight", namespace)}
        alias = aliases.unique_alias(taken, new_alias)
        obj["alias"] = alias
    _labels(obj)[LABEL_ALIAS] = alias


async def _check_alias_unique(alias: str, obj: Obj, namespace: str, lookup: Lookup) -> None:
    name = _meta(obj).get("name")
    for other in await lookup.list("Freight", namespace):
        if other.get("alias") == alias and (other.get("metadata") or {}).get("name") != name:
            raise _invalid(
                f"alias {alias!r} is already used by Freight "
                f"{(other.get('metadata') or {}).get('name')!r}",
                "alias",
                "choose another alias (aliases are unique per project)",
            )


# --- Promotion -------------------------------------------------------------------------------


def promotion_name(stage: str, freight: str, now: datetime) -> str:
    """`<stage>.<ULID>.<freight[:7]>`, lowercased, the Stage prefix cut to fit 253 characters."""
    short = freight[:SHORT_HASH]
    room = MAX_NAME - 1 - 26 - 1 - SHORT_HASH
    ident = str(ulid.ULID.from_datetime(now))
    return f"{stage[:room]}.{ident}.{short}".lower()


def stage_label_value(stage: str) -> str:
    """A Stage name fit for a label value (63 chars; long names shortened with a hash)."""
    if len(stage) <= 63:
        return stage
    digest = hashlib.sha256(stage.encode()).hexdigest()[:8]
    return f"{stage[:54].rstrip('-.')}-{digest}"


async def _admit_promotion(
    obj: Obj, namespace: str, lookup: Lookup, actor: str, now: datetime
) -> None:
    spec = obj["spec"]
    stage_name = spec["stage"]
    stage = await lookup.get("Stage", namespace, stage_name)
    if stage is None:
        raise _invalid(
            f"Stage {stage_name!r} does not exist in project {namespace!r}",
            "spec.stage",
            "name an existing Stage",
        )
    template = ((stage.get("spec") or {}).get("promotionTemplate") or {}).get("spec") or {}
    if not template.get("steps"):
        raise _invalid(
            f"Stage {stage_name!r} has no promotion steps (it is a control-flow Stage) "
            "and cannot be promoted to",
            "spec.stage",
            "promote to a Stage with spec.promotionTemplate.spec.steps",
        )
    if spec.get("origin"):
        spec["freight"] = await _newest_available(stage, spec.pop("origin"), lookup, now)
    freight = await lookup.get("Freight", namespace, spec["freight"])
    if freight is None:
        raise _invalid(
            f"Freight {spec['freight']!r} does not exist in project {namespace!r}",
            "spec.freight",
            "name existing Freight by its name (ID) or use origin to pick the newest",
        )
    origin = freight.get("origin") or {}
    requested = {
        (r["origin"].get("kind", "Warehouse"), r["origin"]["name"])
        for r in stage["spec"]["requestedFreight"]
    }
    if (origin.get("kind", "Warehouse"), origin.get("name")) not in requested:
        raise _invalid(
            f"Stage {stage_name!r} does not request Freight from "
            f"{origin.get('kind', 'Warehouse')}/{origin.get('name')}",
            "spec.freight",
            "promote Freight whose origin is listed in the Stage's requestedFreight",
        )
    meta = _meta(obj)
    meta["name"] = promotion_name(stage_name, spec["freight"], now)
    meta.pop("generateName", None)
    _labels(obj)[LABEL_STAGE] = stage_label_value(stage_name)
    annotations = meta.get("annotations")
    if not isinstance(annotations, dict):
        annotations = meta["annotations"] = {}
    annotations[ANNOTATION_CREATE_ACTOR] = actor
    promo_vars = list(stage["spec"].get("vars") or []) + list(template.get("vars") or [])
    spec["vars"] = promo_vars
    spec["steps"] = await inflate_steps(template["steps"], promo_vars, namespace, lookup)
    if not spec["vars"]:
        del spec["vars"]


async def inflate_steps(
    steps: list[dict[str, Any]],
    promo_vars: list[dict[str, Any]],
    namespace: str,
    lookup: Lookup,
) -> list[dict[str, Any]]:
    """Kargo's InflateSteps: set default aliases and expand task references into their steps."""
    out: list[dict[str, Any]] = []
    for index, raw in enumerate(steps):
        step = copy.deepcopy(raw)
        alias = step_alias(step, index)
        task_ref = step.get("task")
        if task_ref is None:
            step["as"] = alias
            out.append(step)
            continue
        try:
            out.extend(await _inflate_task(task_ref, alias, promo_vars, step, namespace, lookup))
        except errors.ValidationError as err:
            message = f"inflate task steps for task {task_ref.get('name')!r} ({alias!r}): {err}"
            raise _invalid(message, f"spec.steps[{index}]") from err
    return out


async def _inflate_task(
    ref: dict[str, Any],
    task_alias: str,
    promo_vars: list[dict[str, Any]],
    step: dict[str, Any],
    namespace: str,
    lookup: Lookup,
) -> list[dict[str, Any]]:
    kind = ref.get("kind") or "PromotionTask"
    task_ns = namespace if kind == "PromotionTask" else ""
    task = await lookup.get(kind, task_ns, ref.get("name", ""))
    if task is None:
        where = f" in project {namespace!r}" if task_ns else ""
        raise _invalid(f"{kind} {ref.get('name')!r} not found{where}")
    spec = task.get("spec") or {}
    variables = task_vars_to_step_vars(spec.get("vars") or [], promo_vars, step.get("vars") or [])
    inflated: list[dict[str, Any]] = []
    for index, raw in enumerate(spec.get("steps") or []):
        task_step = copy.deepcopy(raw)
        task_step["as"] = f"{task_alias}{TASK_ALIAS_SEPARATOR}{step_alias(task_step, index)}"
        task_step["vars"] = [dict(v) for v in variables] + list(task_step.get("vars") or [])
        if not task_step["vars"]:
            del task_step["vars"]
        inflated.append(task_step)
    return inflated


def task_vars_to_step_vars(
    task_vars: list[dict[str, Any]],
    promo_vars: list[dict[str, Any]],
    step_vars: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """Task defaults not set by the Promotion, then the calling step's vars (Kargo's rules).

    A task var without a value is required: it must be set (non-empty) by the Promotion's
    vars or by the calling step's vars, else `missing value for variable "x"`.
    """
    promo_set = {v["name"] for v in promo_vars if v.get("value")}
    step_set = {v["name"] for v in step_vars if v.get("value")}
    out: list[dict[str, Any]] = []
    for var in task_vars:
        if var["name"] in promo_set:
            continue
        if var.get("value"):
            out.append(dict(var))
            continue
        if var["name"] not in step_set:
            raise _invalid(
                f'missing value for variable "{var["name"]}"',
                "vars",
                f"set {var['name']} in the task step's vars or the Stage's vars",
            )
    out.extend(dict(v) for v in step_vars)
    return out


async def _newest_available(
    stage: Obj, origin: dict[str, Any], lookup: Lookup, now: datetime
) -> str:
    """The newest Freight of `origin` available to the Stage (Kargo resolves `spec.origin`)."""
    namespace = stage["metadata"]["namespace"]
    stage_name = stage["metadata"]["name"]
    request = next(
        (
            r
            for r in stage["spec"]["requestedFreight"]
            if r["origin"]["name"] == origin.get("name")
            and r["origin"].get("kind", "Warehouse") == origin.get("kind", "Warehouse")
        ),
        None,
    )
    if request is None:
        raise _invalid(
            f"Stage {stage_name!r} does not request Freight from "
            f"{origin.get('kind', 'Warehouse')}/{origin.get('name')}",
            "spec.origin",
            "use an origin listed in the Stage's requestedFreight",
        )
    upstream: dict[str, Obj] = {}
    for name in (request.get("sources") or {}).get("stages") or []:
        found = await lookup.get("Stage", namespace, name)
        if found is not None:
            upstream[name] = found
    candidate = availability.auto_promotion_candidate(
        stage, request, await lookup.list("Freight", namespace), upstream, now
    )
    if candidate is None:
        raise _invalid(
            f"no Freight from {origin.get('kind', 'Warehouse')}/{origin.get('name')} "
            f"is available to Stage {stage_name!r}",
            "spec.origin",
            "verify Freight in an upstream Stage, approve it, or name it with spec.freight",
        )
    return str(candidate["metadata"]["name"])


# --- Stage -----------------------------------------------------------------------------------


def upstream_stages(stage: Obj) -> list[str]:
    """The Stages a Stage takes Freight from."""
    out: list[str] = []
    for request in (stage.get("spec") or {}).get("requestedFreight") or []:
        for name in (request.get("sources") or {}).get("stages") or []:
            if name not in out:
                out.append(name)
    return out


def find_cycle(graph: dict[str, list[str]], start: str) -> list[str] | None:
    """A path start -> ... -> start following upstream edges, if one exists."""
    path: list[str] = [start]
    seen: set[str] = set()

    def walk(node: str) -> bool:
        for nxt in graph.get(node, []):
            if nxt == start:
                path.append(nxt)
                return True
            if nxt in seen:
                continue
            seen.add(nxt)
            path.append(nxt)
            if walk(nxt):
                return True
            path.pop()
        return False

    return path if walk(start) else None


async def _check_stage_cycle(stage: Obj, namespace: str, lookup: Lookup) -> None:
    name = stage["metadata"]["name"]
    graph = {
        s["metadata"]["name"]: upstream_stages(s) for s in await lookup.list("Stage", namespace)
    }
    graph[name] = upstream_stages(stage)
    cycle = find_cycle(graph, name)
    if cycle:
        raise _invalid(
            f"upstream stages form a cycle: {' -> '.join(cycle)}",
            "spec.requestedFreight",
            "a Stage cannot (indirectly) take Freight from itself; remove one upstream link",
        )
