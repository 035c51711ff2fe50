"""Shared helpers for image and chart discovery tests against the real registry."""

from __future__ import annotations

import pytest

from kargo.clock import ManualClock
from kargo.discovery import cache, ratelimit, registry


class Sleeps:
    """Records backoff waits instead of sleeping (time is injected, never slept)."""

    def __init__(self) -> None:
        self.clock = ManualClock()
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await self.clock.sleep(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def metadata_cache() -> cache.InMemoryMetadataCache:
    return cache.InMemoryMetadataCache()


@pytest.fixture
async def make_client(sleeps):
    """Build RegistryClients for a host (a private bucket each, backoff recorded not slept)."""
    clients: list[registry.RegistryClient] = []

    def make(host: str, credentials=None, **kwargs) -> registry.RegistryClient:
        kwargs.setdefault("sleep", sleeps)
        kwargs.setdefault("rate_limiter", ratelimit.TokenBucket(10_000))
        client = registry.RegistryClient(host, credentials, **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()
