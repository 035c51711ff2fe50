"""Promotion preview against Kargo's quickstart: the diff shown is exactly the diff then pushed,
and a preview pushes nothing, stores nothing and leaves no work directory behind."""

from __future__ import annotations

import dataclasses
import subprocess
import tempfile

from kargo.promotion import preview
from tests.e2e.test_quickstart_template_engine import (
    IMAGE,
    PROJECT,
    REPO,
    changed_lines,
    git_diff,
    remote_refs,
    world_fixture,  # noqa: F401 - the `world` fixture
)
from tests.fixtures.git import GIT_PASSWORD


async def test_the_preview_diff_is_exactly_what_the_promotion_then_pushes(world, git_server):
    await world.promote("test", await world.add_freight("1.29.1"))
    newer = await world.add_freight("1.29.2")
    before = git_server.branch_head(REPO, "stage/test")
    refs = remote_refs(git_server)

    shown = await world.preview("test", freight=newer)

    assert remote_refs(git_server) == refs  # nothing pushed
    assert shown.phase == "Succeeded", shown.steps
    assert shown.available
    assert shown.warnings == []
    [repo] = shown.repositories
    assert repo.repo_url == git_server.url(REPO)
    assert repo.branch == "stage/test"
    assert not repo.new_branch
    assert changed_lines(repo.diff) == [
        f"-      - image: {IMAGE}:1.29.1",
        f"+      - image: {IMAGE}:1.29.2",
    ]
    assert "diff --git a/deployment-kargo-demo.yaml b/deployment-kargo-demo.yaml" in repo.diff

    promo = await world.promote("test", newer)
    assert promo["status"]["phase"] == "Succeeded"
    after = git_server.branch_head(REPO, "stage/test")
    assert git_diff(git_server, before, after) == repo.diff


async def test_a_preview_into_a_branch_that_does_not_exist_shows_every_file_added(
    world, git_server
):
    refs = remote_refs(git_server)
    freight = await world.add_freight("1.29.1")

    shown = await world.preview("uat", freight=freight)

    assert remote_refs(git_server) == refs
    assert "refs/heads/stage/uat" not in refs
    [repo] = shown.repositories
    assert repo.branch == "stage/uat"
    assert repo.new_branch
    added = sorted(
        line.removeprefix("+++ b/") for line in repo.diff.splitlines() if line.startswith("+++ ")
    )
    assert added == [
        "configmap-kargo-demo-content.yaml",
        "deployment-kargo-demo.yaml",
        "service-kargo-demo.yaml",
    ]
    assert f"+      - image: {IMAGE}:1.29.1" in repo.diff
    assert "<h1>uat</h1>" in repo.diff


async def test_steps_are_reported_in_order_with_their_outputs(world):
    freight = await world.add_freight("1.29.1")
    shown = await world.preview("test", freight=freight)
    assert [(s.alias, s.uses, s.status) for s in shown.steps] == [
        ("promo-process::step-1", "git-clone", "Succeeded"),
        ("promo-process::step-2", "git-clear", "Succeeded"),
        ("promo-process::update", "kustomize-set-image", "Succeeded"),
        ("promo-process::step-4", "kustomize-build", "Succeeded"),
        ("promo-process::commit", "git-commit", "Succeeded"),
        ("promo-process::step-6", "git-push", "Succeeded"),
    ]
    push = shown.steps[-1]
    assert push.output["dryRun"] is True
    assert push.output["branch"] == "stage/test"
    assert "diff" not in push.output  # shown once, under repositories
    assert shown.steps[2].output["commitMessage"].startswith("Updated ./src/base")
    assert shown.promotion.startswith("test.")


async def test_a_preview_stores_nothing_and_leaves_no_work_directory(world, git_server):
    freight = await world.add_freight("1.29.1")
    await world.preview("test", freight=freight)
    page = await world.store.list("Promotion")
    assert page.items == []
    leftovers = list(world.work_root.glob("kargo-preview-*"))
    assert leftovers == []
    mirrors = [p for p in (world.work_root.parent / "m").iterdir() if p.is_dir()]
    assert mirrors
    for mirror in mirrors:
        listed = subprocess.run(
            ["git", "worktree", "list", "--porcelain"],
            cwd=mirror,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert listed.count("worktree ") == 1, listed  # only the mirror itself


async def test_without_the_callers_mirrors_a_preview_keeps_its_own_and_removes_them(
    world, tmp_path, monkeypatch
):
    system_tmp = tmp_path / "system-tmp"
    system_tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(system_tmp))
    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    freight = await world.add_freight("1.29.1")

    shown = await preview.preview_promotion(
        world.store,
        world.registry,
        world.clock,
        preview.PreviewRequest(project=PROJECT, stage="test", freight=freight),
        services=dataclasses.replace(world.services, extra={}),
        work_root=world.work_root,
    )

    assert shown.phase == "Succeeded", shown.steps
    assert f"+      - image: {IMAGE}:1.29.1" in shown.repositories[0].diff
    assert list(system_tmp.iterdir()) == []  # never git-clone's shared default
    assert list(world.work_root.iterdir()) == []  # its private mirrors went with it


async def test_the_preview_never_shows_the_git_password(world):
    freight = await world.add_freight("1.29.1")
    shown = await world.preview("test", freight=freight)
    assert GIT_PASSWORD not in shown.model_dump_json(by_alias=True)


async def test_preview_by_alias_and_by_origin_pick_the_same_freight(world):
    freight = await world.add_freight("1.29.1")
    stored = await world.store.get("Freight", PROJECT, freight)
    by_alias = await world.preview("test", freight_alias=stored["alias"])
    by_origin = await world.preview("test", origin="Warehouse/kargo-demo")
    assert by_alias.freight.name == by_origin.freight.name == freight
    assert by_alias.repositories[0].diff == by_origin.repositories[0].diff


def test_the_preview_request_reads_the_api_field_names():
    request = preview.PreviewRequest.model_validate(
        {"project": "p", "stage": "s", "freightAlias": "a"}
    )
    assert request.freight_alias == "a"
