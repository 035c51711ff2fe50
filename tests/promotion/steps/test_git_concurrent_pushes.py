"""Concurrent promotions into one branch: every commit lands, carried by few coalesced pushes."""

import asyncio

import pytest

from kargo import errors
from kargo.credentials.interface import Credentials, StaticCredentials
from kargo.git import mirror as mirrors, push as pushes
from kargo.promotion.context import GitUser, StepContext
from kargo.promotion.steps import git as steps
from tests.fixtures.git import GIT_PASSWORD, GIT_USER


class LeaseRecorder:
    """A minimal in-memory lease table with the Store's lease contract, recording holders."""

    def __init__(self):
        self.holders: dict[str, str] = {}
        self.acquired = 0

    async def try_acquire_lease(self, name, holder, ttl_seconds):
        if self.holders.get(name, holder) != holder:
            return False
        self.holders[name] = holder
        self.acquired += 1
        return True

    async def release_lease(self, name, holder):
        if self.holders.get(name) == holder:
            del self.holders[name]


async def _promote(tmp_path, repo, services, i, control_plane=None):
    work = tmp_path / "work" / f"promo-{i}"
    work.mkdir(parents=True)
    ctx = StepContext(
        work_dir=work,
        project="p",
        stage="dev",
        promotion=f"promo-{i}",
        alias="s",
        credentials=StaticCredentials({repo: Credentials(GIT_USER, GIT_PASSWORD)}),
        git_user=GitUser(name="Kargo", email="k@example.com"),
        control_plane=control_plane,
        services=services,
    )
    await steps.git_clone(
        ctx, steps.GitCloneConfig.model_validate({"repoURL": repo, "checkout": [{"path": "out"}]})
    )
    (work / "out" / "apps" / f"app-{i}.yaml").parent.mkdir(exist_ok=True)
    (work / "out" / "apps" / f"app-{i}.yaml").write_text(f"version: {i}\n")
    committed = await steps.git_commit(
        ctx, steps.GitCommitConfig(path="out", message=f"promote app-{i}")
    )
    pushed = await steps.git_push(ctx, steps.GitPushConfig(path="out"))
    return committed.output["commit"], pushed.output


@pytest.mark.slow
async def test_twenty_concurrent_promotions_all_land(tmp_path, git_server):
    repo = git_server.create_repo("gitops")
    git_server.writer("gitops").commit({"README.md": "x"}, "initial")
    coordinator = pushes.PushCoordinator()
    leases = LeaseRecorder()
    services = {
        steps.MIRRORS_SERVICE: mirrors.MirrorCache(tmp_path / "mirrors"),
        steps.PUSH_SERVICE: coordinator,
    }
    results = await asyncio.gather(
        *(_promote(tmp_path, repo, services, i, leases) for i in range(20))
    )
    subjects = git_server.log("gitops")
    assert len(subjects) == 21
    assert sorted(subjects[:-1]) == sorted(f"promote app-{i}" for i in range(20))
    pushed_commits = [out["commit"] for _, out in results]
    assert len(set(pushed_commits)) == 20  # each promotion gets its own commit
    assert git_server.branch_head("gitops") in pushed_commits
    assert coordinator.stats.requests == 20
    assert coordinator.stats.pushes < 20  # coalesced
    assert leases.holders == {}  # every lease released
    assert leases.acquired == len(coordinator.stats.batches)


async def test_one_conflicting_promotion_fails_alone(tmp_path, git_server):
    repo = git_server.create_repo("gitops")
    git_server.writer("gitops").commit({"shared.yaml": "v: 0\n"}, "initial")
    services = {
        steps.MIRRORS_SERVICE: mirrors.MirrorCache(tmp_path / "mirrors"),
        steps.PUSH_SERVICE: pushes.PushCoordinator(),
    }

    async def edit(i, path):
        work = tmp_path / "work" / f"p{i}"
        work.mkdir(parents=True)
        ctx = StepContext(
            work_dir=work,
            project="p",
            stage="s",
            promotion=f"p{i}",
            alias="a",
            credentials=StaticCredentials({repo: Credentials(GIT_USER, GIT_PASSWORD)}),
            services=services,
        )
        await steps.git_clone(
            ctx,
            steps.GitCloneConfig.model_validate({"repoURL": repo, "checkout": [{"path": "out"}]}),
        )
        (work / "out" / path).write_text(f"v: {i + 10}\n")
        await steps.git_commit(ctx, steps.GitCommitConfig(path="out", message=f"edit {i}"))
        return ctx

    ctxs = [await edit(0, "shared.yaml"), await edit(1, "shared.yaml"), await edit(2, "other.yaml")]
    results = await asyncio.gather(
        *(steps.git_push(c, steps.GitPushConfig(path="out")) for c in ctxs), return_exceptions=True
    )
    assert not isinstance(results[0], Exception)
    assert isinstance(results[1], errors.StepError)
    assert "conflicts" in str(results[1])
    assert not isinstance(results[2], Exception)
    assert sorted(git_server.log("gitops")) == sorted(["edit 0", "edit 2", "initial"])
