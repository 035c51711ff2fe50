"""A lazy checkout git has not been handed is a directory and one state file: it makes nothing
in the mirror, its commits' objects stay in memory (and in its state) until a git process
needs them, and a restart between commit and push loses nothing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from kargo.git import cli, objects, push as pushes, worktree as worktrees
from tests.fixtures.git import git_env, run
from tests.git.test_lazy_commit import Checkouts, commit, push, seed


def on_disk(mirror: Path, sha: str) -> bool:
    """Whether git (not this process) can read `sha` in the mirror."""
    return (
        subprocess.run(
            ["git", "cat-file", "-e", sha], cwd=mirror, env=git_env(), check=False
        ).returncode
        == 0
    )


def registered(mirror: Path) -> list[str]:
    worktrees_dir = mirror / "worktrees"
    return sorted(p.name for p in worktrees_dir.iterdir()) if worktrees_dir.is_dir() else []


def forget_this_process() -> None:
    """What a restart forgets: objects held in memory, open repositories, cached metadata."""
    objects._pending.clear()
    objects._open.clear()
    worktrees._dotgits.clear()
    worktrees._checkouts.clear()


async def edited_and_committed(tmp_path: Path, git_server: Any) -> tuple[Checkouts, Path, str]:
    checkouts = Checkouts(tmp_path, seed(git_server))
    out = await checkouts.make("lazy", lazy_checkout=True)
    await checkouts.materialize(out, "env/a")
    (out / "env/a/k.yaml").write_text("a: 2\n")
    sha, changed = await commit(out)
    assert changed
    return checkouts, out, sha


async def test_a_lazy_checkout_makes_nothing_in_the_mirror_and_keeps_its_commit_in_memory(
    tmp_path, git_server
):
    checkouts, out, sha = await edited_and_committed(tmp_path, git_server)
    mirror = Path(worktrees.read_checkout(out).mirror_path)

    assert registered(mirror) == []
    state = json.loads((out / ".git").read_text())
    assert state["head"] == sha
    assert state["checkout"]["cone"] == ["env/a"]
    # the commit, its root tree, env/ and env/a/ trees and the new blob
    assert {kind for _, kind, _ in state["objects"]} == {"commit", "tree", "blob"}
    assert len(state["objects"]) == 5
    assert objects.pending_count(mirror) == 5
    assert not on_disk(mirror, sha)
    assert await worktrees.head(out) == sha


async def test_git_working_in_a_lazy_checkout_registers_it_with_its_commit(tmp_path, git_server):
    checkouts, out, sha = await edited_and_committed(tmp_path, git_server)
    mirror = Path(worktrees.read_checkout(out).mirror_path)

    shown = await worktrees.run(out, ["log", "-1", "--format=%H %s"])

    assert shown.stdout.strip() == f"{sha} edit"
    assert len(registered(mirror)) == 1
    assert (out / ".git").read_text().startswith("gitdir: ")
    assert objects.pending_count(mirror) == 0
    assert on_disk(mirror, sha)
    assert worktrees.read_checkout(out).cone == ["env/a"]  # the metadata moved along
    assert await worktrees.head(out) == sha


async def test_a_restart_between_commit_and_push_loses_nothing(tmp_path, git_server):
    checkouts, out, sha = await edited_and_committed(tmp_path, git_server)
    mirror = Path(worktrees.read_checkout(out).mirror_path)
    forget_this_process()
    assert not on_disk(mirror, sha)

    pushed = await push(checkouts, out, pushes.IntegrationPolicy.REBASE_OR_MERGE)

    assert pushed == sha == git_server.branch_head("gitops")
    assert run(["show", f"{sha}:env/a/k.yaml"], mirror) == "a: 2"


@pytest.mark.parametrize(("count", "packs"), [(1, 0), (3, 1)])
async def test_pending_objects_reach_the_disk_loose_or_as_one_pack(
    tmp_path, git_server, count, packs
):
    checkouts = Checkouts(tmp_path, seed(git_server))
    outs = [await checkouts.make(f"p{index}", lazy_checkout=True) for index in range(count)]
    shas = []
    for index, out in enumerate(outs):  # no git process runs from here on
        await checkouts.materialize(out, "env/a")
        (out / "env/a/k.yaml").write_text(f"a: {index + 10}\n")
        shas.append((await commit(out))[0])
    mirror = Path(worktrees.read_checkout(out).mirror_path)
    before = set((mirror / "objects" / "pack").glob("*.pack"))
    assert objects.pending_count(mirror) == 5 * count

    objects.flush_all()

    assert objects.pending_count(mirror) == 0
    assert len(set((mirror / "objects" / "pack").glob("*.pack")) - before) == packs
    assert all(on_disk(mirror, sha) for sha in shas)
    repo = objects.repository(mirror)  # and this process still reads them, from the disk now
    assert all(objects.root_tree(repo, sha)["env/a/k.yaml"].id for sha in shas)
    assert run(["fsck", "--no-dangling"], mirror) == ""


async def test_objects_of_a_mirror_that_is_gone_never_stop_git_elsewhere(tmp_path, git_server):
    checkouts, out, sha = await edited_and_committed(tmp_path, git_server)
    mirror = Path(worktrees.read_checkout(out).mirror_path)
    shutil.rmtree(mirror)  # as a preview's throwaway copy of a mirror is removed

    ran = await cli.run_git(["--version"], cwd=tmp_path)

    assert ran.stdout.startswith("git version")
    assert objects.pending_count(mirror) == 0


def test_half_made_registrations_are_pruned_once_old(tmp_path):
    staging = tmp_path / worktrees.STAGING
    (staging / "old-abc").mkdir(parents=True)
    (staging / "old-abc" / "HEAD").write_text("x\n")
    (staging / "new-def").mkdir()
    os.utime(staging / "old-abc", (time.time() - 7200, time.time() - 7200))

    worktrees.prune_staging(tmp_path)

    assert sorted(p.name for p in staging.iterdir()) == ["new-def"]
