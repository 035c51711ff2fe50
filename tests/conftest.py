"""Test-wide rules: warnings are errors (pyproject), a per-test timeout, and real components.

A test whose real component (a binary, a server) is missing is skipped on a developer's machine
but FAILS under CI=true: CI installs everything, so a missing component there is a bug.
"""

from __future__ import annotations

import os
import shutil

import pytest

pytest_plugins = [
    "tests.fixtures.git",
    "tests.fixtures.metrics_target",
    "tests.fixtures.prometheus",
    "tests.fixtures.registry",
    "tests.fixtures.charts",
    "tests.fixtures.postgres",
    "tests.fixtures.server",
]

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing_component(what: str) -> None:
    """Fail under CI, skip elsewhere, when a real component the test needs is absent."""
    if IN_CI:
        pytest.fail(f"real component missing under CI: {what}", pytrace=False)
    pytest.skip(f"real component missing (would fail under CI): {what}")


def require_binary(name: str) -> str:
    """The path of an executable the test needs; fails under CI when it is absent."""
    path = shutil.which(name)
    if path is None:
        missing_component(f"executable {name!r} not on PATH")
    assert path is not None
    return path
