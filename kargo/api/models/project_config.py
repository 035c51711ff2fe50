"""ProjectConfig (namespaced, name = the project): promotion policies, webhook receivers, links.

The webhook receiver and deep-link types are shared with ClusterConfig (`cluster_config.py`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from kargo.api.models.common import (
    Condition,
    DNSSubdomain,
    KargoModel,
    LabelSelectorRequirement,
    NonEmpty,
    SecretReference,
    StatusModel,
    problem,
)
from kargo.api.models.meta import KargoObject

RECEIVER_TYPES = (
    "github",
    "gitlab",
    "bitbucket",
    "dockerhub",
    "harbor",
    "quay",
    "artifactory",
    "azure",
    "gitea",
    "generic",
)


class ReceiverSecret(KargoModel):
    """A receiver's shared secret, held in a Secret of the project (or system) namespace."""

    secret_ref: SecretReference


class ArtifactoryReceiver(ReceiverSecret):
    """Artifactory also names the virtual repository."""

    virtual_repo_name: str | None = None


class GenericReceiver(ReceiverSecret):
    """A generic receiver: actions matched against the request by expressions."""

    actions: list[dict[str, Any]] | None = None


class WebhookReceiverConfig(KargoModel):
    """An inbound webhook receiver: a name and exactly one provider."""

    name: DNSSubdomain
    github: ReceiverSecret | None = None
    gitlab: ReceiverSecret | None = None
    bitbucket: ReceiverSecret | None = None
    dockerhub: ReceiverSecret | None = None
    harbor: ReceiverSecret | None = None
    quay: ReceiverSecret | None = None
    artifactory: ArtifactoryReceiver | None = None
    azure: ReceiverSecret | None = None
    gitea: ReceiverSecret | None = None
    generic: GenericReceiver | None = None

    @model_validator(mode="after")
    def _exactly_one_provider(self) -> WebhookReceiverConfig:
        set_ = [t for t in RECEIVER_TYPES if getattr(self, t) is not None]
        if len(set_) != 1:
            raise problem(
                f"a webhook receiver needs exactly one provider, found {len(set_)}"
                + (f" ({', '.join(set_)})" if set_ else ""),
                f"set one of: {', '.join(RECEIVER_TYPES)}",
            )
        return self


class DeepLink(KargoModel):
    """A UI deep link; `url` and `if` are expressions."""

    title: NonEmpty
    url: NonEmpty
    description: str | None = None
    if_: str | None = Field(default=None, alias="if")


class PromotionPolicySelector(KargoModel):
    """Selects Stages by name pattern (exact, `regex:`, `glob:`) AND labels."""

    name: str | None = None
    match_labels: dict[str, str] | None = None
    match_expressions: list[LabelSelectorRequirement] | None = None


class AutoRollback(KargoModel):
    """Enterprise-only in Kargo; accepted and ignored."""

    on_promotion: list[Literal["Failed", "Errored"]] | None = None
    on_verification: list[Literal["Failed", "Error"]] | None = None


class PromotionPolicy(KargoModel):
    """Auto-promotion policy for the Stages it selects; the first matching policy wins."""

    stage: str | None = Field(default=None, description="deprecated: use stageSelector")
    stage_selector: PromotionPolicySelector | None = None
    auto_promotion_enabled: bool | None = None
    auto_rollback: AutoRollback | None = None
    freight_filter: str | None = Field(
        default=None,
        description=(
            "our extension (not in Kargo): an expression over the Freight (`freight`, "
            "`ctx.project`, `ctx.stage`, `semverParse`) that must be true for auto-promotion "
            'to promote it, e.g. ${{ !any(freight.images, {#.tag contains "-"}) }}'
        ),
    )

    @model_validator(mode="after")
    def _stage_xor_selector(self) -> PromotionPolicy:
        if (self.stage is None) == (self.stage_selector is None):
            raise problem(
                "exactly one of stage or stageSelector must be set",
                "prefer stageSelector: {name: <stage>} (stage is deprecated)",
            )
        return self


class PromotionWindow(KargoModel):
    """Enterprise-only in Kargo: accepted, not enforced."""

    name: str | None = None
    stage_selector: PromotionPolicySelector | None = None
    project_selector: dict[str, Any] | None = None
    kind: Literal["Allow", "Deny"] | None = None
    rrule: str | None = None
    dtstart: str | None = None
    dtend: str | None = None


class ProjectConfigSpec(KargoModel):
    """What a project configures."""

    promotion_policies: list[PromotionPolicy] | None = None
    webhook_receivers: list[WebhookReceiverConfig] | None = None
    freight_links: list[DeepLink] | None = None
    stage_links: list[DeepLink] | None = None
    promotion_windows: list[PromotionWindow] | None = None


class WebhookReceiverDetails(StatusModel):
    """Where a receiver listens."""

    name: str | None = None
    path: str | None = None
    url: str | None = None


class ProjectConfigStatus(StatusModel):
    """Written by the management controller."""

    conditions: list[Condition] | None = None
    observed_generation: int | None = None
    last_handled_refresh: str | None = None
    webhook_receivers: list[WebhookReceiverDetails] | None = None


class ProjectConfig(KargoObject):
    """Per-project settings; its name must equal the project's."""

    api_version: Literal["kargo.akuity.io/v1alpha1"]
    kind: Literal["ProjectConfig"]
    spec: ProjectConfigSpec | None = None
    status: ProjectConfigStatus | None = None
