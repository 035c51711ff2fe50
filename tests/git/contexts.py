"""The StepContext the git tests run steps with: a promotion's work dir, credentials for the
test server's repository, a git user, and the services given (mirrors, push coordinator)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kargo.credentials.interface import Credentials, StaticCredentials
from kargo.promotion.context import GitUser, StepContext
from tests.fixtures.git import GIT_PASSWORD, GIT_USER


def step_context(
    work: Path, repo: str, name: str, services: dict[str, Any], git_user: GitUser, **extra: Any
) -> StepContext:
    """A context for promotion `name` (also its Stage) working in `work`."""
    return StepContext(
        work_dir=work,
        project="p",
        stage=name,
        promotion=name,
        alias="a",
        credentials=StaticCredentials({repo: Credentials(GIT_USER, GIT_PASSWORD)}),
        git_user=git_user,
        services=services,
        **extra,
    )
