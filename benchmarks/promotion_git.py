"""Git promotion cost through the promotion engine, against hand-written git, on a big repository.

Issue 5's "Done when" benchmark. It generates a repository of 10,000 files and 5,000 commits
(`generate_repo`: one `git fast-import` stream written straight into the bare repository, then
`git gc`), serves it with the test suite's smart-HTTP git server (HTTP Basic auth), and holds
100 Stage directories `env/stage-NNN/kustomization.yaml`, each with an `images:` entry for
`nginx`. Every promotion is the same four steps run by `kargo.promotion.engine.Engine` with the
real step registry (`load_builtin_steps`), wired as the controller wires it (`EngineServices`
with a `git_mirrors` MirrorCache, a `git_push_coordinator` PushCoordinator, credentials for the
repository URL, a git user):

    git-clone (branch main, path ./out) -> kustomize-set-image (./out/env/${{ ctx.stage }},
    every image of the Freight: nginx -> a new tag) -> git-commit (the step's commit message)
    -> git-push

The template is the one users write (as Kargo's quickstart): git-clone has no `sparse`, so
checking out only what the steps touch is the engine's job; `--sparse` adds
`sparse: [env/${{ ctx.stage }}]` to show what a hand-tuned template gets.

Each Promotion edits its own Stage's kustomization (`env/${{ ctx.stage }}`), on `main`: one
repository, one branch, 100 Stages, as real users lay it out. Every wall time is measured in
this run, and each figure is printed as a ratio to its baseline with the target and MET/NOT MET:

1. cold promotion / hand-written shell script (target <= 1.3x). Cold: a fresh MirrorCache
   directory (and fresh services) per run, so the mirror is created by that promotion. The
   script is what a user would write for the same change with the cheapest correct git
   sequence, run with `bash -c` in a fresh directory (credentials via a GIT_ASKPASS script,
   never in the URL): `git clone --depth 1 --single-branch --branch main --filter=blob:none
   --sparse URL dir`, `git sparse-checkout set env/stage-000`, `sed` on `newTag:`,
   `git commit -am`, `git push origin HEAD:main`.
2. warm promotion / a fresh full clone (target <= 0.5x). Warm: the same services and mirror
   directory are reused, so a promotion fetches only what changed since the last one. The
   baseline is the full hand-written promotion with a plain `git clone URL dir` (then the same
   sed, commit and push), which is what "a fresh full clone" costs a user.
3. N (default 100) promotions started together with `asyncio.gather` on one shared set of
   services, each a different Stage editing its own `env/stage-NNN`, into the same repository
   and branch, / one promotion measured the same way (target <= 3x, all N landing). Printed
   twice: cold vs cold (a fresh mirror for the wave, compared with the median single cold
   promotion of 1.) and warm vs warm (the warm mirror of 2., compared with the median single
   warm promotion). The warm ratio is the headline: a server keeps its mirrors, so a wave of
   promotions normally meets a warm mirror; the cold one is the first wave on a fresh server
   (all N wait for the one mirror clone). For each wave the benchmark prints the commits that
   landed (new commits on the server's branch), the distinct output commits and the pushes
   made (`PushCoordinator.stats`), and checks that every Stage's kustomization on the server's
   branch has its new tag (it raises otherwise).

It also prints the git processes one warm promotion runs, per subcommand
(`kargo.git.cli.COMMAND_COUNTS`). Single-promotion figures are medians of `--runs` runs
(default 5), engine and shell alternating. All single promotions edit `env/stage-000`.

Reading it: a ratio above its target means the engine spends more than git itself needs for
that change; the wall times in milliseconds are printed next to the ratios. `--sparse` adds
`sparse` to git-clone (see above). Each single promotion is also broken down per step (median
ms of each step, and the engine's own time: the promotion's wall time minus its steps, which
includes evaluating expressions and removing the work directory at the end), measured by
wrapping each registered step's runner in a timer. With `--concurrent 10 --runs 1` it is a
quick smoke run.

What bounds figure 3: a wave costs one fetch, one or a few coalesced pushes (each chaining the
batch's commits in-process, `kargo.git.replay`, and writing them as one pack), and each
promotion's own work on the server's event loop, which runs one promotion's Python at a time:
the engine's bookkeeping (about 1.3 ms, see benchmarks/engine_overhead.py), the step's edit,
and the lazy checkout's files, state and commit objects. Work directories are deleted in the
background after the wave (`kargo.promotion.trash`), so that is not part of it. The fixed part
alone (fetch, replay, push: about 150 ms) is more than one promotion (about 100 ms, mostly the
same fetch and push), so 3x leaves about 1.5 ms per promotion for N = 100; each wave line
prints the event loop's CPU per promotion. File creation is part of that work: a promotion creates about eight inodes (its
work directory, the checkout, the checkout's `.git` state written three times, the
directories and files its step needs), and the benchmark prints what a new directory and a
new file cost on this file system at its start and at its end, since that moves the figure
more than any code: from about 10 µs on tmpfs to nearly 1 ms on a VM disk whose page cache is
being reclaimed. `TMPDIR=/dev/shm` runs the whole benchmark (server, mirrors, work
directories) on tmpfs, to tell the file system's share from the rest.

Run: .venv/bin/python -m benchmarks.promotion_git [--concurrent N] [--runs K] [--sparse]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.promotions import pending_promotion
from kargo import clock as clock_mod
from kargo.credentials.interface import Credentials, StaticCredentials
from kargo.git import cli, mirror as mirrors, push as pushes
from kargo.promotion import context, engine as engine_mod, registry as registry_mod
from kargo.promotion.steps import git as git_steps, load_builtin_steps
from tests.fixtures.git import (
    GIT_PASSWORD,
    GIT_USER,
    GitServer,
    git_env,
    start_git_server,
    stop_git_server,
)

REPO = "gitops"
BRANCH = "main"
IMAGE = "nginx"
PROJECT = "bench"
WAREHOUSE = "bench"
KUSTOMIZATION = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
# stage {stage}: the image tag is what promotions change
resources:
- ../../base
images:
- name: nginx
  newTag: 1.0.0
"""


# ---------------------------------------------------------------------------------------------
# the repository


def stage_name(index: int) -> str:
    """The Stage (and directory under env/) number `index`: `stage-007`."""
    return f"stage-{index:03d}"


def generate_repo(
    bare: Path,
    *,
    files: int = 10_000,
    commits: int = 5_000,
    stages: int = 100,
    branch: str = BRANCH,
) -> None:
    """Fill the (empty) bare repository `bare` with `commits` commits on `branch`.

    The tree holds exactly `files` files: `stages` kustomizations
    (`env/stage-NNN/kustomization.yaml`, image `nginx` at 1.0.0), the two files of the `base/`
    they refer to, and app files in directories of 100 (`apps/app-NNN/file-NNN.yaml`) for the
    rest. The first commit adds them all; each later commit changes one app file. One `git fast-import` stream
    writes it all (seconds, where committing through a work tree would take minutes), then
    `git gc` packs it as a served repository would be.
    """
    apps = files - stages - 2
    if apps < 1 or commits < 1:
        raise ValueError(f"need files > stages + 2 and commits >= 1 (got {files}, {commits})")
    chunks: list[bytes] = []

    def data(text: str) -> None:
        raw = text.encode()
        chunks.append(b"data %d\n%s\n" % (len(raw), raw))

    def modify(path: str, text: str) -> None:
        chunks.append(f"M 100644 inline {path}\n".encode())
        data(text)

    when = 1_700_000_000
    chunks.append(
        f"commit refs/heads/{branch}\ncommitter Gen <gen@example.com> {when} +0000\n".encode()
    )
    data("initial tree")
    for i in range(apps):
        modify(
            f"apps/app-{i // 100:03d}/file-{i % 100:03d}.yaml",
            f"name: app-{i}\nreplicas: 1\nimage: nginx:1.0.{i}\n",
        )
    modify("base/kustomization.yaml", "resources:\n- deployment.yaml\n")
    modify("base/deployment.yaml", "kind: Deployment\nmetadata:\n  name: app\n")
    for s in range(stages):
        modify(f"env/{stage_name(s)}/kustomization.yaml", KUSTOMIZATION.format(stage=s))
    for c in range(1, commits):
        when += 60
        i = (c * 7919) % apps
        chunks.append(
            f"commit refs/heads/{branch}\ncommitter Gen <gen@example.com> {when} +0000\n".encode()
        )
        data(f"change {c}")
        modify(
            f"apps/app-{i // 100:03d}/file-{i % 100:03d}.yaml",
            f"name: app-{i}\nreplicas: {c % 5 + 1}\nimage: nginx:1.0.{c}\n",
        )
    chunks.append(b"done\n")
    env = git_env()
    subprocess.run(
        ["git", "fast-import", "--quiet", "--done"],
        cwd=bare,
        input=b"".join(chunks),
        env=env,
        check=True,
    )
    subprocess.run(["git", "gc", "--quiet"], cwd=bare, env=env, check=True)


def git_out(bare: Path, *args: str) -> str:
    """Run git in the server's bare repository and return its stdout."""
    return subprocess.run(
        ["git", *args], cwd=bare, env=git_env(), capture_output=True, text=True, check=True
    ).stdout


def read_files(bare: Path, paths: list[str], ref: str = BRANCH) -> dict[str, str]:
    """The contents of `paths` at `ref` in one `git cat-file --batch` ("" for a missing one)."""
    wanted = "".join(f"{ref}:{path}\n" for path in paths).encode()
    out = subprocess.run(
        ["git", "cat-file", "--batch"],
        cwd=bare,
        env=git_env(),
        input=wanted,
        capture_output=True,
        check=True,
    ).stdout
    contents: dict[str, str] = {}
    pos = 0
    for path in paths:
        header_end = out.index(b"\n", pos)
        header = out[pos:header_end].split()
        pos = header_end + 1
        if header[-1] == b"missing":
            contents[path] = ""
            continue
        size = int(header[2])
        contents[path] = out[pos : pos + size].decode()
        pos += size + 1
    return contents


def verify_tags(bare: Path, tags: dict[str, str]) -> None:
    """Raise unless each Stage's kustomization on the server's branch has its expected tag."""
    paths = {stage: f"env/{stage}/kustomization.yaml" for stage in tags}
    contents = read_files(bare, list(paths.values()))
    wrong = [s for s, tag in tags.items() if f"newTag: {tag}\n" not in contents[paths[s]]]
    if wrong:
        raise RuntimeError(
            f"{len(wrong)} of {len(tags)} Stages do not have their new tag on {BRANCH}: "
            f"{', '.join(wrong[:10])}"
        )


# ---------------------------------------------------------------------------------------------
# promotions through the engine


def promotion_steps(url: str, *, sparse: bool) -> list[dict[str, Any]]:
    """The Promotion's steps, as a Stage's promotion template would give them."""
    checkout: dict[str, Any] = {"branch": BRANCH, "path": "./out"}
    if sparse:
        checkout["sparse"] = ["env/${{ ctx.stage }}"]
    return [
        {"uses": "git-clone", "config": {"repoURL": url, "checkout": [checkout]}},
        {
            "uses": "kustomize-set-image",
            "as": "update",
            "config": {"path": "./out/env/${{ ctx.stage }}"},
        },
        {
            "uses": "git-commit",
            "config": {"path": "./out", "message": "${{ outputs.update.commitMessage }}"},
        },
        {"uses": "git-push", "as": "push", "config": {"path": "./out"}},
    ]


@dataclass
class Bench:
    """The server, the repository and how promotions are built and run."""

    root: Path
    server: GitServer
    url: str
    sparse: bool
    count: int = 0
    # where the timed registry appends each step's wall time (None: not recorded)
    step_times: dict[str, list[float]] | None = None
    registry: registry_mod.StepRegistry = field(init=False)

    def __post_init__(self) -> None:
        self.registry = self.timed_registry(load_builtin_steps(registry_mod.StepRegistry()))

    def timed_registry(self, real: registry_mod.StepRegistry) -> registry_mod.StepRegistry:
        """The real steps, each runner wrapped in a timer feeding `step_times`."""
        timed = registry_mod.StepRegistry()
        for spec in real:

            async def run(
                ctx: context.StepContext, cfg: Any, spec: registry_mod.StepSpec = spec
            ) -> context.StepResult:
                start = time.perf_counter()
                try:
                    return await spec.run(ctx, cfg)
                finally:
                    if self.step_times is not None:
                        took = time.perf_counter() - start
                        self.step_times.setdefault(spec.name, []).append(took)

            timed.register(dataclasses.replace(spec, run=run))
        return timed

    @property
    def bare(self) -> Path:
        return self.server.bare_path(REPO)

    def services(self) -> engine_mod.EngineServices:
        """Fresh services (a new, empty mirror directory), wired as the controller does."""
        self.count += 1
        return engine_mod.EngineServices(
            credentials=StaticCredentials({self.url: Credentials(GIT_USER, GIT_PASSWORD)}),
            git_user=context.GitUser(),
            extra={
                git_steps.MIRRORS_SERVICE: mirrors.MirrorCache(self.root / f"mirrors-{self.count}"),
                git_steps.PUSH_SERVICE: pushes.PushCoordinator(),
            },
        )

    def engine(self, services: engine_mod.EngineServices) -> engine_mod.Engine:
        return engine_mod.Engine(
            self.registry, clock_mod.SystemClock(), services, work_root=self.root / "work"
        )

    def promotion(self, stage: str, tag: str) -> dict[str, Any]:
        """A Promotion of Freight carrying nginx:`tag` to `stage`, as the controller runs it."""
        self.count += 1
        return pending_promotion(
            project=PROJECT,
            name=f"{stage}.{self.count:05d}",
            stage=stage,
            freight=f"freight-{self.count:05d}",
            warehouse=WAREHOUSE,
            image=IMAGE,
            tag=tag,
            steps=promotion_steps(self.url, sparse=self.sparse),
        )

    async def promote(self, engine: engine_mod.Engine, stage: str, tag: str) -> str:
        """Run one Promotion to its end; return the commit its git-push output names."""

        async def persist(promo: dict[str, Any]) -> dict[str, Any]:
            return promo

        outcome = await engine.execute(self.promotion(stage, tag), persist)
        status = outcome.promotion["status"]
        if outcome.phase != "Succeeded":
            raise RuntimeError(
                f"promotion to {stage} ended {outcome.phase}: {status.get('message')}"
            )
        return str(status["state"]["push"]["commit"])

    def new_commits(self, since: str) -> int:
        return int(git_out(self.bare, "rev-list", "--count", f"{since}..{BRANCH}").strip())


# ---------------------------------------------------------------------------------------------
# the hand-written baselines

ASKPASS = """#!/bin/sh
case "$1" in
  Username*) printf '%s\\n' "$BENCH_GIT_USER" ;;
  *) printf '%s\\n' "$BENCH_GIT_PASSWORD" ;;
esac
"""

SPARSE_SCRIPT = """set -euo pipefail
git clone --quiet --depth 1 --single-branch --branch main --filter=blob:none --sparse "$URL" "$DIR"
git -C "$DIR" sparse-checkout set "env/$STAGE"
sed -i "s/newTag: .*/newTag: $TAG/" "$DIR/env/$STAGE/kustomization.yaml"
git -C "$DIR" commit --quiet -am "Updated env/$STAGE to use new image nginx:$TAG"
git -C "$DIR" push --quiet origin HEAD:main
"""

FULL_SCRIPT = """set -euo pipefail
git clone --quiet "$URL" "$DIR"
sed -i "s/newTag: .*/newTag: $TAG/" "$DIR/env/$STAGE/kustomization.yaml"
git -C "$DIR" commit --quiet -am "Updated env/$STAGE to use new image nginx:$TAG"
git -C "$DIR" push --quiet origin HEAD:main
"""


class Shell:
    """Runs the hand-written scripts with `bash -c`, each in a fresh directory."""

    def __init__(self, root: Path, url: str) -> None:
        self.root, self.url, self.count = root / "shell", url, 0
        self.root.mkdir()
        askpass = root / "askpass.sh"
        askpass.write_text(ASKPASS)
        askpass.chmod(0o700)
        self.env = git_env(
            {
                "GIT_ASKPASS": str(askpass),
                "BENCH_GIT_USER": GIT_USER,
                "BENCH_GIT_PASSWORD": GIT_PASSWORD,
            }
        )

    async def promote(self, script: str, stage: str, tag: str) -> None:
        self.count += 1
        env = dict(
            self.env, URL=self.url, DIR=str(self.root / str(self.count)), STAGE=stage, TAG=tag
        )
        proc = await asyncio.create_subprocess_exec(
            "bash",
            "-c",
            script,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"shell promotion failed ({proc.returncode}): {out.decode()}")


# ---------------------------------------------------------------------------------------------
# measuring and printing


async def timed(work: Awaitable[object]) -> float:
    """Wall time of awaiting `work` (a coroutine does nothing until awaited)."""
    start = time.perf_counter()
    await work
    return time.perf_counter() - start


def ratio_line(label: str, value: float, base: float, target: float) -> str:
    ratio = value / base
    verdict = "MET" if ratio <= target else "NOT MET"
    return (
        f"  {label:<46} {value * 1000:8.0f} ms / {base * 1000:6.0f} ms = {ratio:5.2f}x"
        f"   target <= {target}x  {verdict}"
    )


def breakdown(label: str, totals: list[float], steps: dict[str, list[float]]) -> str:
    """Median ms per step, in step order, and of the engine's own time (run by run)."""
    parts = ", ".join(f"{name} {statistics.median(t) * 1000:.0f}" for name, t in steps.items())
    own = [total - sum(t[i] for t in steps.values()) for i, total in enumerate(totals)]
    return f"     {label} per step (ms): {parts}; engine {statistics.median(own) * 1000:.0f}"


def fs_costs(root: Path, count: int = 200) -> str:
    """What creating a directory and a file costs here now (wall, µs each): a promotion makes a
    few of each, and on some disks (a VM whose page cache is reclaimed under it) a new inode
    costs a hundred times what it costs on tmpfs, which moves figure 3 more than any code."""
    probe = Path(tempfile.mkdtemp(dir=root, prefix="fs-probe-"))
    try:
        start = time.perf_counter()
        for i in range(count):
            (probe / f"d{i}").mkdir()
        made = time.perf_counter()
        for i in range(count):
            (probe / f"d{i}" / "f").write_bytes(b"x")
        written = time.perf_counter()
    finally:
        shutil.rmtree(probe, ignore_errors=True)
    return (
        f"file system under {root}: a new directory {(made - start) / count * 1e6:.0f} µs, "
        f"a new file {(written - made) / count * 1e6:.0f} µs"
    )


async def wave(
    bench: Bench, services: engine_mod.EngineServices, n: int, label: str
) -> tuple[float, str]:
    """N promotions at once on `services`; returns the wall time and a report line."""
    engine = bench.engine(services)
    coordinator: pushes.PushCoordinator = services.extra[git_steps.PUSH_SERVICE]
    pushes_before = coordinator.stats.pushes
    before = git_out(bench.bare, "rev-parse", BRANCH).strip()
    tags = {stage_name(i): f"2.{bench.count}.{i}" for i in range(n)}
    start, cpu, loop_cpu = time.perf_counter(), time.process_time(), time.thread_time()
    commits = await asyncio.gather(*(bench.promote(engine, s, t) for s, t in tags.items()))
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    loop_cpu = time.thread_time() - loop_cpu
    landed = bench.new_commits(before)
    verify_tags(bench.bare, tags)
    report = (
        f"  {label}: commits landed {landed}/{n}, distinct output commits "
        f"{len(set(commits))}, pushes made {coordinator.stats.pushes - pushes_before}; "
        f"every Stage has its new tag on {BRANCH}; CPU per promotion: "
        f"{loop_cpu * 1000 / n:.1f} ms on the event loop, {cpu * 1000 / n:.1f} ms in all"
    )
    if landed != n or len(set(commits)) != n:
        raise RuntimeError(f"not every promotion landed: {report}")
    return elapsed, report


async def main(concurrent: int, runs: int, sparse: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        server = start_git_server(root / "repos", {GIT_USER: GIT_PASSWORD})
        try:
            url = server.create_repo(REPO)
            start = time.perf_counter()
            generate_repo(server.bare_path(REPO), stages=max(100, concurrent))
            took = time.perf_counter() - start
            bare = server.bare_path(REPO)
            files = len(git_out(bare, "ls-tree", "-r", "--name-only", BRANCH).splitlines())
            commits = int(git_out(bare, "rev-list", "--count", BRANCH))
            print(
                f"generated {REPO} in {took:.1f} s: {files:,} files, {commits:,} commits, "
                f"{max(100, concurrent)} Stages; {runs} runs per single figure; git-clone "
                f"{'with sparse: [env/<stage>]' if sparse else 'without sparse (as users write it)'}"
            )
            print(fs_costs(root))
            bench = Bench(root, server, url, sparse)
            shell = Shell(root, url)
            stage = stage_name(0)

            def tag() -> str:
                return f"1.{bench.count}.{shell.count}"

            warm_services = bench.services()
            warm_engine = bench.engine(warm_services)
            await bench.promote(warm_engine, stage, tag())  # warms the shared mirror
            cold, sparse_sh, warm, full_sh = [], [], [], []
            cold_steps: dict[str, list[float]] = {}
            warm_steps: dict[str, list[float]] = {}
            ran: Counter[str] = Counter()
            for i in range(runs):
                cold_engine = bench.engine(bench.services())
                bench.step_times = cold_steps
                cold.append(await timed(bench.promote(cold_engine, stage, tag())))
                bench.step_times = None
                sparse_sh.append(await timed(shell.promote(SPARSE_SCRIPT, stage, tag())))
                before = cli.COMMAND_COUNTS.copy()
                bench.step_times = warm_steps
                warm.append(await timed(bench.promote(warm_engine, stage, tag())))
                bench.step_times = None
                if i == 0:
                    ran = cli.COMMAND_COUNTS - before
                full_sh.append(await timed(shell.promote(FULL_SCRIPT, stage, tag())))
            one_cold, one_warm = statistics.median(cold), statistics.median(warm)
            sparse_base, full_base = statistics.median(sparse_sh), statistics.median(full_sh)

            cold_many, cold_report = await wave(bench, bench.services(), concurrent, "cold")
            warm_many, warm_report = await wave(bench, warm_services, concurrent, "warm")

            print("one promotion (git-clone, kustomize-set-image, git-commit, git-push), medians:")
            print(
                ratio_line(
                    "1. engine, cold mirror / shell sparse clone", one_cold, sparse_base, 1.3
                )
            )
            print(ratio_line("2. engine, warm mirror / shell full clone", one_warm, full_base, 0.5))
            print(breakdown("cold", cold, cold_steps))
            print(breakdown("warm", warm, warm_steps))
            print(f"{concurrent} promotions into one repo and branch at once / one promotion:")
            print(
                ratio_line(
                    f"3. {concurrent} at once, warm / one warm (headline)", warm_many, one_warm, 3.0
                )
            )
            print(ratio_line(f"   {concurrent} at once, cold / one cold", cold_many, one_cold, 3.0))
            print(warm_report)
            print(cold_report)
            counts = ", ".join(f"{k} {v}" for k, v in sorted(ran.items()))
            print(f"git processes in one warm promotion: {sum(ran.values())} ({counts})")
            print(fs_costs(root))
        finally:
            stop_git_server(server)
            shutil.rmtree(root / "work", ignore_errors=True)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.promotion_git", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--concurrent", type=int, default=100, help="promotions started at once")
    parser.add_argument("--runs", type=int, default=5, help="runs per single-promotion median")
    parser.add_argument(
        "--sparse", action="store_true", help="git-clone with sparse: [env/<stage>] in the template"
    )
    return parser.parse_args()


if __name__ == "__main__":
    args = parse_args()
    os.environ.setdefault("GIT_TERMINAL_PROMPT", "0")
    asyncio.run(main(args.concurrent, args.runs, args.sparse))
