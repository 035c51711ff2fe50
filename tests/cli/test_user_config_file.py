"""The CLI's config file: location rules, private mode, and the `kargo config` commands."""

from __future__ import annotations

import yaml
from typer.testing import CliRunner

from kargo.cli import main, userconfig


def test_location_prefers_kargo_config_then_xdg_then_home(tmp_path):
    assert userconfig.config_path({"KARGO_CONFIG": str(tmp_path / "c")}) == tmp_path / "c"
    assert (
        userconfig.config_path({"XDG_CONFIG_HOME": str(tmp_path)}) == tmp_path / "kargo" / "config"
    )


def test_saved_file_is_private_and_uses_kargo_keys(tmp_path):
    path = tmp_path / "dir" / "config"
    userconfig.save(userconfig.UserConfig("http://x:1", "tok", "demo"), path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert yaml.safe_load(path.read_text()) == {
        "apiAddress": "http://x:1",
        "bearerToken": "tok",
        "project": "demo",
    }
    assert userconfig.load(path).project == "demo"


def test_set_get_and_view_project(tmp_path, monkeypatch):
    monkeypatch.setenv("KARGO_CONFIG", str(tmp_path / "config"))
    runner = CliRunner()
    assert runner.invoke(main.app, ["config", "set-project", "kargo-demo"]).exit_code == 0
    got = runner.invoke(main.app, ["config", "get-project"])
    assert got.output.strip() == "kargo-demo"
    userconfig.save(userconfig.UserConfig("http://h:1", "secret-token", "kargo-demo"))
    shown = runner.invoke(main.app, ["config", "view"])
    assert "secret-token" not in shown.output
    assert "apiAddress: http://h:1" in shown.output
    assert "secret-token" in runner.invoke(main.app, ["config", "view", "--raw"]).output


def test_get_project_without_one_says_how_to_set_it(tmp_path, monkeypatch):
    monkeypatch.setenv("KARGO_CONFIG", str(tmp_path / "config"))
    result = CliRunner().invoke(main.app, ["config", "get-project"])
    assert result.exit_code == 3
    assert "kargo config set-project" in result.output


def test_commands_needing_a_server_say_how_to_log_in(tmp_path, monkeypatch):
    monkeypatch.setenv("KARGO_CONFIG", str(tmp_path / "config"))
    result = CliRunner().invoke(main.app, ["get", "projects"])
    assert result.exit_code == 5
    assert "kargo login" in result.output


def test_logout_forgets_only_the_token(tmp_path, monkeypatch):
    monkeypatch.setenv("KARGO_CONFIG", str(tmp_path / "config"))
    userconfig.save(userconfig.UserConfig("http://h:1", "tok", "p"))
    assert CliRunner().invoke(main.app, ["logout"]).exit_code == 0
    cfg = userconfig.load()
    assert (cfg.api_address, cfg.bearer_token, cfg.project) == ("http://h:1", None, "p")
