"""Freight (namespaced): a set of artifact versions promoted together; named by its content.

`metadata.name` is the Freight ID (`kargo.api.freight_id`); admission recomputes it on create.
Content (origin and artifacts) is immutable; `alias`, labels and annotations are not.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field

from kargo.api.models.common import (
    FreightOrigin,
    GoPattern,
    KargoModel,
    NonEmpty,
    StatusModel,
)
from kargo.api.models.meta import KargoObject

ALIAS_RE = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"


class GitCommit(KargoModel):
    """A commit of a git repository."""

    repo_url: str = Field(alias="repoURL", min_length=1)
    id: str | None = None
    branch: str | None = None
    tag: str | None = None
    message: str | None = None
    author: str | None = None
    committer: str | None = None
    subscription_name: str | None = None


class Image(KargoModel):
    """A container image version."""

    repo_url: str = Field(alias="repoURL", min_length=1)
    tag: str | None = None
    digest: str | None = None
    annotations: dict[str, str] | None = None
    subscription_name: str | None = None


class Chart(KargoModel):
    """A Helm chart version."""

    repo_url: str = Field(alias="repoURL", min_length=1)
    name: str | None = None
    version: str | None = None
    subscription_name: str | None = None


class ArtifactReference(KargoModel):
    """An artifact of a generic subscription."""

    artifact_type: NonEmpty
    subscription_name: NonEmpty
    version: NonEmpty
    metadata: Any = None


class CurrentStage(StatusModel):
    """Since when the Freight has been in a Stage."""

    since: datetime | None = None


class VerifiedStage(StatusModel):
    """When the Freight was verified in a Stage and its longest continuous soak there."""

    verified_at: datetime | None = None
    longest_soak: str | None = None


class ApprovedStage(StatusModel):
    """When the Freight was manually approved for a Stage."""

    approved_at: datetime | None = None


class FreightStatus(StatusModel):
    """Where the Freight is, where it was verified, what it is approved for."""

    currently_in: dict[str, CurrentStage] | None = None
    verified_in: dict[str, VerifiedStage] | None = None
    approved_for: dict[str, ApprovedStage] | None = None
    metadata: dict[str, Any] | None = None


class Freight(KargoObject):
    """A Freight: origin plus the artifact versions it carries."""

    api_version: Literal["kargo.akuity.io/v1alpha1"]
    kind: Literal["Freight"]
    alias: (
        Annotated[
            str,
            Field(max_length=63),
            GoPattern(ALIAS_RE, "alias (it is also a label value)", "wonky-wombat"),
        ]
        | None
    ) = None
    origin: FreightOrigin
    commits: list[GitCommit] | None = None
    images: list[Image] | None = None
    charts: list[Chart] | None = None
    artifacts: list[ArtifactReference] | None = None
    discovered_at: datetime | None = None
    status: FreightStatus | None = None
