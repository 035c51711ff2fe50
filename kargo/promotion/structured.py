"""Scaffolding shared by the structured-file step families (json, toml, yaml).

The families stay independent of each other (import-linter's step-families contract); what they
have in common lives here:

- `StepConfig`: the pydantic base of their configs (camelCase aliases, unknown fields refused).
- `update_message(path, updates, quote)`: Kargo's "Updated <path>" commit message fragment, each
  update written by the family's own `quote`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class StepConfig(BaseModel):
    """Base of a step's config model: fields by name or camelCase alias, extra fields refused."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, alias_generator=to_camel)


def update_message(path: str, updates: list[tuple[str, Any]], quote: Callable[[Any], str]) -> str:
    """`Updated <path>`, a blank line, then `- <key>: <quote(value)>` per update."""
    return "\n".join([f"Updated {path}", ""] + [f"- {k}: {quote(v)}" for k, v in updates])
