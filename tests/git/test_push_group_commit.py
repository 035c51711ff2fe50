"""Group commit: promotions that git-clone announced (`PushCoordinator.expect`) share one push
even when their pushes ask at different moments, and nothing else ever waits for them.

Lingering is measured on the coordinator's clock: with a `ManualClock` every wait advances it,
so "no delay" is "the manual clock did not move". Tests where pushes arrive while another one
lingers use the real clock with a `gap` far longer than the test, so they pass only when the
linger ends because everyone arrived, never because time ran out."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

from kargo import clock as clocks, errors
from kargo.git import mirror as mirrors, push as pushes
from kargo.promotion.context import GitUser, StepContext
from kargo.promotion.steps import git as steps
from kargo.store import open_store
from tests.git.contexts import step_context

NEVER = 60.0  # a gap or linger no test reaches: it passes only if the linger ends otherwise


class Promotions:
    """Promotions of one replica: its mirror cache, its push coordinator, its checkouts."""

    def __init__(self, root: Path, repo: str, coordinator: pushes.PushCoordinator) -> None:
        self.root, self.repo, self.coordinator = root, repo, coordinator
        self.mirrors = mirrors.MirrorCache(root / "mirrors")
        self.services: dict[str, Any] = {
            steps.MIRRORS_SERVICE: self.mirrors,
            steps.PUSH_SERVICE: coordinator,
        }

    @property
    def mirror(self) -> mirrors.Mirror:
        return self.mirrors.get(self.repo)

    async def clone(self, name: str, control_plane: object = None) -> StepContext:
        """git-clone `main` into ./out, then announce it as git-clone will."""
        work = self.root / "work" / name
        work.mkdir(parents=True)
        user = GitUser(name="Kargo", email="k@example.com")
        ctx = step_context(work, self.repo, name, self.services, user, control_plane=control_plane)
        config = {"repoURL": self.repo, "checkout": [{"path": "out"}]}
        await steps.git_clone(ctx, steps.GitCloneConfig.model_validate(config))
        self.coordinator.expect(self.mirror, "main", work / "out")
        return ctx

    async def commit(self, ctx: StepContext, path: str | None = None) -> None:
        target = ctx.work_dir / "out" / (path or f"apps/{ctx.promotion}.yaml")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(f"version: {ctx.promotion}\n")
        config = steps.GitCommitConfig(path="out", message=f"promote {ctx.promotion}")
        await steps.git_commit(ctx, config)

    @staticmethod
    async def push(ctx: StepContext, *, force: bool = False) -> str:
        pushed = await steps.git_push(ctx, steps.GitPushConfig(path="out", force=force))
        return str(pushed.output["commit"])

    async def staggered(self, ctxs: list[StepContext]) -> list[asyncio.Task[str]]:
        """Commit and push one after the other: each push asks while the earlier ones linger."""
        tasks = []
        for ctx in ctxs:
            await self.commit(ctx)  # real git work between two arrivals
            tasks.append(asyncio.create_task(self.push(ctx)))
        return tasks


async def arrived(coordinator: pushes.PushCoordinator, requests: int) -> None:
    """Let the loop run until `requests` push requests have reached the coordinator."""

    async def poll() -> None:
        while coordinator.stats.requests < requests:
            await asyncio.sleep(0)

    await asyncio.wait_for(poll(), timeout=NEVER)  # a safety net against hanging, not a figure


def manual(
    root: Path, repo: str, *, gap: float, max_linger: float, expectation_ttl: float = 60.0
) -> tuple[Promotions, clocks.ManualClock]:
    clock = clocks.ManualClock()
    coordinator = pushes.PushCoordinator(
        gap=gap, max_linger=max_linger, expectation_ttl=expectation_ttl, clock=clock
    )
    return Promotions(root, repo, coordinator), clock


def seeded(git_server: Any, files: dict[str, str] | None = None) -> str:
    repo: str = git_server.create_repo("gitops")
    git_server.writer("gitops").commit(files or {"README.md": "x\n"}, "initial")
    return repo


async def test_expected_promotions_asking_at_different_moments_share_one_push(tmp_path, git_server):
    repo = seeded(git_server)
    promotions = Promotions(tmp_path, repo, pushes.PushCoordinator(gap=NEVER, max_linger=NEVER))
    ctxs = [await promotions.clone(f"stage-{i}") for i in range(5)]

    commits = await asyncio.gather(*await promotions.staggered(ctxs))

    stats = promotions.coordinator.stats
    assert (stats.pushes, stats.requests, stats.batches) == (1, 5, [5])
    assert sorted(git_server.log("gitops")) == sorted(
        ["initial", *(f"promote stage-{i}" for i in range(5))]
    )
    assert len(set(commits)) == 5
    assert commits[-1] == git_server.branch_head("gitops")
    assert promotions.coordinator.expected(promotions.mirror, "main") == []


async def test_a_single_expected_promotion_pushes_without_lingering(tmp_path, git_server):
    repo = seeded(git_server)
    promotions, clock = manual(tmp_path, repo, gap=NEVER, max_linger=NEVER)
    ctx = await promotions.clone("only")
    await promotions.commit(ctx)
    start = clock.now()

    pushed = await promotions.push(ctx)

    assert clock.now() == start  # it never slept
    assert pushed == git_server.branch_head("gitops")
    assert promotions.coordinator.stats.pushes == 1


async def test_an_expected_promotion_that_never_pushes_holds_the_push_only_for_the_gap(
    tmp_path, git_server
):
    repo = seeded(git_server)
    promotions, clock = manual(tmp_path, repo, gap=0.05, max_linger=NEVER)
    pushing, silent = await promotions.clone("pushing"), await promotions.clone("silent")
    await promotions.commit(pushing)
    start = clock.now()

    await promotions.push(pushing)

    assert (clock.now() - start).total_seconds() == 0.05
    assert git_server.log("gitops") == ["promote pushing", "initial"]
    # still expected: it may push later, and then it is consumed
    assert promotions.coordinator.expected(promotions.mirror, "main") == [silent.work_dir / "out"]
    await promotions.commit(silent)
    await promotions.push(silent)
    assert promotions.coordinator.expected(promotions.mirror, "main") == []
    assert promotions.coordinator.stats.batches == [1, 1]


async def test_lingering_never_exceeds_max_linger(tmp_path, git_server):
    repo = seeded(git_server)
    promotions, clock = manual(tmp_path, repo, gap=NEVER, max_linger=0.5)
    pushing = await promotions.clone("pushing")
    await promotions.clone("silent")
    await promotions.commit(pushing)
    start = clock.now()

    await promotions.push(pushing)

    assert (clock.now() - start).total_seconds() == 0.5
    assert promotions.coordinator.stats.pushes == 1


async def test_an_expected_checkout_whose_work_dir_was_removed_is_not_waited_for(
    tmp_path, git_server
):
    repo = seeded(git_server)
    promotions, clock = manual(tmp_path, repo, gap=NEVER, max_linger=NEVER)
    pushing, failed = await promotions.clone("pushing"), await promotions.clone("failed")
    shutil.rmtree(failed.work_dir)  # the promotion failed and its work dir was removed
    await promotions.commit(pushing)
    start = clock.now()

    await promotions.push(pushing)

    assert clock.now() == start
    assert promotions.coordinator.expected(promotions.mirror, "main") == []


async def test_a_checkout_announced_before_it_exists_counts_until_its_work_dir_is_removed(
    tmp_path, git_server
):
    repo = seeded(git_server)
    promotions, clock = manual(tmp_path, repo, gap=0.05, max_linger=NEVER)
    pushing = await promotions.clone("pushing")
    early = tmp_path / "work" / "early"  # git-clone has started: its work dir exists, not ./out
    early.mkdir()
    promotions.coordinator.expect(promotions.mirror, "main", early / "out", work_dir=early)
    await promotions.commit(pushing)
    start = clock.now()

    await promotions.push(pushing)

    assert (clock.now() - start).total_seconds() == 0.05  # it was waited for
    assert promotions.coordinator.expected(promotions.mirror, "main") == [early / "out"]
    shutil.rmtree(early)
    later = await promotions.clone("later")
    await promotions.commit(later)
    start = clock.now()
    await promotions.push(later)
    assert clock.now() == start
    assert promotions.coordinator.expected(promotions.mirror, "main") == []


async def test_a_checkout_removed_while_others_linger_stops_being_waited_for(tmp_path, git_server):
    repo = seeded(git_server)
    promotions = Promotions(tmp_path, repo, pushes.PushCoordinator(gap=NEVER, max_linger=NEVER))
    first, failed, last = [await promotions.clone(n) for n in ("first", "failed", "last")]
    await promotions.commit(first)
    lingering = asyncio.create_task(promotions.push(first))
    await arrived(promotions.coordinator, 1)
    shutil.rmtree(failed.work_dir)

    await asyncio.gather(lingering, *await promotions.staggered([last]))

    assert promotions.coordinator.stats.batches == [2]
    assert sorted(git_server.log("gitops")) == ["initial", "promote first", "promote last"]


async def test_another_expectation_is_stale_after_the_expectation_ttl(tmp_path, git_server):
    repo = seeded(git_server)
    promotions, clock = manual(tmp_path, repo, gap=NEVER, max_linger=NEVER, expectation_ttl=30)
    await promotions.clone("stale")
    clock.advance(31)
    pushing = await promotions.clone("pushing")
    await promotions.commit(pushing)
    start = clock.now()

    await promotions.push(pushing)

    assert clock.now() == start
    assert promotions.coordinator.expected(promotions.mirror, "main") == []


async def test_a_force_push_never_lingers(tmp_path, git_server):
    repo = seeded(git_server)
    promotions, clock = manual(tmp_path, repo, gap=NEVER, max_linger=NEVER)
    forcing, other = await promotions.clone("forcing"), await promotions.clone("other")
    await promotions.commit(forcing)
    start = clock.now()

    await promotions.push(forcing, force=True)

    assert clock.now() == start
    assert git_server.log("gitops") == ["promote forcing", "initial"]
    assert promotions.coordinator.expected(promotions.mirror, "main") == [other.work_dir / "out"]


async def test_a_conflicting_promotion_of_a_grouped_push_fails_alone(tmp_path, git_server):
    repo = seeded(git_server, {"shared.yaml": "v: 0\n"})
    promotions = Promotions(tmp_path, repo, pushes.PushCoordinator(gap=NEVER, max_linger=NEVER))
    first, clashing, other = [await promotions.clone(n) for n in ("first", "clashing", "other")]
    tasks = []
    for ctx, path in ((first, "shared.yaml"), (clashing, "shared.yaml"), (other, "other.yaml")):
        await promotions.commit(ctx, path)
        tasks.append(asyncio.create_task(promotions.push(ctx)))

    results = await asyncio.gather(*tasks, return_exceptions=True)

    assert isinstance(results[1], errors.StepError)
    assert "conflicts" in str(results[1])
    assert not isinstance(results[0], BaseException)
    assert not isinstance(results[2], BaseException)
    assert sorted(git_server.log("gitops")) == ["initial", "promote first", "promote other"]
    assert promotions.coordinator.stats.batches == [3]
    assert promotions.coordinator.stats.pushes == 1


async def test_a_promotion_cancelled_while_lingering_is_not_pushed_and_blocks_nobody(
    tmp_path, git_server
):
    repo = seeded(git_server)
    promotions = Promotions(tmp_path, repo, pushes.PushCoordinator(gap=NEVER, max_linger=NEVER))
    cancelled, *rest = [await promotions.clone(n) for n in ("cancelled", "second", "third")]
    await promotions.commit(cancelled)
    lingering = asyncio.create_task(promotions.push(cancelled))
    await arrived(promotions.coordinator, 1)  # it asked to push and now lingers for the others
    lingering.cancel()
    tasks = await promotions.staggered(rest)

    await asyncio.gather(*tasks)

    assert lingering.cancelled()
    assert sorted(git_server.log("gitops")) == ["initial", "promote second", "promote third"]
    assert promotions.coordinator.stats.batches == [2]


async def test_replicas_sharing_a_postgresql_lease_each_group_their_promotions(
    tmp_path, git_server, pg_url
):
    repo = seeded(git_server)
    store = await open_store(pg_url, clock=clocks.SystemClock())
    try:
        replicas = [
            Promotions(
                tmp_path / f"replica-{r}",
                repo,
                pushes.PushCoordinator(gap=NEVER, max_linger=NEVER, holder=f"replica-{r}"),
            )
            for r in range(2)
        ]
        ctxs = [
            [await p.clone(f"r{r}-{i}", store) for i in range(3)] for r, p in enumerate(replicas)
        ]
        tasks = [
            task for p, mine in zip(replicas, ctxs, strict=True) for task in await p.staggered(mine)
        ]

        await asyncio.gather(*tasks)
    finally:
        await store.close()

    assert sorted(git_server.log("gitops")) == sorted(
        ["initial", *(f"promote r{r}-{i}" for r in range(2) for i in range(3))]
    )
    for replica in replicas:
        assert replica.coordinator.stats.batches == [3]
        assert replica.coordinator.stats.pushes == 1
