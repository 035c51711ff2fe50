"""docs/cli.md is generated from --help; this fails when a command changed and the page did not."""

from __future__ import annotations

from kargo.cli import docs


def test_cli_reference_is_up_to_date(capsys):
    assert docs.run(["--check"]) == 0, capsys.readouterr().err


def test_every_command_has_a_section():
    text = docs.render()
    for command in (
        "login",
        "logout",
        "apply",
        "create",
        "delete",
        "lint",
        "get",
        "version",
        "server",
        "config view",
    ):
        assert f"## `kargo {command}`" in text


def test_check_detects_a_stale_page(tmp_path):
    stale = tmp_path / "cli.md"
    stale.write_text("old\n")
    assert docs.run(["--check", "--path", str(stale)]) == 1
    assert docs.run(["--write", "--path", str(stale)]) == 0
    assert docs.run(["--check", "--path", str(stale)]) == 0
