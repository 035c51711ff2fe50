"""Twenty Stages promoted at once through one engine into one branch, on lazy checkouts.

tests/promotion/steps/test_git_concurrent_pushes.py calls the git steps directly with lazy
checkouts off; this runs what the server runs by default: 20 Promotions started together with
`asyncio.gather` on one `kargo.promotion.engine.Engine` (one MirrorCache, one PushCoordinator),
each a different Stage whose git-clone makes a lazy checkout of `main` on the authenticated
smart-HTTP git server and whose yaml-update edits its own `env/<stage>/values.yaml`. Every
commit must land, each once, each with only its own Stage's change.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.git import GitServer
from tests.promotion.steps.engine_world import EngineWorld, step_messages, succeeded

STAGES = [f"stage-{i:02d}" for i in range(20)]
VALUES = "# {stage}\nimage:\n  repository: ghcr.io/example/app\n  tag: 1.0.0\nreplicas: 1\n"


def steps(url: str) -> list[dict[str, Any]]:
    """The Stages' shared promotion template (the Stage comes from `ctx.stage`)."""
    return [
        {
            "uses": "git-clone",
            "config": {"repoURL": url, "checkout": [{"branch": "main", "path": "./out"}]},
        },
        {
            "uses": "probe",
            "as": "lazy",
            "config": {"paths": ["out/README.md", "out/env/${{ ctx.stage }}/values.yaml"]},
        },
        {
            "uses": "yaml-update",
            "as": "update",
            "config": {
                "path": "./out/env/${{ ctx.stage }}/values.yaml",
                "updates": [{"key": "image.tag", "value": "${{ vars.tag }}"}],
            },
        },
        {
            "uses": "git-commit",
            "as": "commit",
            "config": {"path": "./out", "message": "promote ${{ ctx.stage }} to ${{ vars.tag }}"},
        },
        {"uses": "git-push", "as": "push", "config": {"path": "./out"}},
    ]


def tag_of(stage: str) -> str:
    return f"2.0.{int(stage.removeprefix('stage-'))}"


@pytest.mark.slow
async def test_twenty_stages_promoted_at_once_through_the_engine_all_land(
    git_server: GitServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KARGO_GIT_LAZY_CHECKOUT", raising=False)  # lazy, the default
    world = EngineWorld(git_server, tmp_path)
    seed: dict[str, str | None] = {"README.md": "# gitops\n", "base/values.yaml": "replicas: 1\n"}
    seed |= {f"env/{s}/values.yaml": VALUES.format(stage=s) for s in STAGES}
    before = world.seed(seed, "seed")

    template = steps(world.url)
    statuses = await asyncio.gather(
        *(world.promote(template, stage=s, variables={"tag": tag_of(s)}) for s in STAGES)
    )

    for stage, status in zip(STAGES, statuses, strict=True):
        assert succeeded(status), (stage, step_messages(status))
        # the checkout was lazy: the Stage's directory was written out only for yaml-update
        assert status["state"]["lazy"]["present"] == {
            "out/README.md": True,
            f"out/env/{stage}/values.yaml": False,
        }
    after = world.head()
    # 20 new commits, one per Stage, in a line on main
    assert world.git("rev-list", "--count", f"{before}..{after}").strip() == "20"
    assert world.git("rev-list", "--merges", f"{before}..{after}") == ""
    assert sorted(world.subjects(before, after)) == sorted(
        f"promote {s} to {tag_of(s)}" for s in STAGES
    )
    # every Stage's file has its value, and nothing else changed
    assert world.changes(before, after) == [f"M env/{s}/values.yaml" for s in STAGES]
    for stage in STAGES:
        assert world.show(after, f"env/{stage}/values.yaml") == VALUES.format(stage=stage).replace(
            "tag: 1.0.0", f"tag: {tag_of(stage)}"
        )
    # each promotion's git-push output names its own commit, on main, changing only its file
    pushed = [status["state"]["push"]["commit"] for status in statuses]
    assert len(set(pushed)) == 20
    on_branch = set(world.git("rev-list", f"{before}..{after}").split())
    assert set(pushed) == on_branch
    for stage, commit in zip(STAGES, pushed, strict=True):
        assert world.git("log", "-1", "--format=%s", commit).strip() == (
            f"promote {stage} to {tag_of(stage)}"
        )
        [parent] = world.parents(commit)
        assert world.changes(parent, commit) == [f"M env/{stage}/values.yaml"]
    assert world.coordinator.stats.requests == 20
