"""Per-registry token buckets: Kargo's client allows 20 requests per second per registry host.

One bucket is shared by every client of the same host in this process (`shared_bucket`), so two
Warehouses polling the same registry share its budget, as Kargo's global registry map does.
Time is read and waited on through injected callables so tests need not sleep.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable

Sleep = Callable[[float], Awaitable[None]]
Monotonic = Callable[[], float]


class TokenBucket:
    """A token bucket: `rate` tokens per second, at most `burst` saved up."""

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        *,
        monotonic: Monotonic = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate limit must be positive, got {rate}")
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate)
        self._tokens = self.burst
        self._monotonic = monotonic
        self._sleep = sleep
        self._last = monotonic()
        self._lock = asyncio.Lock()
        self.waited_seconds = 0.0

    def _refill(self) -> None:
        now = self._monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now

    async def acquire(self) -> None:
        """Take one token, waiting for it when the bucket is empty."""
        async with self._lock:
            self._refill()
            if self._tokens < 1:
                wait = (1 - self._tokens) / self.rate
                self.waited_seconds += wait
                await self._sleep(wait)
                self._refill()
                self._tokens = max(self._tokens, 1.0)
            self._tokens -= 1


_shared: dict[tuple[str, float], TokenBucket] = {}
_shared_lock = threading.Lock()


def shared_bucket(host: str, rate: float) -> TokenBucket:
    """The process-wide bucket of a registry host at a given rate."""
    with _shared_lock:
        key = (host.lower(), rate)
        bucket = _shared.get(key)
        if bucket is None:
            bucket = TokenBucket(rate)
            _shared[key] = bucket
        return bucket
