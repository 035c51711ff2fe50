"""The StepContext and services the git step tests share: one replica's mirror cache and push
coordinator, and a promotion's context with credentials for the test git server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kargo.credentials.interface import Credentials, StaticCredentials
from kargo.git import mirror as mirrors, push as pushes
from kargo.promotion.context import GitUser, StepContext
from kargo.promotion.steps import git as steps
from tests.fixtures.git import GIT_PASSWORD, GIT_USER

KARGO_BOT = GitUser(name="Kargo Bot", email="bot@example.com")


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
    **kw: Any,
) -> StepContext:
    """Promotion `name`'s context: its own work directory, the server's credentials for `repo`."""
    work = tmp_path / "work" / name
    work.mkdir(parents=True)
    return StepContext(
        work_dir=work,
        project="p",
        stage="dev",
        promotion=name,
        alias=alias,
        credentials=StaticCredentials({repo: Credentials(GIT_USER, GIT_PASSWORD)}),
        git_user=git_user,
        services=services,
        **kw,
    )
