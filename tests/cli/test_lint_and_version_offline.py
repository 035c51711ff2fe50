"""Offline commands: `kargo lint` (load + validate + cross-object rules) and `kargo version --client`."""

from __future__ import annotations

from typer.testing import CliRunner

import kargo
from kargo.cli import main
from tests.server.quickstart import quickstart_yaml


def test_lint_accepts_the_quickstart(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "quickstart.yaml").write_text(quickstart_yaml())
    result = CliRunner().invoke(main.app, ["lint", "-f", str(tmp_path / "m"), "-R"])
    assert result.exit_code == 0, result.output
    assert "7 document(s) OK" in result.output


def test_lint_reports_each_problem_with_file_and_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: kargo.akuity.io/v1alpha1\nkind: Stage\nmetadata:\n  name: s\n  namespace: p\n"
        "spec:\n  requestedFreight:\n  - origin:\n      kind: Warehouse\n      name: missing\n"
        "    sources:\n      stages: [s]\n"
    )
    result = CliRunner().invoke(main.app, ["lint", "-f", str(bad)])
    assert result.exit_code == 2
    lines = result.output.splitlines()
    assert lines[0].startswith("error:")
    assert any(line.startswith(f"  {bad}:") for line in lines[1:]), result.output


def test_lint_without_files_says_how(tmp_path):
    result = CliRunner().invoke(main.app, ["lint"])
    assert result.exit_code == 2
    assert "-f FILE" in result.output


def test_version_client_only():
    result = CliRunner().invoke(main.app, ["version", "--client"])
    assert result.output.strip() == f"Client Version: {kargo.__version__}"
