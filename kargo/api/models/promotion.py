"""Promotion (namespaced): one request to move Freight into a Stage, and how it went.

The spec is immutable after create. Admission fills `vars` and `steps` from the Stage and
names the Promotion `<stage>.<ulid>.<freight[:7]>` (`kargo.api.admission`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import model_validator

from kargo.api.models.common import (
    Condition,
    ExpressionVariable,
    FreightOrigin,
    FreightReference,
    JSONObject,
    KargoModel,
    NonEmpty,
    StatusModel,
    problem,
)
from kargo.api.models.meta import KargoObject
from kargo.api.models.step import PromotionStep

PROMOTION_PHASES = ("Pending", "Running", "Succeeded", "Failed", "Errored", "Aborted")
TERMINAL_PHASES = frozenset({"Succeeded", "Failed", "Errored", "Aborted"})
STEP_STATUSES = ("Running", "Succeeded", "Failed", "Errored", "Aborted", "Skipped")


class PromotionSpec(KargoModel):
    """Which Freight goes to which Stage, with the steps copied from the Stage."""

    stage: NonEmpty
    freight: str | None = None
    origin: FreightOrigin | None = None
    target: str | None = None
    vars: list[ExpressionVariable] | None = None
    steps: list[PromotionStep] | None = None

    @model_validator(mode="after")
    def _freight_xor_origin(self) -> PromotionSpec:
        if bool(self.freight) == (self.origin is not None):
            raise problem(
                "exactly one of freight or origin must be set",
                "name the Freight (freight: <name>) or let the origin's newest candidate be "
                "chosen (origin: {kind: Warehouse, name: <warehouse>})",
            )
        return self


class StepExecutionMetadata(StatusModel):
    """How one step ran."""

    alias: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error_count: int | None = None
    status: Literal["Running", "Succeeded", "Failed", "Errored", "Aborted", "Skipped"] | None = None
    message: str | None = None
    continue_on_error: bool | None = None


class HealthCheckStep(StatusModel):
    """A health check a step asked for after the promotion."""

    uses: str | None = None
    config: Any = None


class PromotionStatus(StatusModel):
    """Written by the Promotion reconciler."""

    phase: Literal["Pending", "Running", "Succeeded", "Failed", "Errored", "Aborted"] | None = None
    message: str | None = None
    freight: FreightReference | None = None
    freight_collection: JSONObject | None = None
    health_checks: list[HealthCheckStep] | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    last_handled_refresh: str | None = None
    current_step: int | None = None
    step_execution_metadata: list[StepExecutionMetadata] | None = None
    state: JSONObject | None = None
    conditions: list[Condition] | None = None


class Promotion(KargoObject):
    """A Promotion."""

    api_version: Literal["kargo.akuity.io/v1alpha1"]
    kind: Literal["Promotion"]
    spec: PromotionSpec
    status: PromotionStatus | None = None
