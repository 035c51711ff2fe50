"""Crash safety end to end: SIGKILL the controllers mid-promotion, restart, nothing runs twice.

A subprocess (`python -m kargo.controller`) runs a three-step promotion against a SQLite file.
Step b signals through a file and blocks; the test kills the process with SIGKILL there, lets b
go, restarts the controllers and waits for success. Marker files (outside the work dir) count
how often each step ran: a and c once, b twice (it was interrupted mid-run, so it runs again).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import Field

from kargo.promotion import context, registry as registry_mod
from kargo.promotion.steps import git as git_steps
from kargo.store import open_store
from tests.controller import objects

ROOT = Path(__file__).resolve().parents[2]


class CloneAndHoldConfig(git_steps.GitCloneConfig):
    signal_file: str = Field(alias="signalFile")
    block_file: str = Field(alias="blockFile")


async def clone_and_hold(ctx: context.StepContext, cfg: CloneAndHoldConfig) -> context.StepResult:
    """git-clone, then signal and block: killed there, the clone is done but not recorded."""
    result = await git_steps.git_clone(ctx, cfg)
    Path(cfg.signal_file).write_text(ctx.alias)
    while Path(cfg.block_file).exists():
        await asyncio.sleep(0.05)
    return result


def register(registry: registry_mod.StepRegistry) -> None:
    """`--steps tests.controller.test_crash_resume` adds `git-clone-and-hold`."""
    registry.step(
        "git-clone-and-hold",
        CloneAndHoldConfig,
        capabilities={registry_mod.Capability.ACCESS_CREDENTIALS},
    )(clone_and_hold)


def start_controllers(db: Path, work: Path, log: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    with log.open("ab") as out:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kargo.controller",
                "--store",
                f"sqlite:///{db}",
                "--work-root",
                str(work),
                "--steps",
                "tests.controller.teststeps",
                "--steps",
                "tests.controller.test_crash_resume",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def wait_until(predicate, what: str, proc: subprocess.Popen[bytes], log: Path, within=60.0):
    async def poll():
        while not await predicate():
            if proc.poll() is not None:
                raise AssertionError(f"controllers exited ({proc.returncode}):\n{log.read_text()}")
            await asyncio.sleep(0.05)

    try:
        await asyncio.wait_for(poll(), within)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}:\n{log.read_text()}") from None


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


async def start_then_kill_at(
    signal_file: Path, what: str, db: Path, work: Path, log: Path
) -> subprocess.Popen[bytes]:
    """Start the controllers, wait until a step writes `signal_file`, SIGKILL them there."""
    proc = start_controllers(db, work, log)

    async def signalled():
        return signal_file.exists()

    try:
        await wait_until(signalled, what, proc, log)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    return proc


async def restart_until_succeeded(
    store, name: str, db: Path, work: Path, log: Path
) -> subprocess.Popen[bytes]:
    """Start the controllers again and wait for Promotion `name` to succeed."""
    proc = start_controllers(db, work, log)

    async def succeeded():
        obj = await store.get("Promotion", "demo", name)
        return (obj.get("status") or {}).get("phase") == "Succeeded"

    try:
        await wait_until(succeeded, "the promotion to succeed", proc, log)
    except BaseException:
        stop(proc)
        raise
    return proc


def runs(markers: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for marker in markers.glob("*.*"):
        alias = marker.name.rsplit(".", 1)[0]
        counts[alias] = counts.get(alias, 0) + 1
    return counts


@pytest.mark.slow
async def test_a_killed_controller_resumes_the_promotion_without_rerunning_finished_steps(
    tmp_path,
):
    db = tmp_path / "kargo.db"
    work = tmp_path / "work"
    markers = tmp_path / "markers"
    block = tmp_path / "block"
    signal_file = tmp_path / "b-started"
    log = tmp_path / "controllers.log"
    block.write_text("hold")
    store = await open_store(f"sqlite:///{db}")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        await store.create(objects.stage())
        await store.create(objects.freight("f1"))
        await store.create(
            objects.promotion(
                "test.01a.f1",
                [
                    {"uses": "record", "as": "a", "config": {"markers": str(markers)}},
                    {
                        "uses": "record",
                        "as": "b",
                        "config": {
                            "markers": str(markers),
                            "signalFile": str(signal_file),
                            "blockFile": str(block),
                        },
                    },
                    {"uses": "record", "as": "c", "config": {"markers": str(markers)}},
                ],
            )
        )
        await start_then_kill_at(signal_file, "step b to start", db, work, log)
        assert runs(markers) == {"a": 1, "b": 1}
        promo = await store.get("Promotion", "demo", "test.01a.f1")
        assert promo["status"]["phase"] == "Running"
        assert promo["status"]["currentStep"] == 1
        work_dirs = list(work.glob("*/*"))
        assert len(work_dirs) == 1  # kept for the resumed run

        block.unlink()
        procs.append(await restart_until_succeeded(store, "test.01a.f1", db, work, log))
        assert runs(markers) == {"a": 1, "b": 2, "c": 1}
        promo = await store.get("Promotion", "demo", "test.01a.f1")
        assert [m["status"] for m in promo["status"]["stepExecutionMetadata"]] == ["Succeeded"] * 3
        # the same work dir was reused by the resumed step, then removed at the end
        assert {(markers / "b.1").read_text()} == {(markers / "b.2").read_text()}
        assert not work_dirs[0].exists()
    finally:
        for proc in procs:
            stop(proc)
        await store.close()


@pytest.mark.slow
async def test_a_commit_made_before_a_kill_is_pushed_after_the_restart(tmp_path, git_open_server):
    """A lazy checkout's commit lives in memory and in the checkout's state until the push's git
    process writes it into the mirror; killed in between, the restarted controllers still push
    exactly that commit."""
    url = git_open_server.create_repo("gitops")
    git_open_server.writer("gitops").commit({"env/test/app.yaml": "tag: old\n"}, "initial")
    db, work, log = tmp_path / "kargo.db", tmp_path / "work", tmp_path / "controllers.log"
    block, signal_file = tmp_path / "block", tmp_path / "hold-started"
    block.write_text("hold")
    store = await open_store(f"sqlite:///{db}")
    procs: list[subprocess.Popen[bytes]] = []
    steps = [
        {"uses": "git-clone", "config": {"repoURL": url, "checkout": [{"path": "./out"}]}},
        {
            "uses": "yaml-update",
            "config": {
                "path": "./out/env/test/app.yaml",
                "updates": [{"key": "tag", "value": "new"}],
            },
        },
        {"uses": "git-commit", "as": "commit", "config": {"path": "./out", "message": "bump"}},
        {
            "uses": "record-no-paths",
            "as": "hold",
            "config": {"signalFile": str(signal_file), "blockFile": str(block)},
        },
        {"uses": "git-push", "as": "push", "config": {"path": "./out"}},
    ]
    try:
        await store.create(objects.stage())
        await store.create(objects.freight("f1"))
        await store.create(objects.promotion("test.01a.f1", steps))
        await start_then_kill_at(signal_file, "the step after git-commit", db, work, log)
        promo = await store.get("Promotion", "demo", "test.01a.f1")
        committed = promo["status"]["state"]["commit"]["commit"]
        (checkout,) = work.glob("*/*/out")
        assert committed in (checkout / ".git").read_text()  # kept in the checkout's state...
        assert git_open_server.branch_head("gitops") != committed  # ...and nowhere else yet

        block.unlink()
        procs.append(await restart_until_succeeded(store, "test.01a.f1", db, work, log))
        promo = await store.get("Promotion", "demo", "test.01a.f1")
        assert promo["status"]["state"]["push"]["commit"] == committed
        assert git_open_server.branch_head("gitops") == committed
        bare = git_open_server.bare_path("gitops")
        shown = subprocess.run(
            ["git", "show", f"{committed}:env/test/app.yaml"],
            cwd=bare,
            capture_output=True,
            text=True,
            check=True,
        )
        assert shown.stdout == "tag: new\n"
    finally:
        for proc in procs:
            stop(proc)
        await store.close()


@pytest.mark.slow
async def test_a_git_clone_killed_after_its_checkout_is_made_runs_again_and_finishes(
    tmp_path, git_open_server
):
    """Killed after git-clone made its checkout but before the step was recorded, the step
    runs again in the same work dir: it replaces its own checkout and the promotion ends."""
    url = git_open_server.create_repo("gitops")
    git_open_server.writer("gitops").commit({"env/test/app.yaml": "tag: old\n"}, "initial")
    db, work, log = tmp_path / "kargo.db", tmp_path / "work", tmp_path / "controllers.log"
    block, signal_file = tmp_path / "block", tmp_path / "cloned"
    block.write_text("hold")
    store = await open_store(f"sqlite:///{db}")
    procs: list[subprocess.Popen[bytes]] = []
    steps = [
        {
            "uses": "git-clone-and-hold",
            "as": "clone",
            "config": {
                "repoURL": url,
                "checkout": [{"branch": "main", "path": "./out"}],
                "signalFile": str(signal_file),
                "blockFile": str(block),
            },
        },
        {
            "uses": "yaml-update",
            "config": {
                "path": "./out/env/test/app.yaml",
                "updates": [{"key": "tag", "value": "new"}],
            },
        },
        {"uses": "git-commit", "config": {"path": "./out", "message": "bump"}},
        {"uses": "git-push", "as": "push", "config": {"path": "./out"}},
    ]
    try:
        await store.create(objects.stage())
        await store.create(objects.freight("f1"))
        await store.create(objects.promotion("test.01a.f1", steps))
        await start_then_kill_at(signal_file, "git-clone to finish its checkout", db, work, log)
        promo = await store.get("Promotion", "demo", "test.01a.f1")
        assert promo["status"]["phase"] == "Running"
        assert promo["status"].get("currentStep", 0) == 0  # the clone was never recorded
        (checkout,) = work.glob("*/*/out")
        assert (checkout / ".git").exists()

        block.unlink()
        procs.append(await restart_until_succeeded(store, "test.01a.f1", db, work, log))
        promo = await store.get("Promotion", "demo", "test.01a.f1")
        pushed = promo["status"]["state"]["push"]["commit"]
        assert git_open_server.branch_head("gitops") == pushed
        assert git_open_server.log("gitops") == ["bump", "initial"]
    finally:
        for proc in procs:
            stop(proc)
        await store.close()
