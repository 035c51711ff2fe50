"""The injected clock: reconcilers, soak time, timeouts and tokens read time only through it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Source of the current time and of sleeping; tests inject a manual clock."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait for `seconds` of this clock's time."""
        ...


class SystemClock:
    """The real wall clock."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        """Sleep on the event loop."""
        await asyncio.sleep(seconds)


class ManualClock:
    """A clock that moves only when told to; for exact tests of time-dependent rules."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        """The current (frozen) time."""
        return self._now

    def advance(self, delta: timedelta | float) -> None:
        """Move time forward."""
        self._now += delta if isinstance(delta, timedelta) else timedelta(seconds=delta)

    async def sleep(self, seconds: float) -> None:
        """Advance instead of waiting, then yield to the loop."""
        self.advance(seconds)
        await asyncio.sleep(0)


def format_time(value: datetime) -> str:
    """RFC 3339 in UTC with a `Z`, as Kubernetes writes timestamps."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str) -> datetime:
    """Parse an RFC 3339 timestamp (with `Z` or an offset)."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
