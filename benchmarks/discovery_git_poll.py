"""Git commands (and time) per Warehouse poll: first poll vs a poll where nothing changed.

Starts the test suite's smart-HTTP git server (Basic auth), makes a repo with 200 commits and
50 tags, then polls a NewestFromBranch and a SemVer subscription. Target: an unchanged poll
runs exactly one `git ls-remote`. Ratios are against the first poll, measured in the same run.

Run: .venv/bin/python -m benchmarks.discovery_git_poll
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from kargo.credentials.interface import Credentials
from kargo.discovery import git as discovery
from kargo.git import cli, mirror as mirrors
from tests.fixtures.git import GIT_PASSWORD, GIT_USER, start_git_server, stop_git_server


async def poll(sub, cache, creds, previous):
    before = cli.COMMAND_COUNTS.copy()
    start = time.perf_counter()
    commits, observed = await discovery.discover_commits(sub, cache, creds, previous)
    elapsed = time.perf_counter() - start
    ran = cli.COMMAND_COUNTS - before
    return {"commits": commits, "observedRefs": observed}, elapsed, ran


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = start_git_server(Path(tmp) / "repos", {GIT_USER: GIT_PASSWORD})
        try:
            url = server.create_repo("bench")
            writer = server.writer("bench")
            for i in range(200):
                writer.commit({f"f{i % 20}.txt": str(i)}, f"commit {i}", push=False)
                if i % 4 == 0:
                    writer.tag(f"v1.{i // 4}.0", push=False)
            writer.commit({"last": "1"}, "last")
            cli_run = await cli.run_git(
                ["push", "--quiet", "--tags", "origin"], cwd=writer.work, check=False
            )
            assert cli_run.ok, cli_run.stderr
            creds = Credentials(GIT_USER, GIT_PASSWORD)
            cache = mirrors.MirrorCache(Path(tmp) / "mirrors")
            for name, sub in (
                ("NewestFromBranch", {"git": {"repoURL": url}}),
                ("SemVer", {"git": {"repoURL": url, "commitSelectionStrategy": "SemVer"}}),
            ):
                previous, first_t, first_ran = await poll(sub, cache, creds, None)
                times, ran = [], None
                for _ in range(10):
                    _, t, ran = await poll(sub, cache, creds, previous)
                    times.append(t)
                unchanged_t = sorted(times)[len(times) // 2]
                print(f"{name}:")
                print(
                    f"  first poll    : {sum(first_ran.values())} git commands {dict(first_ran)}  {first_t * 1000:.1f} ms"
                )
                print(
                    f"  unchanged poll: {sum(ran.values())} git commands {dict(ran)}  {unchanged_t * 1000:.1f} ms (median of 10)"
                )
                print(
                    f"  commands ratio: {sum(ran.values()) / sum(first_ran.values()):.2f}  time ratio: {unchanged_t / first_t:.2f}"
                )
                assert sum(ran.values()) == 1, "unchanged poll must be one ls-remote"
        finally:
            stop_git_server(server)


if __name__ == "__main__":
    asyncio.run(main())
