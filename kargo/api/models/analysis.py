"""AnalysisTemplate and ClusterAnalysisTemplate (argoproj.io/v1alpha1), the verification checks.

Only the subset Kargo's verification uses: args and metrics with a web, job or prometheus
provider. Each provider's body is free-form here; `kargo.verification` validates it when run.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from kargo.api.models.common import GoDuration, JSONObject, KargoModel, NonEmpty, problem
from kargo.api.models.meta import KargoObject

PROVIDERS = ("web", "job", "prometheus")


class SecretKeyRef(KargoModel):
    """A key of a Secret."""

    name: NonEmpty
    key: NonEmpty


class FieldRef(KargoModel):
    """A field of the analysis run's object."""

    field_path: NonEmpty


class ValueFrom(KargoModel):
    """Where an argument's value comes from."""

    secret_key_ref: SecretKeyRef | None = None
    field_ref: FieldRef | None = None


class Argument(KargoModel):
    """A template argument: a literal value, a reference, or nothing (supplied by the Stage)."""

    name: NonEmpty
    value: str | None = None
    value_from: ValueFrom | None = None

    @model_validator(mode="after")
    def _value_xor_value_from(self) -> Argument:
        if self.value is not None and self.value_from is not None:
            raise problem(
                f"argument {self.name!r} sets both value and valueFrom",
                "keep one of them",
            )
        return self


class MetricProvider(KargoModel):
    """Exactly one provider: web (HTTP), job (a command/Job) or prometheus (a query)."""

    web: JSONObject | None = None
    job: JSONObject | None = None
    prometheus: JSONObject | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> MetricProvider:
        set_ = [p for p in PROVIDERS if getattr(self, p) is not None]
        if len(set_) != 1:
            raise problem(
                f"a metric needs exactly one provider, found {len(set_)}",
                "set one of web, job, prometheus",
            )
        return self


IntOrString = int | str


class Metric(KargoModel):
    """One measurement, taken count times every interval, judged by the conditions."""

    name: NonEmpty
    provider: MetricProvider
    count: IntOrString | None = None
    interval: GoDuration | None = None
    initial_delay: GoDuration | None = None
    success_condition: str | None = None
    failure_condition: str | None = None
    failure_limit: IntOrString | None = None
    inconclusive_limit: IntOrString | None = None
    consecutive_error_limit: IntOrString | None = None


class AnalysisTemplateSpec(KargoModel):
    """Arguments and metrics."""

    args: list[Argument] | None = None
    metrics: Annotated[list[Metric], Field(min_length=1)]
    dry_run: list[JSONObject] | None = None
    measurement_retention: list[JSONObject] | None = None

    @model_validator(mode="after")
    def _unique_metric_names(self) -> AnalysisTemplateSpec:
        names = [m.name for m in self.metrics]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise problem(f"metric names must be unique: {', '.join(dupes)}", "rename one")
        return self


class AnalysisTemplate(KargoObject):
    """A namespaced analysis template."""

    api_version: Literal["argoproj.io/v1alpha1"]
    kind: Literal["AnalysisTemplate"]
    spec: AnalysisTemplateSpec


class ClusterAnalysisTemplate(KargoObject):
    """A cluster-scoped analysis template."""

    api_version: Literal["argoproj.io/v1alpha1"]
    kind: Literal["ClusterAnalysisTemplate"]
    spec: AnalysisTemplateSpec
