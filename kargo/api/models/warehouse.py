"""Warehouse (namespaced): subscriptions to image, git, chart (and generic) artifact sources.

Defaults, enums, patterns and limits follow Kargo's subscription schemas
(pkg/subscription/schemas/*.json): see kargo-model.md §1.4. Discovery itself lives in
`kargo.discovery`; this module only says what a valid Warehouse is.
"""

from __future__ import annotations

import difflib
import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator

from kargo.api import semver
from kargo.api.models.common import (
    Condition,
    Duration,
    GoPattern,
    JSONObject,
    KargoModel,
    StatusModel,
    problem,
)
from kargo.api.models.meta import KargoObject

IMAGE_REPO_RE = r"^(\w+([\.-]\w+)*(:[\d]+)?/)?(\w+([\.-]\w+)*)(/\w+([\.-]\w+)*)*$"
GIT_REPO_RE = (
    r"(?:^(ssh|https?)://(?:([\w-]+)(:(.+))?@)?([\w-]+(?:\.[\w-]+)*)(?::(\d{1,5}))?(/.*)$)"
    r"|(?:^([\w-]+)@([\w+]+(?:\.[\w-]+)*):(/?.*))$"
)
GIT_BRANCH_RE = r"^[a-zA-Z0-9]([a-zA-Z0-9._\/-]*[a-zA-Z0-9_-])?$"
# Kargo's chart.json pattern, with its unbalanced group closed.
CHART_REPO_RE = r"^(((https?)|(oci))://)([\w\d\.\-]+)(:([\d]+)?)?(/.*)*$"
PLATFORM_RE = r"^[a-z0-9]+/[a-z0-9_]+(/[a-z0-9]+)?$"

DiscoveryLimit = Annotated[int, Field(ge=1, le=100)]


def _check_regexes(values: list[str] | None) -> list[str] | None:
    for value in values or []:
        try:
            re.compile(value)
        except re.error as err:
            raise problem(
                f"{value!r} is not a valid regular expression: {err}",
                "escape special characters, e.g. '^v1\\.2\\.'",
            ) from err
    return values


Regexes = Annotated[list[str] | None, AfterValidator(_check_regexes)]


def _check_constraint(value: str | None) -> str | None:
    if value:
        try:
            semver.parse_constraint(value)
        except ValueError as err:
            raise problem(str(err)) from err
    return value


SemverConstraint = Annotated[str | None, AfterValidator(_check_constraint)]


class ImageSubscription(KargoModel):
    """Subscribe to a container image repository."""

    repo_url: Annotated[
        str,
        Field(alias="repoURL", min_length=1),
        GoPattern(IMAGE_REPO_RE, "image repository (no tag)", "ghcr.io/acme/api"),
    ]
    image_selection_strategy: Literal["SemVer", "Lexical", "NewestBuild", "Digest"] = "SemVer"
    constraint: str | None = None
    strict_semvers: bool = True
    allow_tags: str | None = Field(default=None, description="deprecated: use allowTagsRegexes")
    allow_tags_regexes: Regexes = None
    ignore_tags: list[str] | None = Field(
        default=None, description="deprecated: use ignoreTagsRegexes"
    )
    ignore_tags_regexes: Regexes = None
    platform: Annotated[str, GoPattern(PLATFORM_RE, "platform", "linux/amd64")] | None = None
    insecure_skip_tls_verify: bool | None = Field(default=None, alias="insecureSkipTLSVerify")
    discovery_limit: DiscoveryLimit = 20
    cache_by_tag: bool | None = None

    @field_validator("constraint")
    @classmethod
    def _semver_constraint(cls, value: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("image_selection_strategy", "SemVer") == "SemVer":
            return _check_constraint(value)
        return value

    @model_validator(mode="after")
    def _digest_needs_tag(self) -> ImageSubscription:
        if self.image_selection_strategy == "Digest" and not self.constraint:
            raise problem(
                "the Digest strategy needs constraint set to the mutable tag to follow",
                "add constraint: latest (or the tag you re-push)",
            )
        return self


class GitSubscription(KargoModel):
    """Subscribe to a git repository's commits (a branch) or tags."""

    repo_url: Annotated[
        str,
        Field(alias="repoURL", min_length=1),
        GoPattern(GIT_REPO_RE, "git repository URL", "https://github.com/acme/gitops.git"),
    ]
    commit_selection_strategy: Literal["NewestFromBranch", "SemVer", "Lexical", "NewestTag"] = (
        "NewestFromBranch"
    )
    branch: (
        Annotated[
            str, Field(min_length=1, max_length=255), GoPattern(GIT_BRANCH_RE, "branch", "main")
        ]
        | None
    ) = None
    strict_semvers: bool = True
    semver_constraint: SemverConstraint = None
    allow_tags: str | None = Field(default=None, description="deprecated: use allowTagsRegexes")
    allow_tags_regexes: Regexes = None
    ignore_tags: list[str] | None = Field(
        default=None, description="deprecated: use ignoreTagsRegexes"
    )
    ignore_tags_regexes: Regexes = None
    expression_filter: str | None = None
    include_paths: list[str] | None = None
    exclude_paths: list[str] | None = None
    since: datetime | None = None
    blobless: bool | None = None
    insecure_skip_tls_verify: bool | None = Field(default=None, alias="insecureSkipTLSVerify")
    discovery_limit: DiscoveryLimit = 20


class ChartSubscription(KargoModel):
    """Subscribe to a Helm chart in a classic (HTTP) repository or an OCI registry."""

    repo_url: Annotated[
        str,
        Field(alias="repoURL", min_length=1),
        GoPattern(CHART_REPO_RE, "chart repository URL", "oci://ghcr.io/acme/charts/api"),
    ]
    name: str | None = None
    semver_constraint: SemverConstraint = None
    discovery_limit: DiscoveryLimit = 20
    insecure_skip_tls_verify: bool | None = Field(default=None, alias="insecureSkipTLSVerify")

    @model_validator(mode="after")
    def _name_matches_repo_kind(self) -> ChartSubscription:
        oci = self.repo_url.lower().startswith("oci://")
        if oci and self.name:
            raise problem(
                "name must be empty for an oci:// chart repository",
                "put the chart name at the end of repoURL, e.g. oci://ghcr.io/acme/charts/api",
            )
        if not oci and not self.name:
            raise problem(
                "name is required for a classic (http/https) chart repository",
                "add name: <chart name in the repository's index.yaml>",
            )
        return self


class GenericSubscription(KargoModel):
    """A subscription of a type served by a pluggable subscriber; its config is free-form."""

    model_config = KargoModel.model_config | {"extra": "allow"}

    discovery_limit: DiscoveryLimit = 20


SUBSCRIPTION_TYPES = ("git", "image", "chart")


class RepoSubscription(KargoModel):
    """One subscription: exactly one type key (`git`, `image`, `chart` or a generic type)."""

    model_config = KargoModel.model_config | {"extra": "allow"}

    name: str | None = None
    git: GitSubscription | None = None
    image: ImageSubscription | None = None
    chart: ChartSubscription | None = None

    @model_validator(mode="before")
    @classmethod
    def _check_generic(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        known = {"name", *SUBSCRIPTION_TYPES}
        types = [k for k in data if k != "name"]
        if len(types) != 1:
            raise problem(
                f"a subscription needs exactly one type, found {len(types)}"
                + (f" ({', '.join(map(str, types))})" if types else ""),
                "use one of git, image, chart (or one generic type key) per list item",
            )
        for key in types:
            close = difflib.get_close_matches(str(key), SUBSCRIPTION_TYPES, n=1, cutoff=0.6)
            if key not in known and close:
                raise problem(
                    f"unknown subscription type {key!r}",
                    f"did you mean {close[0]!r}? (a generic type would also need a name)",
                )
            if key not in known:
                if not isinstance(data[key], dict):
                    raise problem(
                        f"generic subscription {key!r} must be an object",
                        "write its settings as a mapping under the type key",
                    )
                if not data.get("name"):
                    raise problem(
                        f"generic subscription {key!r} needs a name",
                        "add name: <subscription name> beside the type key",
                    )
        return data

    @model_validator(mode="after")
    def _validate_generic(self) -> RepoSubscription:
        for key, value in (self.model_extra or {}).items():
            self.model_extra[key] = GenericSubscription.model_validate(value)  # type: ignore[index]
        return self

    @property
    def type(self) -> str:
        """git, image, chart, or the generic type key."""
        for key in SUBSCRIPTION_TYPES:
            if getattr(self, key) is not None:
                return key
        return next(iter(self.model_extra or {}), "")


class FreightCreationCriteria(KargoModel):
    """An expression that must be true for automatic Freight creation."""

    expression: str | None = None


class WarehouseSpec(KargoModel):
    """What a Warehouse watches and how often."""

    shard: str | None = None
    interval: Duration = "5m0s"
    freight_creation_policy: Literal["Automatic", "Manual"] = "Automatic"
    freight_creation_criteria: FreightCreationCriteria | None = None
    subscriptions: Annotated[list[RepoSubscription], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique_repo_urls(self) -> WarehouseSpec:
        seen: set[tuple[str, str]] = set()
        for sub in self.subscriptions:
            inner = getattr(sub, sub.type, None) if sub.type in SUBSCRIPTION_TYPES else None
            if inner is None:
                continue
            key = (sub.type, inner.repo_url)
            if sub.type == "chart":
                key = (sub.type, f"{inner.repo_url}/{inner.name or ''}")
            if key in seen:
                raise problem(
                    f"{sub.type} subscription to {inner.repo_url!r} appears more than once",
                    "subscribe to each repository once per Warehouse",
                )
            seen.add(key)
        return self


class DiscoveredArtifacts(StatusModel):
    """What the last discovery found; every list is best-first."""

    discovered_at: datetime | None = None
    git: list[JSONObject] | None = None
    images: list[JSONObject] | None = None
    charts: list[JSONObject] | None = None
    results: list[JSONObject] | None = None


class WarehouseStatus(StatusModel):
    """Written by the Warehouse reconciler."""

    conditions: list[Condition] | None = None
    last_handled_refresh: str | None = None
    observed_generation: int | None = None
    last_freight_id: str | None = Field(default=None, alias="lastFreightID")
    discovered_artifacts: DiscoveredArtifacts | None = None


class Warehouse(KargoObject):
    """A source of Freight."""

    api_version: Literal["kargo.akuity.io/v1alpha1"]
    kind: Literal["Warehouse"]
    spec: WarehouseSpec
    status: WarehouseStatus | None = None
