"""Git promotion cost: our steps vs a hand-written git sequence, warm vs cold mirror, 100 vs 1.

Runs the test suite's smart-HTTP git server (Basic auth) with a repository of 300 commits and
400 files, and measures, in the same run:

1. one promotion (git-clone, edit, git-commit, git-push) through our steps with a warm mirror,
   against the shell sequence people write by hand (`git clone`, edit, commit, push), and
   against `git clone --depth 1`;
2. the first promotion of a repository (cold: the mirror is created) against later ones (warm);
3. 100 promotions into the same branch at the same moment against a single one: wall time,
   commits landed and pushes made.

Run: .venv/bin/python -m benchmarks.promotion_git [N]     (N concurrent promotions, default 100)
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from kargo.credentials.interface import Credentials, StaticCredentials
from kargo.git import cli, mirror as mirrors, push as pushes
from kargo.promotion.context import GitUser, StepContext
from kargo.promotion.steps import git as steps
from tests.fixtures.git import GIT_PASSWORD, GIT_USER, run, start_git_server, stop_git_server

CREDS = Credentials(GIT_USER, GIT_PASSWORD)


def make_repo(server) -> str:
    url = server.create_repo("gitops")
    writer = server.writer("gitops")
    for i in range(300):
        files = {
            f"apps/app-{(i * 7 + k) % 400}/values.yaml": f"rev: {i}\n" + "x" * 2000
            for k in range(4)
        }
        writer.commit(files, f"change {i}", push=False)
    writer.commit({"README.md": "bench\n"}, "head")
    return url


class Promoter:
    def __init__(self, root: Path, url: str):
        self.root, self.url = root, url
        self.services = {
            steps.MIRRORS_SERVICE: mirrors.MirrorCache(root / "mirrors"),
            steps.PUSH_SERVICE: pushes.PushCoordinator(),
        }
        self.n = 0

    async def promote(self, tag: str) -> str:
        self.n += 1
        name = f"{tag}-{self.n}"
        work = self.root / "work" / name
        work.mkdir(parents=True)
        ctx = StepContext(
            work_dir=work,
            project="p",
            stage="dev",
            promotion=name,
            alias="s",
            credentials=StaticCredentials({self.url: CREDS}),
            git_user=GitUser(),
            services=self.services,
        )
        clone = steps.GitCloneConfig.model_validate(
            {"repoURL": self.url, "checkout": [{"path": "out"}]}
        )
        await steps.git_clone(ctx, clone)
        target = work / "out" / "promoted" / f"{name}.yaml"
        target.parent.mkdir(exist_ok=True)
        target.write_text(f"image: {name}\n")
        await steps.git_commit(ctx, steps.GitCommitConfig(path="out", message=f"promote {name}"))
        out = await steps.git_push(ctx, steps.GitPushConfig(path="out"))
        return str(out.output["commit"])


async def shell_promotion(root: Path, url: str, i: int, depth: bool) -> None:
    work = root / "shell" / f"{i}-{depth}"
    work.parent.mkdir(parents=True, exist_ok=True)
    env = {
        "GIT_AUTHOR_NAME": "k",
        "GIT_AUTHOR_EMAIL": "k@x",
        "GIT_COMMITTER_NAME": "k",
        "GIT_COMMITTER_EMAIL": "k@x",
    }
    args = ["clone", "--quiet", *(["--depth", "1"] if depth else []), url, str(work)]
    await cli.run_git(args, cwd=work.parent, credentials=CREDS)
    (work / f"shell-{i}-{depth}.yaml").write_text("x\n")
    await cli.run_git(["add", "-A"], cwd=work)
    await cli.run_git(["commit", "--quiet", "-m", "shell"], cwd=work, env=env)
    await cli.run_git(["push", "--quiet", "origin", "HEAD:main"], cwd=work, credentials=CREDS)


async def timed(coro) -> float:
    start = time.perf_counter()
    await coro
    return time.perf_counter() - start


async def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        server = start_git_server(root / "repos", {GIT_USER: GIT_PASSWORD})
        try:
            url = make_repo(server)
            run(["push", "--quiet", "origin", "HEAD:refs/heads/main"], server.writer("gitops").work)
            promoter = Promoter(root, url)

            cold = await timed(promoter.promote("cold"))
            warm = statistics.median([await timed(promoter.promote("warm")) for _ in range(5)])
            full = statistics.median(
                [await timed(shell_promotion(root, url, i, False)) for i in range(5)]
            )
            shallow = statistics.median(
                [await timed(shell_promotion(root, url, i, True)) for i in range(5)]
            )
            print("one promotion (clone, edit, commit, push), median of 5:")
            print(f"  hand-written git, full clone     : {full * 1000:7.1f} ms  (baseline 1.00)")
            print(
                f"  hand-written git, --depth 1 clone: {shallow * 1000:7.1f} ms  ({shallow / full:.2f}x)"
            )
            print(
                f"  kargo steps, warm mirror         : {warm * 1000:7.1f} ms  ({warm / full:.2f}x)"
            )
            print(
                f"  kargo steps, cold mirror (first) : {cold * 1000:7.1f} ms  ({cold / full:.2f}x; warm/cold {warm / cold:.2f})"
            )

            coordinator = promoter.services[steps.PUSH_SERVICE]
            pushes_before = coordinator.stats.pushes
            before = len(server.log("gitops"))
            start = time.perf_counter()
            commits = await asyncio.gather(*(promoter.promote("many") for _ in range(n)))
            many = time.perf_counter() - start
            landed = len(server.log("gitops")) - before
            pushes_made = coordinator.stats.pushes - pushes_before
            print(f"{n} concurrent promotions into one branch:")
            print(
                f"  wall time {many * 1000:.0f} ms = {many / warm:.1f}x one promotion ({many / warm / n:.3f}x per promotion)"
            )
            print(
                f"  commits landed {landed}/{n}, distinct outputs {len(set(commits))}, pushes {pushes_made}"
            )
            assert landed == n, "every promotion's commit must land"
        finally:
            stop_git_server(server)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100))
