"""Lazy checkouts through the engine: a step finds the files it named, nothing else is written,
a step that cannot name its paths sees the whole checkout, and the commits are what a full
checkout would have made."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

from kargo import clock as clock_mod
from kargo.credentials.interface import Credentials, StaticCredentials
from kargo.git import lazy, mirror as mirrors, push as pushes
from kargo.promotion import context, engine as engine_mod, registry as registry_mod
from kargo.promotion.steps import git as git_steps, load_builtin_steps
from tests.fixtures.git import GIT_PASSWORD, GIT_USER, run

KUSTOMIZATION = """apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- ../../base
images:
- name: nginx
  newTag: 1.0.0
"""
FILES = {
    "README.md": "gitops\n",
    "base/deploy.yaml": "kind: Deployment\n",
    "env/test/kustomization.yaml": KUSTOMIZATION,
    "env/prod/kustomization.yaml": KUSTOMIZATION,
    "apps/a/values.yaml": "replicas: 1\n",
    "apps/b/values.yaml": "replicas: 2\n",
}


class Seen(BaseModel):
    """Config of the test's `look` step."""

    model_config = ConfigDict(extra="forbid")
    path: str


def files_under(root: Path) -> set[str]:
    found = set()
    for current, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d != ".git"]
        found.update(Path(current, n).relative_to(root).as_posix() for n in names)
    return found - {".git"}


class World:
    def __init__(self, tmp_path: Path, git_server: Any) -> None:
        self.url = git_server.create_repo("gitops")
        git_server.writer("gitops").commit(FILES, "initial")
        self.server = git_server
        self.seen: dict[str, set[str]] = {}
        registry = load_builtin_steps(registry_mod.StepRegistry())

        async def look(ctx: context.StepContext, cfg: Seen) -> context.StepResult:
            self.seen[ctx.alias] = files_under(ctx.work_dir / cfg.path)
            return context.StepResult()

        registry.step("look-declared", Seen, paths=registry_mod.no_paths)(look)
        registry.step("look-anywhere", Seen)(look)  # declares nothing: may touch anything
        services = engine_mod.EngineServices(
            credentials=StaticCredentials({self.url: Credentials(GIT_USER, GIT_PASSWORD)}),
            git_user=context.GitUser(name="Kargo", email="kargo@example.com"),
            extra={
                git_steps.MIRRORS_SERVICE: mirrors.MirrorCache(tmp_path / "mirrors"),
                git_steps.PUSH_SERVICE: pushes.PushCoordinator(),
            },
        )
        self.engine = engine_mod.Engine(
            registry, clock_mod.SystemClock(), services, work_root=tmp_path / "work"
        )
        self.count = 0

    async def promote(self, steps: list[dict[str, Any]]) -> dict[str, Any]:
        self.count += 1
        freight = {
            "name": f"f{self.count}",
            "origin": {"kind": "Warehouse", "name": "w"},
            "images": [{"repoURL": "nginx", "tag": "1.2.3"}],
        }
        promo = {
            "apiVersion": "kargo.akuity.io/v1alpha1",
            "kind": "Promotion",
            "metadata": {"namespace": "p", "name": f"test.{self.count}"},
            "spec": {"stage": "test", "freight": freight["name"], "steps": steps},
            "status": {
                "phase": "Pending",
                "freight": {"name": freight["name"], "origin": freight["origin"]},
                "freightCollection": {"items": {"Warehouse/w": freight}},
            },
        }

        async def persist(p: dict[str, Any]) -> dict[str, Any]:
            return p

        outcome = await self.engine.execute(promo, persist)
        assert outcome.phase == "Succeeded", outcome.promotion["status"].get("message")
        return outcome.promotion

    def changed_by_head(self) -> list[str]:
        bare = self.server.bare_path("gitops")
        out = run(["diff-tree", "-r", "--name-only", "--no-commit-id", "main"], bare)
        return sorted(out.splitlines())

    def remote_files(self) -> dict[str, str]:
        bare = self.server.bare_path("gitops")
        names = run(["ls-tree", "-r", "--name-only", "main"], bare).splitlines()
        return {n: run(["show", f"main:{n}"], bare) + "\n" for n in names}


@pytest.fixture
def world(tmp_path: Path, git_server: Any) -> World:
    return World(tmp_path, git_server)


def clone() -> dict[str, Any]:
    return {"uses": "git-clone", "config": {"repoURL": "URL", "checkout": [{"path": "./out"}]}}


def with_url(world: World, steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for step in steps:
        if step["uses"] == "git-clone":
            step["config"]["repoURL"] = world.url
    return steps


async def test_a_step_finds_the_files_it_named_and_nothing_else_is_checked_out(world):
    await world.promote(
        with_url(
            world,
            [
                clone(),
                {"uses": "look-declared", "as": "before", "config": {"path": "./out"}},
                {"uses": "kustomize-set-image", "as": "set", "config": {"path": "./out/env/test"}},
                {"uses": "look-declared", "as": "after", "config": {"path": "./out"}},
                {"uses": "git-commit", "config": {"path": "./out", "message": "set image"}},
                {"uses": "git-push", "config": {"path": "./out"}},
            ],
        )
    )
    assert world.seen["before"] == {"README.md"}  # top-level files only
    assert world.seen["after"] == {"README.md", "env/test/kustomization.yaml"}
    assert world.changed_by_head() == ["env/test/kustomization.yaml"]
    remote = world.remote_files()
    assert "newTag: 1.2.3" in remote["env/test/kustomization.yaml"]
    assert {k: v for k, v in remote.items() if k != "env/test/kustomization.yaml"} == {
        k: v for k, v in FILES.items() if k != "env/test/kustomization.yaml"
    }


async def test_a_step_that_cannot_name_its_paths_sees_the_whole_checkout(world):
    await world.promote(
        with_url(
            world, [clone(), {"uses": "look-anywhere", "as": "all", "config": {"path": "./out"}}]
        )
    )
    assert world.seen["all"] == set(FILES)


async def test_editing_a_file_checks_out_its_directory_only(world):
    await world.promote(
        with_url(
            world,
            [
                clone(),
                {
                    "uses": "yaml-update",
                    "config": {
                        "path": "./out/apps/b/values.yaml",
                        "updates": [{"key": "replicas", "value": 3}],
                    },
                },
                {"uses": "file-write", "config": {"path": "./out/apps/c/NOTES", "contents": "x\n"}},
                {"uses": "look-declared", "as": "after", "config": {"path": "./out"}},
                {"uses": "git-commit", "config": {"path": "./out", "message": "edit"}},
                {"uses": "git-push", "config": {"path": "./out"}},
            ],
        )
    )
    assert world.seen["after"] == {"README.md", "apps/b/values.yaml", "apps/c/NOTES"}
    assert world.changed_by_head() == ["apps/b/values.yaml", "apps/c/NOTES"]
    assert world.remote_files()["apps/b/values.yaml"] == "replicas: 3\n"


async def test_git_clear_on_a_lazy_checkout_commits_every_other_file_as_deleted(world):
    await world.promote(
        with_url(
            world,
            [
                clone(),
                {"uses": "git-clear", "config": {"path": "./out"}},
                {"uses": "file-write", "config": {"path": "./out/only.yaml", "contents": "a: 1\n"}},
                {"uses": "git-commit", "config": {"path": "./out", "message": "render"}},
                {"uses": "git-push", "config": {"path": "./out"}},
            ],
        )
    )
    assert world.remote_files() == {"only.yaml": "a: 1\n"}


async def test_laziness_can_be_switched_off(world, monkeypatch):
    monkeypatch.setenv(lazy.LAZY_ENV, "false")
    await world.promote(
        with_url(
            world, [clone(), {"uses": "look-declared", "as": "all", "config": {"path": "./out"}}]
        )
    )
    assert world.seen["all"] == set(FILES)
