"""PromotionTask (namespaced) and ClusterPromotionTask (cluster-scoped): reusable step lists.

A task var with a value gives a default; one without a value is a required input. Task steps
must `uses` a step kind (tasks do not nest). Inflation into Promotions: `kargo.api.admission`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from kargo.api.models.common import ExpressionVariable, KargoModel, problem
from kargo.api.models.meta import KargoObject
from kargo.api.models.step import PromotionStep


class PromotionTaskSpec(KargoModel):
    """Inputs (vars) and steps of a task."""

    vars: list[ExpressionVariable] | None = None
    steps: Annotated[list[PromotionStep], Field(min_length=1)]

    @model_validator(mode="after")
    def _no_nested_tasks(self) -> PromotionTaskSpec:
        for index, step in enumerate(self.steps):
            if step.task is not None:
                raise problem(
                    f"step {index} references a task; tasks cannot be nested",
                    "copy the nested task's steps here, each with uses: <step kind>",
                )
        return self


class PromotionTask(KargoObject):
    """A project-scoped task."""

    api_version: Literal["kargo.akuity.io/v1alpha1"]
    kind: Literal["PromotionTask"]
    spec: PromotionTaskSpec


class ClusterPromotionTask(KargoObject):
    """A cluster-scoped task, usable from every project."""

    api_version: Literal["kargo.akuity.io/v1alpha1"]
    kind: Literal["ClusterPromotionTask"]
    spec: PromotionTaskSpec
