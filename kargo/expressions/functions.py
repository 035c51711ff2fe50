"""Kargo's expression functions (pkg/expressions/function/functions.go) over injected data.

The promotion engine implements `PromotionData` (synchronous accessors over data it loaded
beforehand) and calls `promotion_functions(data)`; the Warehouse reconciler calls
`criteria_functions(discovered)` for `freightCreationCriteria`. Both return name -> callable
maps to merge into the env; `build_promotion_env` assembles the whole env of a step.

Artifacts come back as read-only `GoStruct`s with Kargo's Go field names
(`imageFrom(x).Tag`, `commitFrom(x).ID`, `chartFrom(x).Version`); their JSON form (what a
template writes) uses Kargo's JSON keys. Versions from `semverParse` are `VersionValue`s.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from kargo.expressions.artifacts import (
    CHART_FIELDS,
    COMMIT_FIELDS,
    IMAGE_FIELDS,
    OBJECT_KEYS,
    VersionValue as VersionValue,  # re-export
    artifact_struct,
    check_args,
    fail,
    make_struct,
    normalize_git,
    object_data,
    origin_arg,
    origin_key,
    semver_diff,
    semver_parse,
    string_arg,
    warehouse,
)
from kargo.expressions.criteria import criteria_functions as criteria_functions  # re-export
from kargo.expressions.objects import GoStruct

ALIAS_SEPARATOR = "::"
GENERIC_CRED_LABEL = "kargo.akuity.io/cred-type"


class PromotionData(Protocol):
    """What Kargo's promotion functions read. Synchronous: the engine pre-loads or adapts.

    Objects are plain Kubernetes-shaped dicts; a missing object is None.
    """

    def freight_collection(self) -> Mapping[str, Mapping[str, Any]]:
        """The promotion's Freight by origin key "Warehouse/<name>" (Freight object dicts)."""
        ...

    def requested_origins(self) -> list[Any]:
        """The Stage's requested origins: "Warehouse/<name>", a bare Warehouse name, a
        FreightOrigin dict or a FreightRequest dict (`{"origin": {...}}`)."""
        ...

    def warehouse(self, name: str) -> Mapping[str, Any] | None:
        """A Warehouse of the project, whose subscriptions decide which requested origin
        provides an artifact (Kargo's rule). Optional: without it, the origins whose Freight
        carries the artifact are used."""
        ...

    def freight(self, name: str) -> Mapping[str, Any] | None:
        """A Freight of the project, read fresh (status.metadata may have just changed)."""
        ...

    def stage(self, name: str) -> Mapping[str, Any] | None:
        """A Stage of the project, read fresh."""
        ...

    def config_map(self, name: str) -> Mapping[str, Any] | None:
        """A ConfigMap of the project namespace (the object, or just its data map)."""
        ...

    def secret(self, name: str) -> Mapping[str, Any] | None:
        """A Secret of the project namespace: the object (`data` base64 as in Kubernetes,
        `stringData` plain) or an already-decoded data map."""
        ...

    def shared_config_map(self, name: str) -> Mapping[str, Any] | None:
        """A ConfigMap of the shared-resources namespace."""
        ...

    def shared_secret(self, name: str) -> Mapping[str, Any] | None:
        """A Secret of the shared-resources namespace. As an object it is filtered here by its
        `kargo.akuity.io/cred-type: generic` label; a bare data map must be pre-filtered."""
        ...


def _subscriptions(data: PromotionData, origin_key: str) -> list[Mapping[str, Any]]:
    name = origin_key.split("/", 1)[1]
    wh = data.warehouse(name)
    if wh is None:
        raise fail(f'Warehouse "{name}" not found in the project')
    return list((wh.get("spec") or {}).get("subscriptions") or [])


class _Promotion:
    """The promotion functions bound to one PromotionData."""

    def __init__(self, data: PromotionData) -> None:
        self.data = data

    def _origins(self) -> list[str]:
        return [origin_key(o) for o in self.data.requested_origins()]

    def _pick_origin(
        self,
        matches: Callable[[Mapping[str, Any]], bool],
        ambiguity: str,
        provides: Callable[[str], bool],
    ) -> str | None:
        """The one requested origin whose Warehouse subscribes to the artifact (Kargo's rule).

        Without `PromotionData.warehouse`, the origins whose Freight carries it are used.
        """
        chosen: str | None = None
        has_warehouses = callable(getattr(self.data, "warehouse", None))
        for origin in self._origins():
            if has_warehouses:
                hits = sum(1 for sub in _subscriptions(self.data, origin) if matches(sub))
            else:
                hits = 1 if provides(origin) else 0
            for _ in range(hits):
                if chosen is not None:
                    raise fail(ambiguity)
                chosen = origin
        return chosen

    def _freight_items(self, origin: str, key: str) -> list[Mapping[str, Any]]:
        freight = self.data.freight_collection().get(origin)
        if freight is None:
            return []
        return list(freight.get(key) or [])

    def commit_from(self, *args: Any) -> GoStruct | None:
        check_args("commitFrom", args, 1, 2)
        repo = normalize_git(string_arg(args[0], "first argument"))
        origin = origin_arg(args[1], "second argument") if len(args) == 2 else None
        if origin is None:
            origin = self._pick_origin(
                lambda s: isinstance(s.get("git"), Mapping)
                and normalize_git(str(s["git"].get("repoURL", ""))) == repo,
                f"multiple requested Freight could potentially provide a commit from repo "
                f"{repo}; please update promotion steps to disambiguate",
                lambda o: any(
                    normalize_git(str(c.get("repoURL", ""))) == repo
                    for c in self._freight_items(o, "commits")
                ),
            )
        if origin is None:
            return None
        for c in self._freight_items(origin, "commits"):
            if normalize_git(str(c.get("repoURL", ""))) == repo:
                return make_struct("GitCommit", c, COMMIT_FIELDS)
        return None

    def image_from(self, *args: Any) -> GoStruct | None:
        check_args("imageFrom", args, 1, 2)
        repo = string_arg(args[0], "first argument")
        origin = origin_arg(args[1], "second argument") if len(args) == 2 else None
        if origin is None:
            origin = self._pick_origin(
                lambda s: isinstance(s.get("image"), Mapping) and s["image"].get("repoURL") == repo,
                f"multiple requested Freight could potentially provide a container image from "
                f"repository {repo}: please provide a Freight origin to disambiguate",
                lambda o: any(i.get("repoURL") == repo for i in self._freight_items(o, "images")),
            )
        if origin is None:
            return None
        for img in self._freight_items(origin, "images"):
            if img.get("repoURL") == repo:
                return make_struct("Image", img, IMAGE_FIELDS)
        return None

    def chart_from(self, *args: Any) -> GoStruct | None:
        check_args("chartFrom", args, 1, 3)
        repo = string_arg(args[0], "first argument")
        name = ""
        origin: str | None = None
        if len(args) >= 2:
            if isinstance(args[1], str):
                name = args[1]
            else:
                origin = origin_arg(args[1], "second argument must be string or FreightOrigin;")
        if len(args) == 3:
            if name == "":
                raise fail("when using three arguments, second argument must be string")
            origin = origin_arg(args[2], "third argument")
        if origin is None:
            origin = self._pick_origin(
                lambda s: isinstance(s.get("chart"), Mapping)
                and s["chart"].get("repoURL") == repo
                and (s["chart"].get("name") or "") == name,
                f"multiple requested Freight could potentially provide a chart from repository "
                f"{repo}: please provide a Freight origin to disambiguate",
                lambda o: any(
                    c.get("repoURL") == repo and (c.get("name") or "") == name
                    for c in self._freight_items(o, "charts")
                ),
            )
            if origin is None:
                what = f'chart "{name}" from repo {repo}' if name else f"chart from repo {repo}"
                raise fail(f"{what} not found in referenced Freight")
        for chart in self._freight_items(origin, "charts"):
            if chart.get("repoURL") == repo and (chart.get("name") or "") == name:
                return make_struct("Chart", chart, CHART_FIELDS)
        return None

    def artifact_from(self, *args: Any) -> GoStruct | None:
        check_args("artifactFrom", args, 1, 2)
        sub_name = string_arg(args[0], "first argument")
        origins = [origin_arg(args[1], "second argument")] if len(args) == 2 else self._origins()
        found: list[GoStruct] = []
        for origin in origins:
            for ref in self._freight_items(origin, "artifacts"):
                if ref.get("subscriptionName") == sub_name:
                    found.append(artifact_struct(ref))
                    break
        if len(found) > 1:
            raise fail(
                f"error finding artifact from subscription {sub_name}: multiple requested "
                "Freight could potentially provide it; please provide a Freight origin"
            )
        return found[0] if found else None

    def freight_metadata(self, *args: Any) -> Any:
        check_args("freightMetadata", args, 1, 1)
        name = string_arg(args[0], "first argument")
        if name == "":
            raise fail("freight ref name must not be empty")
        freight = self.data.freight(name)
        if freight is None:
            return None
        metadata = (freight.get("status") or {}).get("metadata")
        return dict(metadata) if metadata is not None else None

    def freight_status(self, *args: Any) -> Any:
        check_args("freightStatus", args, 1, 1)
        name = string_arg(args[0], "first argument")
        if name == "":
            raise fail("freight ref name must not be empty")
        freight = self.data.freight(name)
        if freight is None:
            return None
        return dict(freight.get("status") or {})

    def stage_metadata(self, *args: Any) -> Any:
        check_args("stageMetadata", args, 1, 1)
        name = string_arg(args[0])
        if name == "":
            raise fail("stage name must not be empty")
        stage = self.data.stage(name)
        if stage is None:
            return None
        metadata = (stage.get("status") or {}).get("metadata")
        return dict(metadata) if metadata is not None else None

    def config_map(self, *args: Any) -> dict[str, str]:
        check_args("configMap", args, 1, 1)
        return object_data(self.data.config_map(string_arg(args[0])))

    def shared_config_map(self, *args: Any) -> dict[str, str]:
        check_args("sharedConfigMap", args, 1, 1)
        return object_data(self.data.shared_config_map(string_arg(args[0])))

    def secret(self, *args: Any) -> dict[str, str]:
        check_args("secret", args, 1, 1)
        return secret_data(self.data.secret(string_arg(args[0])))

    def shared_secret(self, *args: Any) -> dict[str, str]:
        check_args("sharedSecret", args, 1, 1)
        obj = self.data.shared_secret(string_arg(args[0]))
        if obj is None:
            return {}
        if not any(k in obj for k in OBJECT_KEYS):
            return {str(k): str(v) for k, v in obj.items()}  # the adapter filtered already
        labels = (obj.get("metadata") or {}).get("labels") or {}
        if labels.get(GENERIC_CRED_LABEL) != "generic":
            return {}
        return secret_data(obj)


def secret_data(obj: Mapping[str, Any] | None) -> dict[str, str]:
    """A Secret's data as strings: base64 `data` decoded (as Kubernetes stores it), `stringData`
    as-is on top."""
    if obj is None:
        return {}
    if not any(k in obj for k in OBJECT_KEYS):
        return {str(k): str(v) for k, v in obj.items()}  # already a decoded data map
    out: dict[str, str] = {}
    for key, value in (obj.get("data") or {}).items():
        try:
            out[key] = base64.b64decode(str(value), validate=True).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            out[key] = str(value)
    for key, value in (obj.get("stringData") or {}).items():
        out[key] = str(value)
    return out


def promotion_functions(data: PromotionData) -> dict[str, Callable[..., Any]]:
    """warehouse, commitFrom, imageFrom, chartFrom, artifactFrom, freightMetadata,
    freightStatus, stageMetadata, configMap, secret, sharedConfigMap, sharedSecret,
    semverParse and semverDiff, bound to `data`."""
    p = _Promotion(data)
    return {
        "warehouse": warehouse,
        "commitFrom": p.commit_from,
        "imageFrom": p.image_from,
        "chartFrom": p.chart_from,
        "artifactFrom": p.artifact_from,
        "freightMetadata": p.freight_metadata,
        "freightStatus": p.freight_status,
        "stageMetadata": p.stage_metadata,
        "configMap": p.config_map,
        "secret": p.secret,
        "sharedConfigMap": p.shared_config_map,
        "sharedSecret": p.shared_secret,
        "semverParse": semver_parse,
        "semverDiff": semver_diff,
    }


def status_functions(
    current_alias: str, step_metas: Mapping[str, Mapping[str, Any]] | list[Mapping[str, Any]]
) -> dict[str, Callable[..., Any]]:
    """success(), failure(), always(), status(alias) over the earlier steps' metadata.

    `step_metas` is alias -> StepExecutionMetadata dict (or the status list); steps with
    `continueOnError` are ignored by success()/failure(), as Kargo's HasFailures does.
    """
    metas = list(step_metas.values()) if isinstance(step_metas, Mapping) else list(step_metas)
    namespace = ""
    parts = current_alias.split(ALIAS_SEPARATOR)
    if len(parts) == 2:
        namespace = parts[0]

    def has_failure(*args: Any) -> bool:
        check_args("failure", args, 0, 0)
        return any(
            m.get("status") in ("Failed", "Errored") and not m.get("continueOnError") for m in metas
        )

    def success(*args: Any) -> bool:
        check_args("success", args, 0, 0)
        return not has_failure()

    def always(*args: Any) -> bool:
        check_args("always", args, 0, 0)
        return True

    def status(*args: Any) -> str:
        check_args("status", args, 1, 1)
        alias = string_arg(args[0])
        if alias == "":
            raise fail("argument must not be empty")
        for m in metas:
            full = str(m.get("alias", ""))
            ns, short = "", full
            bits = full.split(ALIAS_SEPARATOR)
            if len(bits) == 2:
                ns, short = bits
            if ns == namespace and short == alias:
                return str(m.get("status", ""))
        return ""

    return {"success": success, "failure": has_failure, "always": always, "status": status}


def build_promotion_env(
    ctx: Mapping[str, Any],
    vars: Mapping[str, Any],
    outputs: Mapping[str, Any],
    task_outputs: Mapping[str, Any] | None,
    step_metas: Mapping[str, Any],
    functions: Mapping[str, Callable[..., Any]],
) -> dict[str, Any]:
    """The env of a step's `${{ }}`: ctx, vars, outputs, task.outputs (inside a task),
    stepMetas, plus `functions` (promotion + status functions). No `secrets` variable."""
    env: dict[str, Any] = {
        "ctx": dict(ctx),
        "vars": dict(vars),
        "outputs": dict(outputs),
        "stepMetas": dict(step_metas),
    }
    if task_outputs is not None:
        env["task"] = {"outputs": dict(task_outputs)}
    for name, fn in functions.items():
        env[name] = fn
    return env
