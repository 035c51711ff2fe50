"""The StepContext the git tests run steps with: a promotion's work dir, credentials for the
test server's repository, a git user, and the services given (mirrors, push coordinator)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kargo.credentials.interface import Credentials, StaticCredentials
from kargo.git import mirror as mirrors, push as pushes
from kargo.promotion.context import GitUser, StepContext
from kargo.promotion.steps import git as steps
from tests.fixtures.git import GIT_PASSWORD, GIT_USER

KARGO_BOT = GitUser(name="Kargo Bot", email="bot@example.com")


def step_context(
    work: Path,
    repo: str,
    name: str,
    services: dict[str, Any],
    git_user: GitUser | None,
    *,
    stage: str | None = None,
    alias: str = "a",
    **extra: Any,
) -> StepContext:
    """A context for promotion `name` (also its Stage, unless `stage`) working in `work`."""
    return StepContext(
        work_dir=work,
        project="p",
        stage=stage or name,
        promotion=name,
        alias=alias,
        credentials=StaticCredentials({repo: Credentials(GIT_USER, GIT_PASSWORD)}),
        git_user=git_user,
        services=services,
        **extra,
    )


def git_services(root: Path, **extra: Any) -> dict[str, Any]:
    """One replica's git services: a mirror cache under `root` and a push coordinator."""
    return {
        steps.MIRRORS_SERVICE: mirrors.MirrorCache(root / "mirrors"),
        steps.PUSH_SERVICE: pushes.PushCoordinator(),
        **extra,
    }


def git_ctx(
    tmp_path: Path,
    repo: str,
    services: dict[str, Any],
    name: str = "promo-1",
    *,
    alias: str = "step",
    git_user: GitUser | None = KARGO_BOT,
    stage: str = "dev",
    **kw: Any,
) -> StepContext:
    """Promotion `name`'s context in its own new work directory under `tmp_path`."""
    work = tmp_path / "work" / name
    work.mkdir(parents=True)
    return step_context(work, repo, name, services, git_user, stage=stage, alias=alias, **kw)
