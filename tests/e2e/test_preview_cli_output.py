"""How `kargo preview` / `kargo promote --dry-run` print a preview: headers and exact diffs when
piped, rich colours on a terminal, warnings on stderr, a failing promotion as exit code 7, and
the flags --dry-run refuses."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kargo import errors
from kargo.cli import preview_cmds

DIFF = (
    "diff --git a/a.yaml b/a.yaml\n"
    "index 1111111..2222222 100644\n"
    "--- a/a.yaml\n"
    "+++ b/a.yaml\n"
    "@@ -1 +1 @@\n"
    "-tag: 1.0.0\n"
    "+tag: 1.1.0\n"
)


def _body(**overrides: Any) -> dict[str, Any]:
    body = {
        "project": "p",
        "stage": "test",
        "promotion": "test.01abc.f00",
        "freight": {"name": "f00", "alias": "wonky-dog", "origin": "Warehouse/w"},
        "available": True,
        "warnings": [],
        "phase": "Succeeded",
        "message": "",
        "repositories": [
            {
                "repoURL": "https://git.example.com/gitops.git",
                "branch": "stage/test",
                "diff": DIFF,
                "commit": "abc",
                "newBranch": False,
            },
            {"repoURL": "https://git.example.com/tags.git", "tag": "v1", "diff": ""},
        ],
        "steps": [
            {"alias": "push", "uses": "git-push", "status": "Succeeded", "message": ""},
            {
                "alias": "sync",
                "uses": "argocd-update",
                "status": "Skipped",
                "message": "skipped in preview: argocd-update calls a remote system",
            },
        ],
    }
    body.update(overrides)
    return body


def test_piped_output_has_a_header_per_repository_and_the_diff_byte_for_byte(capsys, monkeypatch):
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    preview_cmds.show_preview(_body())
    out = capsys.readouterr().out
    assert "=== https://git.example.com/gitops.git branch stage/test\n" + DIFF in out
    assert "=== https://git.example.com/tags.git tag v1\n(no changes)\n" in out
    assert "  sync (argocd-update): Skipped - skipped in preview" in out
    assert "\x1b[" not in out
    assert out.endswith("result: Succeeded\n")


def test_on_a_terminal_the_diff_is_coloured(capsys, monkeypatch):
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.delenv("NO_COLOR", raising=False)
    preview_cmds.show_preview(_body())
    out = capsys.readouterr().out
    assert "\x1b[" in out
    assert "tag: 1.1.0" in out


def test_warnings_go_to_stderr_and_json_output_is_the_whole_answer(capsys):
    body = _body(available=False, warnings=["Freight 'f00' is not available to Stage 'test'"])
    preview_cmds.show_preview(body, "json")
    captured = capsys.readouterr()
    assert json.loads(captured.out) == body
    assert captured.err == "warning: Freight 'f00' is not available to Stage 'test'\n"


def test_a_promotion_that_would_fail_is_printed_then_raised_as_a_step_failure(capsys):
    body = _body(phase="Errored", message='step "clone" (git-clone): branch not found')
    with pytest.raises(errors.StepError, match="would end Errored: step") as caught:
        preview_cmds.show_preview(body)
    assert caught.value.exit_code == 7
    assert "result: Errored" in capsys.readouterr().out


@pytest.mark.parametrize(
    "flags",
    [
        {"downstream_from": "test"},
        {"abort": True},
        {"name": "test.01abc"},
        {"wait": True},
    ],
)
def test_dry_run_refuses_flags_that_do_not_preview_one_promotion(flags):
    with pytest.raises(errors.ValidationError, match="--dry-run previews one promotion"):
        preview_cmds.dry_run_promote(
            "p", stage="test", freight="f", freight_alias=None, warehouse=None, **flags
        )


def test_dry_run_needs_a_stage_and_exactly_one_freight_selector():
    with pytest.raises(errors.ValidationError, match="needs --stage"):
        preview_cmds.dry_run_promote(
            "p", stage=None, freight="f", freight_alias=None, warehouse=None
        )
    with pytest.raises(errors.ValidationError, match="exactly one of --freight"):
        preview_cmds.request_preview("p", "test", freight="f", warehouse="w")
