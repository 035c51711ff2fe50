"""A checkout whose first push was replayed (another promotion pushed first) can commit and
push again: the second push carries only the new change, on top of what landed."""

from __future__ import annotations

from kargo.promotion.steps import git as steps
from tests.fixtures.git import run
from tests.git.test_push_replay import clone, commit, services


async def test_a_second_push_after_a_replayed_one_lands_only_its_own_change(tmp_path, git_server):
    repo = git_server.create_repo("gitops")
    git_server.writer("gitops").commit({"a.yaml": "a: 0\n", "b.yaml": "b: 0\n"}, "initial")
    shared = services(tmp_path)
    first, second = (
        await clone(tmp_path, repo, shared, "one"),
        await clone(tmp_path, repo, shared, "two"),
    )
    (first.work_dir / "out" / "a.yaml").write_text("a: 1\n")
    await commit(first, "a to 1", {"name": "Ann", "email": "ann@example.com"})
    (second.work_dir / "out" / "b.yaml").write_text("b: 1\n")
    await commit(second, "b to 1", {"name": "Bo", "email": "bo@x.org"})
    await steps.git_push(first, steps.GitPushConfig(path="out"))
    replayed = (await steps.git_push(second, steps.GitPushConfig(path="out"))).output["commit"]
    assert replayed == git_server.branch_head("gitops")

    (second.work_dir / "out" / "b.yaml").write_text("b: 2\n")
    await commit(second, "b to 2", {"name": "Bo", "email": "bo@x.org"})
    pushed = (await steps.git_push(second, steps.GitPushConfig(path="out"))).output["commit"]

    assert pushed == git_server.branch_head("gitops")
    assert git_server.log("gitops") == ["b to 2", "b to 1", "a to 1", "initial"]
    bare = git_server.bare_path("gitops")
    assert run(["show", "main:a.yaml"], bare) == "a: 1"
    assert run(["show", "main:b.yaml"], bare) == "b: 2"
