"""`kargo quickstart` end to end: the real command as a subprocess, then the commands it prints.

The quickstart runs in a temp dir on a free port; the test waits for its "promote to prod"
instruction, runs the printed `kargo login` and `kargo promote` with the real CLI (private
HOME), and reads the prod branch of the quickstart's bare GitOps repository. Then it publishes
a new version (`kargo quickstart release`) and sees it reach uat but not prod. A second run in
the same directory reuses everything. With `docker-registry` the versions are images in a local
registry; with `--no-registry` they are git tags only.
"""

from __future__ import annotations

import queue
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests import conftest
from tests.fixtures.server import Cli, free_port, kargo_command

DEADLINE = 90.0


@dataclass
class Quickstart:
    """A running `kargo quickstart` and everything it printed."""

    proc: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    _queue: queue.Queue[str | None] = field(default_factory=queue.Queue)

    def start_reader(self) -> None:
        def read() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                self._queue.put(line.rstrip("\n"))
            self._queue.put(None)

        threading.Thread(target=read, daemon=True).start()

    def wait_for(self, needle: str, deadline: float = DEADLINE) -> str:
        """The first (new) line containing `needle`; raises with the output when none comes."""
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            try:
                line = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            if line is None:
                break
            self.lines.append(line)
            if needle in line:
                return line
        raise AssertionError(f"no line with {needle!r}; the quickstart printed:\n" + self.output)

    def line_after(self, needle: str) -> str:
        """The line printed right after the (already read) line containing `needle`."""
        self.wait_for(needle)
        return self.wait_for("")

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return int(self.proc.returncode)


def start_quickstart(cli: Cli, directory: Path, port: int, *extra: str) -> Quickstart:
    proc = subprocess.Popen(
        [*kargo_command(), "quickstart", "--dir", str(directory), "--port", str(port), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=cli.env(),
    )
    run = Quickstart(proc)
    run.start_reader()
    return run


@pytest.fixture
def quickstart_runs(tmp_path: Path) -> Iterator[list[Quickstart]]:
    runs: list[Quickstart] = []
    yield runs
    for run in runs:
        run.stop()


def git_show(bare: Path, rev: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(bare), "show", rev], capture_output=True, text=True, check=True
    ).stdout


def branches(bare: Path) -> list[str]:
    out = subprocess.run(
        ["git", "--git-dir", str(bare), "for-each-ref", "--format=%(refname:short)", "refs/heads"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.split()


def run_printed(cli: Cli, line: str) -> subprocess.CompletedProcess[str]:
    """Run a `kargo ...` command line the quickstart printed (with its `< file` redirect)."""
    words = shlex.split(line.strip())
    assert Path(words[0]).name == "kargo", line
    stdin = None
    if "<" in words:
        at = words.index("<")
        stdin = Path(words[at + 1]).read_text()
        words = words[:at] + words[at + 2 :]
    return cli.run(*words[1:], stdin=stdin)


def promote_to_prod_and_release(
    cli: Cli, run: Quickstart, directory: Path, expected_tag_line: str
) -> None:
    login_line = run.line_after("Log in")
    promote_line = run.line_after("To promote to prod")
    assert "--stage prod" in promote_line
    gitops = directory / "repos" / "gitops.git"
    assert "stage/prod" not in branches(gitops)  # prod is promoted by hand only
    assert run_printed(cli, login_line).returncode == 0
    promoted = run_printed(cli, promote_line + " --wait")
    assert promoted.returncode == 0, promoted.stderr
    assert expected_tag_line.format(version="1.0.0") in git_show(
        gitops, "stage/prod:stages/prod/kustomization.yaml"
    )

    released = cli.run("quickstart", "release", "--dir", str(directory))
    assert released.returncode == 0, released.stdout + released.stderr
    run.wait_for("uat now runs")
    line = expected_tag_line.format(version="1.0.1")
    assert line in git_show(gitops, "stage/test:stages/test/kustomization.yaml")
    assert line in git_show(gitops, "stage/uat:stages/uat/kustomization.yaml")
    prod = git_show(gitops, "stage/prod:stages/prod/kustomization.yaml")
    assert expected_tag_line.format(version="1.0.0") in prod
    assert line not in prod


def test_quickstart_with_a_registry_promotes_images_through_the_stages(
    tmp_path: Path, kargo_cli: Cli, quickstart_runs: list[Quickstart]
) -> None:
    conftest.require_binary("docker-registry")
    directory = tmp_path / "qs"
    run = start_quickstart(kargo_cli, directory, free_port())
    quickstart_runs.append(run)
    run.wait_for("Freight reached uat")
    assert "(image)" in run.output
    promote_to_prod_and_release(kargo_cli, run, directory, "newTag: {version}")


def test_quickstart_without_a_registry_promotes_git_tags_and_is_reused_when_rerun(
    tmp_path: Path, kargo_cli: Cli, quickstart_runs: list[Quickstart]
) -> None:
    directory = tmp_path / "qs"
    port = free_port()
    run = start_quickstart(kargo_cli, directory, port, "--no-registry")
    quickstart_runs.append(run)
    run.wait_for("Freight reached uat")
    assert "(image)" not in run.output
    promote_to_prod_and_release(kargo_cli, run, directory, "newTag: {version}")
    assert run.stop() == 0
    password = (directory / "admin-password").read_text()
    assert password.strip() in run.output  # generated: shown once

    again = start_quickstart(kargo_cli, directory, port, "--no-registry")
    quickstart_runs.append(again)
    again.wait_for("Freight reached uat")
    assert "created the" not in again.output  # the repositories were reused
    assert (directory / "admin-password").read_text() == password
    assert password.strip() not in again.output
    freight = kargo_cli.run("get", "freight", "--project", "kargo-demo", "-o", "name")
    assert freight.returncode == 0, freight.stderr
    assert len(freight.stdout.split()) == 2  # 1.0.0 and 1.0.1, nothing new
