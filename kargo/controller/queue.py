"""A keyed work queue, in the spirit of client-go's rate-limited delaying queue.

- Dedup: a key waiting in the queue is queued once, however often it is added.
- Per-key serialisation: a key being processed is not handed out again until `done(key)`; if it
  was added meanwhile it is queued again at `done`.
- Delays: `add_after(key, delay)` keeps the earliest pending due time per key.
- Backoff: `add_rate_limited(key)` delays by base * 2^failures, capped (1s .. 2min), until
  `forget(key)` resets the count after a success.
Concurrency limits come from how many workers the manager (`runtime.py`) runs per queue.
Time comes from an injected `Clock`; `promote_due()` moves delayed keys that are due, so tests
drive delays exactly by advancing a `ManualClock`.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
from collections import deque
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from kargo import clock as clock_mod

K = TypeVar("K")

BASE_DELAY = timedelta(seconds=1)
MAX_DELAY = timedelta(minutes=2)


class ShutDown(Exception):
    """The queue was shut down; workers stop."""


class WorkQueue(Generic[K]):
    """Deduplicating, per-key serialised, delaying and rate-limited queue of keys."""

    def __init__(
        self,
        clock: clock_mod.Clock,
        *,
        base_delay: timedelta = BASE_DELAY,
        max_delay: timedelta = MAX_DELAY,
    ) -> None:
        self._clock = clock
        self._base = base_delay
        self._max = max_delay
        self._queue: deque[K] = deque()
        self._dirty: set[K] = set()
        self._processing: set[K] = set()
        self._waiting: dict[K, datetime] = {}
        self._heap: list[tuple[datetime, int, K]] = []
        self._seq = itertools.count()
        self._failures: dict[K, int] = {}
        self._nonempty = asyncio.Event()
        self._delays_changed = asyncio.Event()
        self._shutdown = False

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def pending_delays(self) -> int:
        """How many keys wait for a due time."""
        return len(self._waiting)

    def add(self, key: K) -> None:
        """Queue `key` now (no-op if it is already queued)."""
        if self._shutdown or key in self._dirty:
            return
        self._dirty.add(key)
        self._waiting.pop(key, None)
        if key not in self._processing:
            self._queue.append(key)
            self._notify()

    def add_after(self, key: K, delay: timedelta | float) -> None:
        """Queue `key` once `delay` has passed (the earliest pending due time wins)."""
        if isinstance(delay, int | float):
            delay = timedelta(seconds=delay)
        if delay <= timedelta(0):
            self.add(key)
            return
        if self._shutdown:
            return
        due = self._clock.now() + delay
        current = self._waiting.get(key)
        if current is not None and current <= due:
            return
        self._waiting[key] = due
        heapq.heappush(self._heap, (due, next(self._seq), key))
        self._delays_changed.set()

    def backoff(self, key: K) -> timedelta:
        """The delay the next `add_rate_limited(key)` would use."""
        failures = self._failures.get(key, 0)
        delay = self._base * (1 << min(failures, 32))
        return min(delay, self._max)

    def add_rate_limited(self, key: K) -> timedelta:
        """Requeue after a failure, with exponential backoff; returns the delay used."""
        delay = self.backoff(key)
        self._failures[key] = self._failures.get(key, 0) + 1
        self.add_after(key, delay)
        return delay

    def forget(self, key: K) -> None:
        """Reset the failure count of `key` (after a success)."""
        self._failures.pop(key, None)

    def failures(self, key: K) -> int:
        """Consecutive failures recorded for `key`."""
        return self._failures.get(key, 0)

    def promote_due(self) -> int:
        """Queue every delayed key whose time has come; returns how many."""
        now = self._clock.now()
        moved = 0
        while self._heap and self._heap[0][0] <= now:
            due, _, key = heapq.heappop(self._heap)
            if self._waiting.get(key) != due:
                continue  # superseded by an earlier due time or an immediate add
            del self._waiting[key]
            self.add(key)
            moved += 1
        return moved

    def next_due(self) -> datetime | None:
        """The earliest pending due time, if any."""
        while self._heap and self._waiting.get(self._heap[0][2]) != self._heap[0][0]:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    async def get(self) -> K:
        """The next key to process; it stays out of the queue until `done(key)`."""
        while not self._queue:
            if self._shutdown:
                raise ShutDown
            self._nonempty.clear()
            await self._nonempty.wait()
        key = self._queue.popleft()
        self._dirty.discard(key)
        self._processing.add(key)
        return key

    def get_nowait(self) -> K | None:
        """The next key if one is ready, else None (for tests and draining)."""
        if not self._queue:
            return None
        key = self._queue.popleft()
        self._dirty.discard(key)
        self._processing.add(key)
        return key

    def done(self, key: K) -> None:
        """Mark `key` processed; re-queue it if it was added while being processed."""
        self._processing.discard(key)
        if key in self._dirty:
            self._queue.append(key)
            self._notify()

    def shutdown(self) -> None:
        """Stop handing out keys; blocked `get` calls raise ShutDown."""
        self._shutdown = True
        self._delays_changed.set()
        self._notify()

    def _notify(self) -> None:
        self._nonempty.set()

    async def run_delays(self) -> None:
        """Promote delayed keys when due, until shutdown (one task per queue)."""
        while not self._shutdown:
            self.promote_due()
            due = self.next_due()
            self._delays_changed.clear()
            timeout = None
            if due is not None:
                timeout = max((due - self._clock.now()).total_seconds(), 0.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._delays_changed.wait(), timeout)
