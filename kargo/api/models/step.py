"""PromotionStep: one step of a promotion template, a Promotion or a PromotionTask.

A step either `uses` a step kind or references a `task` (only in Stage templates, inflated
at Promotion creation by `kargo.api.admission`). `config` is a free JSON object here: each step
kind validates its own config in `kargo.promotion`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from kargo.api.models.common import (
    Duration,
    ExpressionVariable,
    JSONObject,
    KargoModel,
    NonEmpty,
    problem,
)


class PromotionStepRetry(KargoModel):
    """How long a Running step may go on, and how many consecutive failures are tolerated."""

    timeout: Duration | None = None
    error_threshold: Annotated[int, Field(ge=0)] | None = None


class PromotionTaskReference(KargoModel):
    """A reference to a PromotionTask (same project) or a ClusterPromotionTask."""

    name: NonEmpty
    kind: Literal["PromotionTask", "ClusterPromotionTask"] | None = None


class PromotionStep(KargoModel):
    """One step: `uses` XOR `task`, optional alias, condition, retry, vars and config."""

    uses: NonEmpty | None = None
    task: PromotionTaskReference | None = None
    as_: str | None = Field(default=None, alias="as")
    if_: str | None = Field(default=None, alias="if")
    continue_on_error: bool | None = None
    retry: PromotionStepRetry | None = None
    vars: list[ExpressionVariable] | None = None
    config: JSONObject | None = None

    @model_validator(mode="after")
    def _uses_xor_task(self) -> PromotionStep:
        if (self.uses is None) == (self.task is None):
            raise problem(
                "a step needs exactly one of uses or task",
                "write uses: <step kind> (e.g. git-clone), or task: {name: <PromotionTask>}",
            )
        if self.task is not None and (self.continue_on_error is not None or self.retry):
            raise problem(
                "a task step may not set continueOnError or retry",
                "set them on the steps inside the PromotionTask instead",
            )
        return self

    def alias(self, index: int) -> str:
        """The step's alias: `as`, else `step-<i+1>` / `task-<i+1>` (Kargo's GetAlias)."""
        if self.as_:
            return self.as_
        return f"task-{index + 1}" if self.task is not None else f"step-{index + 1}"


def step_alias(step: dict[str, object], index: int) -> str:
    """Kargo's default alias for a step given as a plain dict."""
    alias = step.get("as")
    if isinstance(alias, str) and alias:
        return alias
    return f"task-{index + 1}" if step.get("task") is not None else f"step-{index + 1}"
