"""Fixtures the controller tests share: a real SQLite store, and a World with a Project on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kargo.store import interface, open_store
from tests.controller.test_stage_world import World


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[interface.Store]:
    s = await open_store(f"sqlite:///{tmp_path}/kargo.db")
    yield s
    await s.close()


@pytest.fixture
async def world(store: interface.Store, tmp_path: Path) -> World:
    w = World(store, tmp_path)
    await w.project()
    return w
