"""ClusterConfig (cluster-scoped singleton, normally `cluster`): cluster-wide receivers and git identity."""

from __future__ import annotations

from typing import Literal

from kargo.api.models.common import KargoModel, NonEmpty, SecretReference
from kargo.api.models.meta import KargoObject
from kargo.api.models.project_config import (
    DeepLink,
    ProjectConfigStatus,
    PromotionWindow,
    WebhookReceiverConfig,
)


class GitClientConfig(KargoModel):
    """The git identity used by promotions (overrides the server default)."""

    name: NonEmpty
    email: NonEmpty
    signing_key_secret: SecretReference | None = None


class ClusterConfigSpec(KargoModel):
    """Cluster-wide settings."""

    webhook_receivers: list[WebhookReceiverConfig] | None = None
    git_client: GitClientConfig | None = None
    freight_links: list[DeepLink] | None = None
    stage_links: list[DeepLink] | None = None
    promotion_windows: list[PromotionWindow] | None = None


class ClusterConfigStatus(ProjectConfigStatus):
    """Same shape as ProjectConfig's status."""


class ClusterConfig(KargoObject):
    """The cluster-wide configuration."""

    api_version: Literal["kargo.akuity.io/v1alpha1"]
    kind: Literal["ClusterConfig"]
    spec: ClusterConfigSpec | None = None
    status: ClusterConfigStatus | None = None
