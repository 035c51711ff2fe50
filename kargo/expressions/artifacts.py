"""The values Kargo's functions return, and argument checks they share.

Artifacts are read-only `GoStruct`s with Kargo's Go field names (`imageFrom(x).Tag`) and JSON
keys (`{"tag": ...}`); versions from `semverParse` are `VersionValue`s with Masterminds'
methods. Used by `kargo.expressions.functions` (promotions) and `.criteria` (Warehouses).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, ClassVar

from kargo import errors
from kargo.api import semver, urls
from kargo.expressions.objects import ExprObject, GoStruct

# URL normalisation is pure and called for every commitFrom(): cache it
normalize_git = functools.lru_cache(maxsize=4096)(urls.normalize_git)
normalize_image = functools.lru_cache(maxsize=4096)(urls.normalize_image)
normalize_chart = functools.lru_cache(maxsize=4096)(urls.normalize_chart)

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
        return self.version.compare(version_arg(other)) < 0

    def m_GreaterThan(self, other: VersionValue) -> bool:
        return self.version.compare(version_arg(other)) > 0

    def m_Equal(self, other: VersionValue) -> bool:
        return self.version.compare(version_arg(other)) == 0

    def m_Compare(self, other: VersionValue) -> int:
        return self.version.compare(version_arg(other))


def version_arg(v: Any) -> semver.Version:
    """The semver.Version inside a VersionValue argument."""
    if not isinstance(v, VersionValue):
        raise errors.ExpressionError("expected a version from semverParse()")
    return v.version


def fail(message: str) -> errors.ExpressionError:
    """The error a Kargo function raises."""
    return errors.ExpressionError(message)


def check_args(fn: str, args: tuple[Any, ...], low: int, high: int) -> None:
    """Fail unless low <= len(args) <= high."""
    if not low <= len(args) <= high:
        expected = str(low) if low == high else f"{low}-{high}"
        plural = "" if expected == "1" else "s"
        raise fail(f"{fn}: expected {expected} argument{plural}, got {len(args)}")


def string_arg(v: Any, which: str = "argument") -> str:
    """`v` when it is a string."""
    if not isinstance(v, str):
        raise fail(f"{which} must be string, got {go_type(v)}")
    return v


def go_type(v: Any) -> str:
    """The Go type name Kargo's messages use for `v`."""
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


def origin_arg(v: Any, which: str) -> str:
    """ "Warehouse/<name>" from a FreightOrigin argument (from `warehouse()`)."""
    if isinstance(v, GoStruct) and v.expr_type() == "FreightOrigin":
        return f"{v.get_field('Kind')}/{v.get_field('Name')}"
    raise fail(f"{which} must be FreightOrigin, got {go_type(v)}")


def origin_key(origin: Any) -> str:
    """ "Warehouse/<name>" from a key, a bare name, a FreightOrigin or a FreightRequest dict."""
    if isinstance(origin, Mapping):
        inner = origin.get("origin", origin)
        return f"{inner.get('kind') or 'Warehouse'}/{inner.get('name', '')}"
    text = str(origin)
    return text if "/" in text else f"Warehouse/{text}"


def object_data(obj: Mapping[str, Any] | None) -> dict[str, Any]:
    """`data` of a ConfigMap object; an adapter may also hand over the data map itself."""
    if obj is None:
        return {}
    if any(k in obj for k in OBJECT_KEYS):
        return dict(obj.get("data") or {})
    return dict(obj)


OBJECT_KEYS = ("apiVersion", "kind", "metadata", "data", "stringData")


def warehouse(*args: Any) -> GoStruct:
    """`warehouse(name)` -> FreightOrigin{Kind: Warehouse, Name: name}."""
    check_args("warehouse", args, 1, 1)
    name = string_arg(args[0])
    if name == "":
        raise fail("name must not be empty")
    return GoStruct("FreightOrigin", {"Kind": "Warehouse", "Name": name}, ORIGIN_FIELDS)


def semver_parse(*args: Any) -> VersionValue:
    """`semverParse(v)` -> a Version with Major(), IncPatch()...; invalid versions fail."""
    check_args("semverParse", args, 1, 1)
    text = string_arg(args[0])
    try:
        return VersionValue(semver.parse_version(text))
    except ValueError as err:
        raise fail(f"invalid semantic version: {err}") from None


def semver_diff(*args: Any) -> str:
    """`semverDiff(a, b)` -> Major|Minor|Patch|Metadata|None|Incomparable."""
    check_args("semverDiff", args, 2, 2)
    a = string_arg(args[0], "first argument")
    b = string_arg(args[1], "second argument")
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


def make_struct(kind: str, data: Mapping[str, Any], fields: Mapping[str, str]) -> GoStruct:
    """A GoStruct from a JSON dict."""
    return GoStruct.from_json(kind, data, fields)


def artifact_struct(ref: Mapping[str, Any]) -> GoStruct:
    """expressionFriendlyArtifactReference: metadata unpacked into a map."""
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
        omitempty=False,  # a Go struct without json tags writes every field
    )
