"""Metric providers: each takes one measurement of a metric (web, prometheus, job)."""

from __future__ import annotations

from typing import Any, Protocol

from kargo.verification.measurement import Measurement


class Provider(Protocol):
    """Takes one measurement for a metric whose `{{args}}` are already substituted."""

    async def measure(self, metric: dict[str, Any]) -> Measurement:
        """Measure once; errors become a Measurement in phase Error, never an exception."""
        ...
