"""One `store` fixture parametrised over both backends, so every contract test runs on SQLite
and on PostgreSQL (the "one code path" claim is tested, not assumed)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kargo import clock as clock_mod
from kargo.store import interface, open_store

EVENT_TIMEOUT_S = 10.0


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path) -> str:
    """The URL of a fresh, empty database of each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'kargo.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def clock() -> clock_mod.ManualClock:
    return clock_mod.ManualClock()


@pytest.fixture
async def store(store_url: str, clock: clock_mod.ManualClock) -> AsyncIterator[interface.Store]:
    opened = await open_store(store_url, clock=clock)
    try:
        yield opened
    finally:
        await opened.close()


async def next_event(events: Any, timeout: float = EVENT_TIMEOUT_S) -> interface.WatchEvent:
    """The next watch event, failing the test instead of hanging when none comes."""
    event: interface.WatchEvent = await asyncio.wait_for(events.__anext__(), timeout)
    return event


def stage(name: str, project: str = "demo", **extra: Any) -> dict[str, Any]:
    """A small namespaced object."""
    labels = extra.pop("labels", None)
    meta: dict[str, Any] = {"name": name, "namespace": project}
    if labels is not None:
        meta["labels"] = labels
    if "finalizers" in extra:
        meta["finalizers"] = extra.pop("finalizers")
    return {
        "apiVersion": "kargo.akuity.io/v1alpha1",
        "kind": "Stage",
        "metadata": meta,
        "spec": extra.pop("spec", {"requestedFreight": []}),
        **extra,
    }


def project(name: str, **meta: Any) -> dict[str, Any]:
    """A cluster-scoped Project."""
    return {
        "apiVersion": "kargo.akuity.io/v1alpha1",
        "kind": "Project",
        "metadata": {"name": name, **meta},
    }
