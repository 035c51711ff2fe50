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
import functools
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Protocol

from kargo import errors
from kargo.api import semver, urls
from kargo.expressions.objects import ExprObject, GoStruct

ALIAS_SEPARATOR = "::"
# URL normalisation is pure and called for every commitFrom(): cache it
_normalize_git = functools.lru_cache(maxsize=4096)(urls.normalize_git)
_normalize_image = functools.lru_cache(maxsize=4096)(urls.normalize_image)
_normalize_chart = functools.lru_cache(maxsize=4096)(urls.normalize_chart)
GENERIC_CRED_LABEL = "kargo.akuity.io/cred-type"

IMAGE_FIELDS = {
    "RepoURL": "repoURL",
    "Tag": "tag",
    "Digest": "digest",
    "Annotations": "annotations",
}
COMMIT_FIELDS = {
    "RepoURL": "repoURL",
    "ID": "id",
    "Branch": "branch",
    "Tag": "tag",
    "Message": "message",
    "Author": "author",
    "Committer": "committer",
}
CHART_FIELDS = {"RepoURL": "repoURL", "Name": "name", "Version": "version"}
ORIGIN_FIELDS = {"Kind": "kind", "Name": "name"}
DISCOVERED_COMMIT_FIELDS = {
    "ID": "id",
    "Branch": "branch",
    "Tag": "tag",
    "Subject": "subject",
    "Author": "author",
    "Committer": "committer",
    "CreatorDate": "creatorDate",
}
DISCOVERED_IMAGE_FIELDS = {
    "Tag": "tag",
    "Digest": "digest",
    "Annotations": "annotations",
    "CreatedAt": "createdAt",
}
ARTIFACT_FIELDS = {  # expressionFriendlyArtifactReference has no json tags: Go names both ways
    "ArtifactType": "ArtifactType",
    "SubscriptionName": "SubscriptionName",
    "Version": "Version",
    "Metadata": "Metadata",
}


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


class VersionValue(ExprObject):
    """Masterminds' *semver.Version as expressions see it."""

    type_name = "*semver.Version"
    methods: ClassVar[frozenset[str]] = frozenset(
        {
            "Major",
            "Minor",
            "Patch",
            "Prerelease",
            "Metadata",
            "Original",
            "String",
            "IncMajor",
            "IncMinor",
            "IncPatch",
            "LessThan",
            "GreaterThan",
            "Equal",
            "Compare",
        }
    )

    def __init__(self, version: semver.Version) -> None:
        self.version = version

    def __eq__(self, other: object) -> bool:
        return isinstance(other, VersionValue) and str(other.version) == str(self.version)

    def __hash__(self) -> int:
        return hash(str(self.version))

    def to_json(self) -> Any:
        return str(self.version)

    def go_string(self) -> str:
        return str(self.version)

    def m_Major(self) -> int:
        return self.version.major

    def m_Minor(self) -> int:
        return self.version.minor

    def m_Patch(self) -> int:
        return self.version.patch

    def m_Prerelease(self) -> str:
        return self.version.prerelease

    def m_Metadata(self) -> str:
        return self.version.metadata

    def m_Original(self) -> str:
        return self.version.original or str(self.version)

    def m_String(self) -> str:
        return str(self.version)

    def m_IncMajor(self) -> VersionValue:
        return VersionValue(self.version.inc_major())

    def m_IncMinor(self) -> VersionValue:
        return VersionValue(self.version.inc_minor())

    def m_IncPatch(self) -> VersionValue:
        return VersionValue(self.version.inc_patch())

    def m_LessThan(self, other: VersionValue) -> bool:
        return self.version.compare(_version_arg(other)) < 0

    def m_GreaterThan(self, other: VersionValue) -> bool:
        return self.version.compare(_version_arg(other)) > 0

    def m_Equal(self, other: VersionValue) -> bool:
        return self.version.compare(_version_arg(other)) == 0

    def m_Compare(self, other: VersionValue) -> int:
        return self.version.compare(_version_arg(other))


def _version_arg(v: Any) -> semver.Version:
    if not isinstance(v, VersionValue):
        raise errors.ExpressionError("expected a version from semverParse()")
    return v.version


def _fail(message: str) -> errors.ExpressionError:
    return errors.ExpressionError(message)


def _args(fn: str, args: tuple[Any, ...], low: int, high: int) -> None:
    if not low <= len(args) <= high:
        expected = str(low) if low == high else f"{low}-{high}"
        plural = "" if expected == "1" else "s"
        raise _fail(f"{fn}: expected {expected} argument{plural}, got {len(args)}")


def _string_arg(v: Any, which: str = "argument") -> str:
    if not isinstance(v, str):
        raise _fail(f"{which} must be string, got {_go_type(v)}")
    return v


def _go_type(v: Any) -> str:
    if isinstance(v, GoStruct):
        return v.expr_type()
    return {
        type(None): "<nil>",
        bool: "bool",
        int: "int",
        float: "float64",
        str: "string",
        list: "[]interface {}",
        dict: "map[string]interface {}",
    }.get(type(v), type(v).__name__)


def _origin_arg(v: Any, which: str) -> str:
    if isinstance(v, GoStruct) and v.expr_type() == "FreightOrigin":
        return f"{v.get_field('Kind')}/{v.get_field('Name')}"
    raise _fail(f"{which} must be FreightOrigin, got {_go_type(v)}")


def _origin_key(origin: Any) -> str:
    """ "Warehouse/<name>" from a key, a bare name, a FreightOrigin or a FreightRequest dict."""
    if isinstance(origin, Mapping):
        inner = origin.get("origin", origin)
        return f"{inner.get('kind') or 'Warehouse'}/{inner.get('name', '')}"
    text = str(origin)
    return text if "/" in text else f"Warehouse/{text}"


def _object_data(obj: Mapping[str, Any] | None) -> dict[str, Any]:
    """`data` of a ConfigMap object; an adapter may also hand over the data map itself."""
    if obj is None:
        return {}
    if any(k in obj for k in _OBJECT_KEYS):
        return dict(obj.get("data") or {})
    return dict(obj)


_OBJECT_KEYS = ("apiVersion", "kind", "metadata", "data", "stringData")


def warehouse(*args: Any) -> GoStruct:
    """`warehouse(name)` -> FreightOrigin{Kind: Warehouse, Name: name}."""
    _args("warehouse", args, 1, 1)
    name = _string_arg(args[0])
    if name == "":
        raise _fail("name must not be empty")
    return GoStruct("FreightOrigin", {"Kind": "Warehouse", "Name": name}, ORIGIN_FIELDS)


def semver_parse(*args: Any) -> VersionValue:
    """`semverParse(v)` -> a Version with Major(), IncPatch()...; invalid versions fail."""
    _args("semverParse", args, 1, 1)
    text = _string_arg(args[0])
    try:
        return VersionValue(semver.parse_version(text))
    except ValueError as err:
        raise _fail(f"invalid semantic version: {err}") from None


def semver_diff(*args: Any) -> str:
    """`semverDiff(a, b)` -> Major|Minor|Patch|Metadata|None|Incomparable."""
    _args("semverDiff", args, 2, 2)
    a = _string_arg(args[0], "first argument")
    b = _string_arg(args[1], "second argument")
    try:
        va, vb = semver.parse_version(a), semver.parse_version(b)
    except ValueError:
        return "Incomparable"
    if va.major != vb.major:
        return "Major"
    if va.minor != vb.minor:
        return "Minor"
    if va.patch != vb.patch:
        return "Patch"
    if va.metadata != vb.metadata:
        return "Metadata"
    return "None"


def _struct(kind: str, data: Mapping[str, Any], fields: Mapping[str, str]) -> GoStruct:
    return GoStruct.from_json(kind, data, fields)


def _artifact_struct(ref: Mapping[str, Any]) -> GoStruct:
    metadata = ref.get("metadata")
    return GoStruct(
        "ArtifactReference",
        {
            "ArtifactType": ref.get("artifactType") or "",
            "SubscriptionName": ref.get("subscriptionName") or "",
            "Version": ref.get("version") or "",
            "Metadata": dict(metadata) if isinstance(metadata, Mapping) else {},
        },
        ARTIFACT_FIELDS,
    )


def _subscriptions(data: PromotionData, origin_key: str) -> list[Mapping[str, Any]]:
    name = origin_key.split("/", 1)[1]
    wh = data.warehouse(name)
    if wh is None:
        raise _fail(f'Warehouse "{name}" not found in the project')
    return list((wh.get("spec") or {}).get("subscriptions") or [])


class _Promotion:
    """The promotion functions bound to one PromotionData."""

    def __init__(self, data: PromotionData) -> None:
        self.data = data

    def _origins(self) -> list[str]:
        return [_origin_key(o) for o in self.data.requested_origins()]

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
                    raise _fail(ambiguity)
                chosen = origin
        return chosen

    def _freight_items(self, origin: str, key: str) -> list[Mapping[str, Any]]:
        freight = self.data.freight_collection().get(origin)
        if freight is None:
            return []
        return list(freight.get(key) or [])

    def commit_from(self, *args: Any) -> GoStruct | None:
        _args("commitFrom", args, 1, 2)
        repo = _normalize_git(_string_arg(args[0], "first argument"))
        origin = _origin_arg(args[1], "second argument") if len(args) == 2 else None
        if origin is None:
            origin = self._pick_origin(
                lambda s: isinstance(s.get("git"), Mapping)
                and _normalize_git(str(s["git"].get("repoURL", ""))) == repo,
                f"multiple requested Freight could potentially provide a commit from repo "
                f"{repo}; please update promotion steps to disambiguate",
                lambda o: any(
                    _normalize_git(str(c.get("repoURL", ""))) == repo
                    for c in self._freight_items(o, "commits")
                ),
            )
        if origin is None:
            return None
        for c in self._freight_items(origin, "commits"):
            if _normalize_git(str(c.get("repoURL", ""))) == repo:
                return _struct("GitCommit", c, COMMIT_FIELDS)
        return None

    def image_from(self, *args: Any) -> GoStruct | None:
        _args("imageFrom", args, 1, 2)
        repo = _string_arg(args[0], "first argument")
        origin = _origin_arg(args[1], "second argument") if len(args) == 2 else None
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
                return _struct("Image", img, IMAGE_FIELDS)
        return None

    def chart_from(self, *args: Any) -> GoStruct | None:
        _args("chartFrom", args, 1, 3)
        repo = _string_arg(args[0], "first argument")
        name = ""
        origin: str | None = None
        if len(args) >= 2:
            if isinstance(args[1], str):
                name = args[1]
            else:
                origin = _origin_arg(args[1], "second argument must be string or FreightOrigin;")
        if len(args) == 3:
            if name == "":
                raise _fail("when using three arguments, second argument must be string")
            origin = _origin_arg(args[2], "third argument")
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
                raise _fail(f"{what} not found in referenced Freight")
        for chart in self._freight_items(origin, "charts"):
            if chart.get("repoURL") == repo and (chart.get("name") or "") == name:
                return _struct("Chart", chart, CHART_FIELDS)
        return None

    def artifact_from(self, *args: Any) -> GoStruct | None:
        _args("artifactFrom", args, 1, 2)
        sub_name = _string_arg(args[0], "first argument")
        origins = [_origin_arg(args[1], "second argument")] if len(args) == 2 else self._origins()
        found: list[GoStruct] = []
        for origin in origins:
            for ref in self._freight_items(origin, "artifacts"):
                if ref.get("subscriptionName") == sub_name:
                    found.append(_artifact_struct(ref))
                    break
        if len(found) > 1:
            raise _fail(
                f"error finding artifact from subscription {sub_name}: multiple requested "
                "Freight could potentially provide it; please provide a Freight origin"
            )
        return found[0] if found else None

    def freight_metadata(self, *args: Any) -> Any:
        _args("freightMetadata", args, 1, 1)
        name = _string_arg(args[0], "first argument")
        if name == "":
            raise _fail("freight ref name must not be empty")
        freight = self.data.freight(name)
        if freight is None:
            return None
        metadata = (freight.get("status") or {}).get("metadata")
        return dict(metadata) if metadata is not None else None

    def freight_status(self, *args: Any) -> Any:
        _args("freightStatus", args, 1, 1)
        name = _string_arg(args[0], "first argument")
        if name == "":
            raise _fail("freight ref name must not be empty")
        freight = self.data.freight(name)
        if freight is None:
            return None
        return dict(freight.get("status") or {})

    def stage_metadata(self, *args: Any) -> Any:
        _args("stageMetadata", args, 1, 1)
        name = _string_arg(args[0])
        if name == "":
            raise _fail("stage name must not be empty")
        stage = self.data.stage(name)
        if stage is None:
            return None
        metadata = (stage.get("status") or {}).get("metadata")
        return dict(metadata) if metadata is not None else None

    def config_map(self, *args: Any) -> dict[str, str]:
        _args("configMap", args, 1, 1)
        return _object_data(self.data.config_map(_string_arg(args[0])))

    def shared_config_map(self, *args: Any) -> dict[str, str]:
        _args("sharedConfigMap", args, 1, 1)
        return _object_data(self.data.shared_config_map(_string_arg(args[0])))

    def secret(self, *args: Any) -> dict[str, str]:
        _args("secret", args, 1, 1)
        return secret_data(self.data.secret(_string_arg(args[0])))

    def shared_secret(self, *args: Any) -> dict[str, str]:
        _args("sharedSecret", args, 1, 1)
        obj = self.data.shared_secret(_string_arg(args[0]))
        if obj is None:
            return {}
        if not any(k in obj for k in _OBJECT_KEYS):
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
    if not any(k in obj for k in _OBJECT_KEYS):
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
        _args("failure", args, 0, 0)
        return any(
            m.get("status") in ("Failed", "Errored") and not m.get("continueOnError") for m in metas
        )

    def success(*args: Any) -> bool:
        _args("success", args, 0, 0)
        return not has_failure()

    def always(*args: Any) -> bool:
        _args("always", args, 0, 0)
        return True

    def status(*args: Any) -> str:
        _args("status", args, 1, 1)
        alias = _string_arg(args[0])
        if alias == "":
            raise _fail("argument must not be empty")
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


def criteria_functions(discovered: Mapping[str, Any] | None) -> dict[str, Callable[..., Any]]:
    """commitFrom, imageFrom, chartFrom, artifactFrom over a Warehouse's discovered artifacts
    (element [0] of each result), for `freightCreationCriteria.expression`."""
    arts = discovered or {}

    def commit_from(*args: Any) -> GoStruct | None:
        _args("commitFrom", args, 1, 1)
        repo = _normalize_git(_string_arg(args[0], "first argument"))
        for result in arts.get("git") or []:
            if _normalize_git(str(result.get("repoURL", ""))) != repo:
                continue
            commits = result.get("commits") or []
            if commits:
                return _struct("DiscoveredCommit", commits[0], DISCOVERED_COMMIT_FIELDS)
        return None

    def image_from(*args: Any) -> GoStruct | None:
        _args("imageFrom", args, 1, 1)
        repo = _normalize_image(_string_arg(args[0], "first argument"))
        for result in arts.get("images") or []:
            if _normalize_image(str(result.get("repoURL", ""))) != repo:
                continue
            refs = result.get("references") or []
            if refs:
                return _struct("DiscoveredImageReference", refs[0], DISCOVERED_IMAGE_FIELDS)
        return None

    def chart_from(*args: Any) -> GoStruct | None:
        _args("chartFrom", args, 1, 2)
        repo = _normalize_chart(_string_arg(args[0], "first argument"))
        name = _string_arg(args[1], "second argument") if len(args) == 2 else ""
        for result in arts.get("charts") or []:
            if _normalize_chart(str(result.get("repoURL", ""))) != repo:
                continue
            if name and result.get("name") != name:
                continue
            versions = result.get("versions") or []
            if versions:
                return GoStruct(
                    "Chart",
                    {"RepoURL": repo, "Name": result.get("name") or "", "Version": versions[0]},
                    CHART_FIELDS,
                )
        return None

    def artifact_from(*args: Any) -> GoStruct | None:
        _args("artifactFrom", args, 1, 1)
        sub_name = _string_arg(args[0], "first argument")
        found: GoStruct | None = None
        for result in arts.get("results") or []:
            if result.get("subscriptionName") != sub_name:
                continue
            refs = result.get("artifactReferences") or []
            if refs:
                found = _artifact_struct(refs[0])
        return found

    return {
        "commitFrom": commit_from,
        "imageFrom": image_from,
        "chartFrom": chart_from,
        "artifactFrom": artifact_from,
    }


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
