"""What a preview runs and what it refuses: remote-calling steps are skipped (never called),
failing steps end the preview with their message, control-plane steps write nothing, and the
store a preview's steps see refuses writes."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

from kargo import errors
from kargo.promotion import context, preview
from tests.e2e.test_quickstart_template_engine import (
    PROJECT,
    REPO,
    QuickstartWorld,
    remote_refs,
    world_fixture,  # noqa: F401 - the `world` fixture
)

NOTES = b"promoted\n"
NOTES_BLOB = hashlib.sha1(b"blob %d\0" % len(NOTES) + NOTES, usedforsecurity=False).hexdigest()[:7]


class AnyConfig(BaseModel):
    """Accepts any config (the test steps below do not read it)."""

    model_config = ConfigDict(extra="allow")


def _stage(name: str, steps: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "kargo.akuity.io/v1alpha1",
        "kind": "Stage",
        "metadata": {"name": name, "namespace": PROJECT},
        "spec": {
            "requestedFreight": [
                {"origin": {"kind": "Warehouse", "name": "kargo-demo"}, "sources": {"direct": True}}
            ],
            "promotionTemplate": {"spec": {"steps": steps}},
        },
    }


async def _preview_of(world: QuickstartWorld, steps: list[dict[str, Any]]) -> preview.Preview:
    await world.admit_and_store(_stage("custom", steps))
    freight = await world.add_freight("1.29.1")
    return await world.preview("custom", freight=freight)


async def test_steps_that_call_remote_systems_are_skipped_and_never_run(world, git_server):
    calls: list[str] = []

    async def argocd_update(ctx: context.StepContext, cfg: AnyConfig) -> context.StepResult:
        calls.append(ctx.alias)
        return context.StepResult()

    world.registry.step("argocd-update", AnyConfig)(argocd_update)
    refs = remote_refs(git_server)
    shown = await _preview_of(
        world,
        [
            {"uses": "argocd-update", "as": "sync", "config": {"apps": [{"name": "x"}]}},
            {"uses": "compose-output", "as": "after", "config": {"done": True}},
        ],
    )
    assert calls == []
    assert shown.phase == "Succeeded"
    sync, after = shown.steps
    assert (sync.status, sync.skipped_in_preview) == ("Skipped", True)
    assert "skipped in preview: argocd-update calls a remote system" in sync.message
    assert (after.status, after.output) == ("Succeeded", {"done": True})
    assert shown.repositories == []
    assert remote_refs(git_server) == refs


async def test_a_step_kind_the_server_does_not_know_errors_as_it_would_in_the_promotion(world):
    shown = await _preview_of(world, [{"uses": "no-such-step", "config": {}}])
    assert shown.phase == "Errored"
    assert "unknown step kind 'no-such-step'" in shown.message


async def test_a_failing_step_ends_the_preview_with_its_message_after_one_attempt(
    world, git_server
):
    shown = await _preview_of(
        world,
        [
            {
                "uses": "git-clone",
                "retry": {"errorThreshold": 5},
                "config": {
                    "repoURL": git_server.url(REPO),
                    "checkout": [{"branch": "no-such-branch", "path": "./src"}],
                },
            },
            {"uses": "git-push", "config": {"path": "./src"}},
        ],
    )
    assert shown.phase == "Errored"
    assert "branch 'no-such-branch' not found" in shown.message
    clone, push = shown.steps
    assert clone.status == "Errored"
    assert push.status == "Skipped"
    assert shown.repositories == []


async def test_set_metadata_in_a_preview_writes_nothing(world):
    before = await world.store.get("Stage", PROJECT, "test")
    shown = await _preview_of(
        world,
        [
            {
                "uses": "set-metadata",
                "config": {"updates": [{"kind": "Stage", "name": "test", "values": {"x": 1}}]},
            }
        ],
    )
    assert shown.phase == "Succeeded", shown.steps
    after = await world.store.get("Stage", PROJECT, "test")
    assert after == before


async def test_the_store_a_preview_hands_to_steps_refuses_every_write(world):
    reader = preview.ReadOnlyStore(world.store)
    stage = await reader.get("Stage", PROJECT, "test")
    assert stage["metadata"]["name"] == "test"
    for attempt in (
        reader.create(stage),
        reader.update(stage),
        reader.update_status(stage),
        reader.delete("Stage", PROJECT, "test"),
    ):
        with pytest.raises(errors.PermissionDeniedError, match="a promotion preview changes"):
            await attempt
    assert await world.store.get("Stage", PROJECT, "test") == stage


async def test_a_push_to_a_generated_branch_shows_the_diff_against_the_checked_out_commit(
    world, git_server
):
    shown = await _preview_of(
        world,
        [
            {
                "uses": "git-clone",
                "config": {
                    "repoURL": git_server.url(REPO),
                    "checkout": [{"branch": "main", "path": "./src"}],
                },
            },
            {
                "uses": "file-write",
                "config": {"path": "./src/NOTES.md", "contents": "promoted\n"},
            },
            {"uses": "git-commit", "config": {"path": "./src", "message": "notes"}},
            {"uses": "git-push", "config": {"path": "./src", "generateTargetBranch": True}},
        ],
    )
    assert shown.phase == "Succeeded", shown.steps
    [repo] = shown.repositories
    assert repo.branch == f"kargo/promotion/{shown.promotion}"
    assert repo.new_branch
    # only the new file: the branch starts from main as checked out, not from nothing
    assert repo.diff == (
        "diff --git a/NOTES.md b/NOTES.md\n"
        "new file mode 100644\n"
        f"index 0000000..{NOTES_BLOB}\n"
        "--- /dev/null\n"
        "+++ b/NOTES.md\n"
        "@@ -0,0 +1 @@\n"
        "+promoted\n"
    )
