"""Project (cluster-scoped): a tenant; its name is the namespace of everything it holds.

Since Kargo v1.7 a Project has no spec (its settings live in ProjectConfig).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import model_validator

from kargo.api.models.common import DNS1123_LABEL_RE, Condition, StatusModel, problem
from kargo.api.models.meta import KargoObject


class ProjectStatus(StatusModel):
    """Written by the management controller."""

    conditions: list[Condition] | None = None
    stats: dict[str, Any] | None = None


class Project(KargoObject):
    """A Kargo Project."""

    api_version: Literal["kargo.akuity.io/v1alpha1"]
    kind: Literal["Project"]
    status: ProjectStatus | None = None

    @model_validator(mode="after")
    def _name_is_a_namespace(self) -> Project:
        name = self.metadata.name or ""
        if name and (len(name) > 63 or not re.match(DNS1123_LABEL_RE, name)):
            raise problem(
                f"project name {name!r} must be a valid namespace name",
                "use at most 63 lowercase letters, digits and '-'",
            )
        return self
