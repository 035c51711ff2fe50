"""Coalesced pushes replay commits in-process when their paths are untouched, keeping what a
rebase keeps and giving the tree `git cherry-pick` gives, and rebase the way they always did
when a path also moved."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kargo.git import cli, mirror as mirrors, objects, push as pushes, replay
from kargo.promotion.context import GitUser, StepContext
from kargo.promotion.steps import git as steps
from tests.fixtures.git import run
from tests.git.contexts import step_context

ODD = 'dir with space/"quoted"\tname.yaml'


async def clone(tmp_path: Path, repo: str, services: dict[str, Any], name: str) -> StepContext:
    work = tmp_path / "work" / name
    work.mkdir(parents=True)
    user = GitUser(name="Pusher", email="pusher@example.com")
    ctx = step_context(work, repo, name, services, user)
    config = {"repoURL": repo, "checkout": [{"path": "out"}]}
    await steps.git_clone(ctx, steps.GitCloneConfig.model_validate(config))
    return ctx


async def commit(ctx: StepContext, message: str, author: dict[str, str]) -> str:
    config = steps.GitCommitConfig.model_validate(
        {"path": "out", "message": message, "author": author}
    )
    return str((await steps.git_commit(ctx, config)).output["commit"])


def services(tmp_path: Path) -> dict[str, Any]:
    return {
        steps.MIRRORS_SERVICE: mirrors.MirrorCache(tmp_path / "mirrors"),
        steps.PUSH_SERVICE: pushes.PushCoordinator(),
    }


async def test_a_replayed_commit_keeps_author_date_message_and_every_kind_of_change(
    tmp_path, git_server
):
    repo = git_server.create_repo("gitops")
    git_server.writer("gitops").commit({"a.yaml": "a: 0\n", "old.yaml": "x\n"}, "initial")
    shared = services(tmp_path)
    first, second = (
        await clone(tmp_path, repo, shared, "one"),
        await clone(tmp_path, repo, shared, "two"),
    )
    (first.work_dir / "out" / "a.yaml").write_text("a: 1\n")
    await commit(first, "first", {"name": "Ann", "email": "ann@example.com"})
    (second.work_dir / "out" / "dir with space").mkdir()
    (second.work_dir / "out" / ODD).write_text("odd: true\n")
    (second.work_dir / "out" / "old.yaml").unlink()
    original = await commit(second, "second\n\nwith a body", {"name": "Bo", "email": "bo@x.org"})
    await steps.git_push(first, steps.GitPushConfig(path="out"))

    before = cli.COMMAND_COUNTS.copy()
    pushed = (await steps.git_push(second, steps.GitPushConfig(path="out"))).output["commit"]
    ran = cli.COMMAND_COUNTS - before

    assert ran["rebase"] == 0  # replayed, not rebased...
    assert set(ran) == {"push", "update-ref"}  # ...and without any git process but the push
    assert pushed != original
    assert pushed == git_server.branch_head("gitops")
    bare = git_server.bare_path("gitops")
    fmt = "%an|%ae|%ad|%cn|%ce|%B"
    was = run(
        ["log", "-1", "--date=raw", f"--format={fmt}", original], tmp_path / "work" / "two" / "out"
    )
    now = run(["log", "-1", "--date=raw", f"--format={fmt}", pushed], bare)
    assert now.split("|")[:3] == was.split("|")[:3] == ["Bo", "bo@x.org", was.split("|")[2]]
    assert now.split("|")[3:5] == ["Pusher", "pusher@example.com"]
    assert now.split("|", 5)[5] == "second\n\nwith a body"
    assert git_server.log("gitops") == ["second", "first", "initial"]
    files = run(["ls-tree", "-r", "-z", "--name-only", "main"], bare).split("\0")
    assert sorted(f for f in files if f) == ["a.yaml", ODD]
    assert run(["show", "main:a.yaml"], bare) == "a: 1"


async def test_a_commit_whose_file_also_moved_upstream_is_rebased(tmp_path, git_server):
    repo = git_server.create_repo("gitops")
    writer = git_server.writer("gitops")
    writer.commit({"shared.yaml": "one: 1\ntwo: 2\nthree: 3\nfour: 4\n"}, "initial")
    shared = services(tmp_path)
    ctx = await clone(tmp_path, repo, shared, "one")
    writer.commit({"shared.yaml": "one: 10\ntwo: 2\nthree: 3\nfour: 4\n"}, "upstream")
    (ctx.work_dir / "out" / "shared.yaml").write_text("one: 1\ntwo: 2\nthree: 3\nfour: 40\n")
    await commit(ctx, "mine", {"name": "Ann", "email": "ann@example.com"})

    before = cli.COMMAND_COUNTS.copy()
    await steps.git_push(ctx, steps.GitPushConfig(path="out"))
    ran = cli.COMMAND_COUNTS - before

    assert ran["rebase"] == 1
    assert ran["fast-import"] == 0
    bare = git_server.bare_path("gitops")
    assert run(["show", "main:shared.yaml"], bare) == "one: 10\ntwo: 2\nthree: 3\nfour: 40"
    assert git_server.log("gitops") == ["mine", "upstream", "initial"]


def test_colliding_paths_include_files_under_and_above_a_changed_path():
    changed = replay.PathSet()
    changed.add(["a/b/c.yaml"])
    assert changed.collides(["a/b/c.yaml"])
    assert changed.collides(["a/b"])  # a file where a changed path's directory is
    assert changed.collides(["a/b/c.yaml/d"])  # a file under a changed file
    assert not changed.collides(["a/b/d.yaml", "a/bc", "b"])


def _edit(root: Path) -> None:
    (root / "a.yaml").write_text("a: 1\n")


def _add_in_new_directory(root: Path) -> None:
    (root / "new" / "deep").mkdir(parents=True)
    (root / "new" / "deep" / "n.yaml").write_text("n: 1\n")


def _delete_last_file_of_directory(root: Path) -> None:
    (root / "solo" / "only.yaml").unlink()


def _file_becomes_directory(root: Path) -> None:
    (root / "f").unlink()
    (root / "f").mkdir()
    (root / "f" / "inner.yaml").write_text("i: 1\n")


def _directory_becomes_file(root: Path) -> None:
    for name in os.listdir(root / "d"):
        (root / "d" / name).unlink()
    (root / "d").rmdir()
    (root / "d").write_text("now a file\n")


def _symlink_and_mode(root: Path) -> None:
    (root / "a.yaml").unlink()
    os.symlink("solo/only.yaml", root / "a.yaml")
    (root / "run.sh").chmod(0o755)


@pytest.mark.parametrize(
    "change",
    [
        _edit,
        _add_in_new_directory,
        _delete_last_file_of_directory,
        _file_becomes_directory,
        _directory_becomes_file,
        _symlink_and_mode,
    ],
)
def test_a_replay_gives_the_tree_cherry_pick_gives(tmp_path: Path, change: Callable[[Path], None]):
    repo = tmp_path / "repo"
    repo.mkdir()
    run(["init", "-q", "-b", "main"], repo)
    files = {
        "a.yaml": "a: 0\n",
        "solo/only.yaml": "o: 1\n",
        "f": "a file\n",
        "d/x.yaml": "x: 1\n",
        "d/y.yaml": "y: 1\n",
        "run.sh": "#!/bin/sh\n",
        "up.txt": "0\n",
    }
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    run(["add", "-A"], repo)
    run(["commit", "-qm", "base"], repo)
    base = run(["rev-parse", "HEAD"], repo)
    (repo / "up.txt").write_text("1\n")
    run(["commit", "-qam", "upstream"], repo)
    upstream = run(["rev-parse", "HEAD"], repo)
    run(["checkout", "-q", "--detach", base], repo)
    change(repo)
    run(["add", "-A"], repo)
    run(["commit", "-qm", "the change\n\nwith a body"], repo)
    mine = run(["rev-parse", "HEAD"], repo)

    info = replay.describe(repo, [mine])[mine]
    (replayed,) = replay.replay(repo, upstream, [replay.Replay(info, "Pusher", "p@example.com")])
    objects.flush_all()  # git reads only what is on disk

    run(["checkout", "-q", "--detach", upstream], repo)
    run(["cherry-pick", mine], repo)
    assert run(["rev-parse", f"{replayed}^{{tree}}"], repo) == run(
        ["rev-parse", "HEAD^{tree}"], repo
    )
    assert run(["rev-parse", f"{replayed}^"], repo) == upstream
    assert run(["log", "-1", "--format=%B", replayed], repo) == "the change\n\nwith a body"
    assert run(["fsck", "--no-dangling"], repo) == ""
