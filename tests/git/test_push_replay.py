"""Coalesced pushes replay commits in-process when their paths are untouched, keeping what a
rebase keeps, and rebase the way they always did when a path also moved."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kargo.git import (
    cli,
    lazy,
    mirror as mirrors,
    push as pushes,
    replay,
    worktree as worktrees,
)
from kargo.promotion.context import GitUser, StepContext
from kargo.promotion.steps import git as steps
from tests.fixtures.git import run
from tests.git.contexts import step_context

ODD = 'dir with space/"quoted"\tname.yaml'


async def clone(
    tmp_path: Path, repo: str, services: dict[str, Any], name: str, *, lazy: bool = False
) -> StepContext:
    work = tmp_path / "work" / name
    work.mkdir(parents=True)
    user = GitUser(name="Pusher", email="pusher@example.com")
    ctx = step_context(work, repo, name, services, user, lazy_checkouts=lazy)
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


async def two_clones(
    tmp_path: Path, git_server: Any, files: dict[str, str], *, lazy: bool = False
) -> tuple[StepContext, StepContext]:
    """Two checkouts of a new repository holding `files`, sharing mirrors and pushes."""
    repo = git_server.create_repo("gitops")
    git_server.writer("gitops").commit(files, "initial")
    shared = services(tmp_path)
    return (
        await clone(tmp_path, repo, shared, "one", lazy=lazy),
        await clone(tmp_path, repo, shared, "two", lazy=lazy),
    )


async def test_a_replayed_commit_keeps_author_date_message_and_every_kind_of_change(
    tmp_path, git_server
):
    files = {"a.yaml": "a: 0\n", "old.yaml": "x\n"}
    first, second = await two_clones(tmp_path, git_server, files, lazy=True)
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

    assert set(ran) == {"push", "update-ref"}  # replayed in-process: no rebase, no other git
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


async def test_a_lone_commit_on_the_branch_tip_is_pushed_without_reading_it(tmp_path, git_server):
    repo = git_server.create_repo("gitops")
    git_server.writer("gitops").commit({"a.yaml": "a: 0\n"}, "initial")
    ctx = await clone(tmp_path, repo, services(tmp_path), "one")
    (ctx.work_dir / "out" / "a.yaml").write_text("a: 1\n")
    committed = await commit(ctx, "mine", {"name": "Ann", "email": "ann@example.com"})

    before = cli.COMMAND_COUNTS.copy()
    pushed = (await steps.git_push(ctx, steps.GitPushConfig(path="out"))).output["commit"]
    ran = cli.COMMAND_COUNTS - before

    assert pushed == committed == git_server.branch_head("gitops")
    assert set(ran) == {"push", "update-ref"}  # no `git log`: nothing to replay


async def replayed_second(tmp_path: Path, git_server: Any, lazy: bool) -> tuple[StepContext, str]:
    """Two checkouts committing to different files; the first pushes, then the second, whose
    commit is replayed. Returns the second checkout and what it landed as."""
    files = {"a.yaml": "a: 0\n", "b.yaml": "b: 0\n"}
    first, second = await two_clones(tmp_path, git_server, files, lazy=lazy)
    (first.work_dir / "out" / "a.yaml").write_text("a: 1\n")
    await commit(first, "a to 1", {"name": "Ann", "email": "ann@example.com"})
    (second.work_dir / "out" / "b.yaml").write_text("b: 1\n")
    await commit(second, "b to 1", {"name": "Bo", "email": "bo@x.org"})
    await steps.git_push(first, steps.GitPushConfig(path="out"))
    return second, (await steps.git_push(second, steps.GitPushConfig(path="out"))).output["commit"]


@pytest.mark.parametrize("lazy", [True, False], ids=["lazy", "full"])
async def test_a_replayed_checkout_follows_what_landed_and_pushes_again_without_a_rebase(
    tmp_path, git_server, lazy
):
    second, landed = await replayed_second(tmp_path, git_server, lazy)
    out = second.work_dir / "out"
    assert landed == git_server.branch_head("gitops")
    assert await worktrees.head(out) == landed  # as Kargo's pull-rebase leaves it
    assert (out / "a.yaml").read_text() == "a: 1\n"  # the other promotion's change is here
    if not lazy:
        assert run(["status", "--porcelain"], out) == ""  # index and files match the new HEAD

    (out / "b.yaml").write_text("b: 2\n")
    await commit(second, "b to 2", {"name": "Bo", "email": "bo@x.org"})
    before = cli.COMMAND_COUNTS.copy()
    pushed = (await steps.git_push(second, steps.GitPushConfig(path="out"))).output["commit"]
    ran = cli.COMMAND_COUNTS - before

    assert set(ran) == {"push", "update-ref"}  # on the branch as it is: no rebase, no replay
    assert pushed == git_server.branch_head("gitops")
    assert git_server.log("gitops") == ["b to 2", "b to 1", "a to 1", "initial"]
    bare = git_server.bare_path("gitops")
    assert run(["show", "main:a.yaml"], bare) == "a: 1"
    assert run(["show", "main:b.yaml"], bare) == "b: 2"


async def test_a_tag_after_a_replayed_push_names_the_commit_on_the_branch(tmp_path, git_server):
    second, landed = await replayed_second(tmp_path, git_server, lazy=True)
    config = {"path": "out", "tag": "v1", "message": "release"}
    await steps.git_tag(second, steps.GitTagConfig.model_validate(config))
    await steps.git_push(second, steps.GitPushConfig(path="out", tag="v1"))
    bare = git_server.bare_path("gitops")
    assert run(["rev-parse", "v1^{commit}"], bare) == landed == git_server.branch_head("gitops")


@pytest.mark.parametrize("lazy", [True, False], ids=["lazy", "full"])
async def test_a_checkout_with_an_uncommitted_edit_to_a_file_that_moved_stays_put(
    tmp_path, git_server, lazy
):
    files = {"a.yaml": "a: 0\n", "b.yaml": "b: 0\n"}
    first, second = await two_clones(tmp_path, git_server, files, lazy=lazy)
    (first.work_dir / "out" / "a.yaml").write_text("a: 1\n")
    await commit(first, "a to 1", {"name": "Ann", "email": "ann@example.com"})
    (second.work_dir / "out" / "b.yaml").write_text("b: 1\n")
    mine = await commit(second, "b to 1", {"name": "Bo", "email": "bo@x.org"})
    (second.work_dir / "out" / "a.yaml").write_text("a: edited here\n")  # after the commit
    await steps.git_push(first, steps.GitPushConfig(path="out"))
    await steps.git_push(second, steps.GitPushConfig(path="out"))
    assert await worktrees.head(second.work_dir / "out") == mine
    assert (second.work_dir / "out" / "a.yaml").read_text() == "a: edited here\n"


async def test_a_lazy_checkout_gets_what_changed_upstream_in_its_checked_out_directories(
    tmp_path, git_server
):
    files = {"env/b/mine.yaml": "m: 0\n", "env/b/other.yaml": "o: 0\n", "env/c/x.yaml": "x: 0\n"}
    first, second = await two_clones(tmp_path, git_server, files, lazy=True)
    for ctx in (first, second):
        await lazy.materialize(ctx.work_dir, ["out/env/b"], lambda _url: _no_credentials())
    (first.work_dir / "out" / "env" / "b" / "other.yaml").write_text("o: 1\n")
    (first.work_dir / "out" / "env" / "b" / "new.yaml").write_text("n: 1\n")
    await commit(first, "other", {"name": "Ann", "email": "ann@example.com"})
    (second.work_dir / "out" / "env" / "b" / "mine.yaml").write_text("m: 1\n")
    await commit(second, "mine", {"name": "Bo", "email": "bo@x.org"})
    await steps.git_push(first, steps.GitPushConfig(path="out"))
    landed = (await steps.git_push(second, steps.GitPushConfig(path="out"))).output["commit"]

    out = second.work_dir / "out"
    assert await worktrees.head(out) == landed == git_server.branch_head("gitops")
    assert (out / "env" / "b" / "other.yaml").read_text() == "o: 1\n"
    assert (out / "env" / "b" / "new.yaml").read_text() == "n: 1\n"
    assert (out / "env" / "b" / "mine.yaml").read_text() == "m: 1\n"
    assert not (out / "env" / "c").exists()  # still not checked out


async def _no_credentials() -> None:
    return None
