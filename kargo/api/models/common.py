"""Building blocks shared by every kind: the base model, ObjectMeta, durations, patterns.

Every user-written model derives from `KargoModel` (`extra="forbid"`, camelCase aliases), so a
Kargo manifest loads unchanged and an unknown field is an error. Status models derive from
`StatusModel`, which tolerates fields it does not know: status is written by controllers, and
a newer controller must not make an older reader fail. `kargo.api.manifests` maps the errors
these models raise to file:line:column problems; `kargo.api.schemas` renders them as JSON schema.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.alias_generators import to_camel
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

API_VERSION = "kargo.akuity.io/v1alpha1"
ROLLOUTS_API_VERSION = "argoproj.io/v1alpha1"

JSONObject = dict[str, Any]


class KargoModel(BaseModel):
    """Base of every model users write: unknown fields are errors, keys are camelCase."""

    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        serialize_by_alias=True,
    )


class StatusModel(BaseModel):
    """Base of status models: written by controllers, so unknown fields are kept, not refused."""

    model_config = ConfigDict(
        extra="allow",
        alias_generator=to_camel,
        serialize_by_alias=True,
    )


def problem(message: str, hint: str = "") -> PydanticCustomError:
    """A validation error carrying a how-to-fix hint (read back by the manifest loader)."""
    return PydanticCustomError("kargo", message, {"hint": hint} if hint else None)


@dataclass(frozen=True)
class GoPattern:
    """Annotation: the string must match a Go-compatible regex; a clear message if it does not.

    Python's `re` (with ASCII classes, like Go's RE2) does the check rather than pydantic's
    Rust engine, so Kargo's patterns work verbatim; the JSON schema still shows the pattern.
    """

    regex: str
    what: str
    example: str
    flags: int = re.ASCII

    def _check(self, value: str) -> str:
        if not re.search(self.regex, value, self.flags):
            raise problem(
                f"{value!r} is not a valid {self.what}",
                f"use a value such as {self.example!r}",
            )
        return value

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        out = handler(schema)
        out["pattern"] = self.regex
        return out


DURATION_RE = r"^([0-9]+(\.[0-9]+)?(s|m|h))+$"
GO_DURATION_RE = r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$"
DNS1123_SUBDOMAIN_RE = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
DNS1123_LABEL_RE = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
VAR_NAME_RE = r"^[a-zA-Z_]\w*$"

Duration = Annotated[str, GoPattern(DURATION_RE, "duration", "5m0s")]
GoDuration = Annotated[str, GoPattern(GO_DURATION_RE, "duration", "30s", flags=0)]
DNSSubdomain = Annotated[
    str,
    Field(max_length=253),
    GoPattern(DNS1123_SUBDOMAIN_RE, "name (lowercase RFC 1123 subdomain)", "my-stage"),
]
DNSLabel = Annotated[
    str,
    Field(max_length=63),
    GoPattern(DNS1123_LABEL_RE, "name (lowercase RFC 1123 label)", "my-project"),
]
VarName = Annotated[str, Field(min_length=1), GoPattern(VAR_NAME_RE, "variable name", "imageRepo")]
NonEmpty = Annotated[str, Field(min_length=1)]

_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h)")


def parse_duration(text: str) -> timedelta:
    """Parse a Go duration string (`1h30m`, `5m0s`, `250ms`) into a timedelta.

    Raises ValueError for anything Go's time.ParseDuration would refuse among these forms.
    """
    if text in ("0", ""):
        return timedelta(0)
    pos = 0
    seconds = 0.0
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        seconds += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text):
        raise ValueError(f"invalid duration {text!r}; use a Go duration such as 5m0s or 1h30m")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """Format a timedelta the way Go's Duration.String does for whole seconds (`5m0s`, `1h0m0s`)."""
    total = int(value.total_seconds())
    if total == 0:
        return "0s"
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{seconds}s"
    if minutes:
        return f"{minutes}m{seconds}s"
    return f"{seconds}s"


class OwnerReference(KargoModel):
    """A Kubernetes owner reference."""

    api_version: str
    kind: str
    name: str
    uid: str
    controller: bool | None = None
    block_owner_deletion: bool | None = None


class ObjectMeta(KargoModel):
    """Kubernetes ObjectMeta: what users write plus the read-only fields the server sets."""

    name: DNSSubdomain | None = None
    generate_name: str | None = None
    namespace: DNSLabel | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    finalizers: list[str] | None = None
    owner_references: list[OwnerReference] | None = None
    # Read-only, set by the store; accepted so that stored objects round-trip.
    uid: str | None = None
    resource_version: str | None = None
    generation: int | None = None
    creation_timestamp: datetime | None = None
    deletion_timestamp: datetime | None = None
    deletion_grace_period_seconds: int | None = None
    managed_fields: list[JSONObject] | None = None
    self_link: str | None = None


class Condition(StatusModel):
    """A Kubernetes-style status condition."""

    type: str
    status: str
    reason: str | None = None
    message: str | None = None
    observed_generation: int | None = None
    last_transition_time: datetime | None = None


class ExpressionVariable(KargoModel):
    """A named variable whose value may hold `${{ }}` expressions."""

    name: VarName
    value: str | None = None


class LabelSelectorRequirement(KargoModel):
    """One matchExpressions entry of a Kubernetes label selector."""

    key: str
    operator: str
    values: list[str] | None = None


class LabelSelector(KargoModel):
    """A Kubernetes label selector."""

    match_labels: dict[str, str] | None = None
    match_expressions: list[LabelSelectorRequirement] | None = None


class SecretReference(KargoModel):
    """A reference to a Secret by name."""

    name: NonEmpty


class FreightOrigin(KargoModel):
    """Where Freight comes from: today always a Warehouse."""

    kind: Literal["Warehouse"] = "Warehouse"
    name: NonEmpty

    def key(self) -> str:
        """The origin as Kargo prints it: `Warehouse/<name>`."""
        return f"{self.kind}/{self.name}"


class FreightReference(StatusModel):
    """A Freight as recorded in status (a Stage's history, a Promotion's status)."""

    name: str | None = None
    origin: FreightOrigin | None = None
    commits: list[JSONObject] | None = None
    images: list[JSONObject] | None = None
    charts: list[JSONObject] | None = None
    artifacts: list[JSONObject] | None = None
