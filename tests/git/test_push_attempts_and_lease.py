"""A push gives up after maxAttempts when other commits keep landing first, and a slow push
keeps its cross-replica lease by renewing it.

Both use a real git server hook: `pre-receive` runs inside the server's receive-pack, after
the push was sent and before its ref is updated, so it can land a commit of a concurrent
writer (making the push lose the race, every time) or hold the push for as long as the test
wants."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path

import pytest

from kargo import clock as clocks, errors
from kargo.git import mirror as mirrors, push as pushes
from kargo.promotion.context import StepContext
from kargo.promotion.steps import git as steps
from kargo.store import open_store
from tests.fixtures.git import GIT_PASSWORD
from tests.git.contexts import git_ctx

# Lands a commit on main before receive-pack updates it, so the push always loses the race.
# Outside the quarantine (a hook may not update refs inside it) and counting its runs.
CONCURRENT_WRITER = """#!/bin/sh
cat >/dev/null
echo run >> "{count}"
unset GIT_QUARANTINE_PATH GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES
tip=$(git rev-parse refs/heads/main)
new=$(echo "concurrent writer" | GIT_AUTHOR_NAME=w GIT_AUTHOR_EMAIL=w@example.com \\
  GIT_COMMITTER_NAME=w GIT_COMMITTER_EMAIL=w@example.com git commit-tree "$tip^{{tree}}" -p "$tip")
git update-ref refs/heads/main "$new" "$tip"
"""

# Holds the push until the test creates the release file.
SLOW_PUSH = """#!/bin/sh
cat >/dev/null
touch "{started}"
while [ ! -e "{release}" ]; do sleep 0.02; done
"""


def install_hook(git_server, text: str) -> None:
    hook = git_server.bare_path("gitops") / "hooks" / "pre-receive"
    hook.write_text(text)
    hook.chmod(0o755)


@pytest.fixture
def repo(git_server):
    url = git_server.create_repo("gitops")
    git_server.writer("gitops").commit({"app.yaml": "image: v1\n"}, "initial")
    return url


def make_ctx(tmp_path: Path, repo: str, services: dict, name: str, **kw) -> StepContext:
    return git_ctx(tmp_path, repo, services, name, alias="push", git_user=None, stage=name, **kw)


async def clone_and_commit(ctx: StepContext, repo: str, file: str) -> None:
    cfg = {"repoURL": repo, "checkout": [{"branch": "main", "path": "out"}]}
    await steps.git_clone(ctx, steps.GitCloneConfig.model_validate(cfg))
    (ctx.work_dir / "out" / file).write_text(ctx.promotion)
    await steps.git_commit(ctx, steps.GitCommitConfig(path="out", message=ctx.promotion))


def runs(count: Path) -> int:
    return len(count.read_text().splitlines()) if count.exists() else 0


async def test_a_push_gives_up_after_max_attempts_when_the_branch_keeps_moving(
    tmp_path, git_server, repo
):
    count = tmp_path / "hook-runs"
    services = {
        steps.MIRRORS_SERVICE: mirrors.MirrorCache(tmp_path / "mirrors"),
        steps.PUSH_SERVICE: pushes.PushCoordinator(),
    }
    ctx = make_ctx(tmp_path, repo, services, "promo")
    await clone_and_commit(ctx, repo, "a.txt")
    install_hook(git_server, CONCURRENT_WRITER.format(count=count))
    with pytest.raises(errors.StepError) as err:
        await steps.git_push(ctx, steps.GitPushConfig(path="out", max_attempts=3))
    message = str(err.value)
    assert "gave up after 3 attempt(s)" in message
    assert "maxAttempts" in message
    assert "branch main" in message
    assert GIT_PASSWORD not in message
    assert runs(count) == 3  # one push per attempt, each lost to the concurrent writer
    assert "promo" not in git_server.log("gitops")


async def test_in_a_batch_each_promotion_gives_up_after_its_own_max_attempts(
    tmp_path, git_server, repo
):
    count = tmp_path / "hook-runs"
    coordinator = pushes.PushCoordinator(gap=30.0, max_linger=30.0)
    services = {
        steps.MIRRORS_SERVICE: mirrors.MirrorCache(tmp_path / "mirrors"),
        steps.PUSH_SERVICE: coordinator,
    }
    impatient = make_ctx(tmp_path, repo, services, "impatient")
    patient = make_ctx(tmp_path, repo, services, "patient")
    await clone_and_commit(impatient, repo, "a.txt")
    await clone_and_commit(patient, repo, "b.txt")
    install_hook(git_server, CONCURRENT_WRITER.format(count=count))
    results = await asyncio.gather(
        steps.git_push(impatient, steps.GitPushConfig(path="out", max_attempts=1)),
        steps.git_push(patient, steps.GitPushConfig(path="out", max_attempts=2)),
        return_exceptions=True,
    )
    assert coordinator.stats.batches == [2]  # carried together
    assert all(isinstance(r, errors.StepError) for r in results), results
    assert "gave up after 1 attempt(s) (maxAttempts 1)" in str(results[0])
    assert "gave up after 2 attempt(s) (maxAttempts 2)" in str(results[1])
    assert runs(count) == 2


async def test_a_slow_push_renews_its_lease_so_no_other_replica_takes_the_branch(
    tmp_path, git_server, repo
):
    clock = clocks.ManualClock()
    store = await open_store(f"sqlite:///{tmp_path / 'kargo.db'}", clock=clock)
    ttl = 3.0
    coordinator = pushes.PushCoordinator(lease_ttl=ttl, clock=clock, holder="replica-a")
    services = {
        steps.MIRRORS_SERVICE: mirrors.MirrorCache(tmp_path / "mirrors"),
        steps.PUSH_SERVICE: coordinator,
    }
    started, release = tmp_path / "started", tmp_path / "release"
    try:
        ctx = make_ctx(tmp_path, repo, services, "slow", control_plane=store)
        await clone_and_commit(ctx, repo, "a.txt")
        install_hook(git_server, SLOW_PUSH.format(started=started, release=release))
        mirror = services[steps.MIRRORS_SERVICE].get(repo)
        name = pushes.PushCoordinator.lease_name(mirror, "main")
        pushing = asyncio.create_task(steps.git_push(ctx, steps.GitPushConfig(path="out")))
        deadline = time.monotonic() + 30
        while not started.exists():
            assert time.monotonic() < deadline, "the push never reached the server"
            assert not pushing.done(), pushing
            await asyncio.sleep(0.01)
        # the push is held by the server; the renewals (sleeping on the manual clock) carry
        # its time well past the lease's ttl
        since = clock.now()
        while clock.now() - since < timedelta(seconds=4 * ttl):
            assert time.monotonic() < deadline, "the lease was never renewed during the push"
            await asyncio.sleep(0.01)
        assert not await store.try_acquire_lease(name, "replica-b", ttl)
        release.touch()
        pushed = await pushing
        assert pushed.output["commit"] == git_server.branch_head("gitops")
        assert await store.try_acquire_lease(name, "replica-b", ttl)  # released when done
        moved = clock.now()
        await asyncio.sleep(0.05)
        assert clock.now() == moved  # and no longer renewed
    finally:
        release.touch()
        await store.close()
