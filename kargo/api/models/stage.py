"""Stage (namespaced): where Freight is promoted, from which sources, how, and how verified.

A Stage without promotion steps is a control-flow Stage (it only forwards availability).
Cross-object rules (upstream cycles, missing Warehouses) are in `kargo.api.admission` and
`kargo.api.lint`; this module holds what one Stage alone must satisfy.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from kargo.api.models.common import (
    Condition,
    Duration,
    ExpressionVariable,
    FreightOrigin,
    JSONObject,
    KargoModel,
    LabelSelector,
    NonEmpty,
    StatusModel,
    problem,
)
from kargo.api.models.meta import KargoObject
from kargo.api.models.step import PromotionStep


class AutoPromotionOptions(KargoModel):
    """Which Freight auto-promotion picks."""

    selection_policy: Literal["NewestFreight", "MatchUpstream"] | None = None


class FreightSources(KargoModel):
    """Where requested Freight may come from: the Warehouse directly and/or upstream Stages."""

    direct: bool | None = None
    stages: list[NonEmpty] | None = None
    required_soak_time: Duration | None = None
    availability_strategy: Literal["OneOf", "All", ""] | None = None
    auto_promotion_options: AutoPromotionOptions | None = None

    @model_validator(mode="after")
    def _needs_a_source(self) -> FreightSources:
        if not self.direct and not self.stages:
            raise problem(
                "requested Freight needs a source: direct: true or at least one upstream stage",
                "add direct: true (from the Warehouse) or stages: [<upstream stage>]",
            )
        options = self.auto_promotion_options
        if (
            options is not None
            and options.selection_policy == "MatchUpstream"
            and len(self.stages or []) != 1
        ):
            raise problem(
                "selectionPolicy MatchUpstream needs exactly one upstream stage",
                "list exactly one stage under sources.stages, or use NewestFreight",
            )
        return self


class FreightRequest(KargoModel):
    """Freight of one origin that the Stage requests."""

    origin: FreightOrigin
    sources: FreightSources


class PromotionTemplateSpec(KargoModel):
    """Variables and steps every Promotion to this Stage runs."""

    vars: list[ExpressionVariable] | None = None
    steps: list[PromotionStep] | None = None


class PromotionTemplate(KargoModel):
    """Wrapper kept for Kargo compatibility (`promotionTemplate.spec`)."""

    spec: PromotionTemplateSpec


class AnalysisTemplateReference(KargoModel):
    """An (Cluster)AnalysisTemplate run to verify Freight in the Stage."""

    name: NonEmpty
    kind: Literal["AnalysisTemplate", "ClusterAnalysisTemplate"] | None = None


class AnalysisRunMetadata(KargoModel):
    """Labels and annotations put on analysis runs."""

    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None


class AnalysisRunArgument(KargoModel):
    """An argument passed to the analysis; its value may use expressions."""

    name: NonEmpty
    value: str


class Verification(KargoModel):
    """How Freight is verified after promotion."""

    analysis_templates: list[AnalysisTemplateReference] | None = None
    analysis_run_metadata: AnalysisRunMetadata | None = None
    args: list[AnalysisRunArgument] | None = None


class Targets(KargoModel):
    """Enterprise fan-out targets; accepted, not acted on."""

    selectors: list[LabelSelector] | None = None


class StageSpec(KargoModel):
    """What a Stage requests, how it promotes and how it verifies."""

    shard: str | None = None
    vars: list[ExpressionVariable] | None = None
    requested_freight: Annotated[list[FreightRequest], Field(min_length=1)]
    promotion_template: PromotionTemplate | None = None
    verification: Verification | None = None
    targets: Targets | None = None

    @model_validator(mode="after")
    def _unique_origins(self) -> StageSpec:
        seen: set[str] = set()
        for request in self.requested_freight:
            key = request.origin.key()
            if key in seen:
                raise problem(
                    f"origin {key} is requested more than once",
                    "merge the sources of both entries into one requestedFreight item",
                )
            seen.add(key)
        return self


class StageHealth(StatusModel):
    """Aggregated health of what the Stage deployed."""

    status: str | None = None
    issues: list[str] | None = None
    config: Any = None
    output: Any = None


class PromotionReference(StatusModel):
    """A Promotion as a Stage records it."""

    name: str | None = None
    freight: JSONObject | None = None
    status: JSONObject | None = None
    finished_at: datetime | None = None


class StageStatus(StatusModel):
    """Written by the Stage reconciler."""

    conditions: list[Condition] | None = None
    last_handled_refresh: str | None = None
    observed_generation: int | None = None
    freight_history: list[JSONObject] | None = None
    freight_summary: str | None = None
    health: StageHealth | None = None
    current_promotion: PromotionReference | None = None
    last_promotion: PromotionReference | None = None
    auto_promotion_enabled: bool | None = None
    metadata: dict[str, Any] | None = None
    auto_promotion_holds: dict[str, JSONObject] | None = None
    effective_auto_promotion_holds: dict[str, JSONObject] | None = None


class Stage(KargoObject):
    """A Stage."""

    api_version: Literal["kargo.akuity.io/v1alpha1"]
    kind: Literal["Stage"]
    spec: StageSpec
    status: StageStatus | None = None
