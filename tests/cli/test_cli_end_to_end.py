"""End to end: a real `kargo server` process driven by the real `kargo` CLI.

Login, apply Kargo's quickstart, get in every output format, delete, bad input, no token.
"""

from __future__ import annotations

import json

import httpx
import pytest
import yaml

from tests.fixtures.server import start_kargo_server
from tests.server.quickstart import quickstart_yaml

pytestmark = pytest.mark.slow


@pytest.fixture
def quickstart_file(tmp_path):
    path = tmp_path / "quickstart.yaml"
    path.write_text(quickstart_yaml())
    return path


def test_login_apply_get_and_delete_the_quickstart(kargo_server, kargo_cli, quickstart_file):
    login = kargo_cli.login(kargo_server.url)
    assert kargo_server.url in login.stdout
    config = kargo_cli.home / ".config" / "kargo" / "config"
    assert config.stat().st_mode & 0o777 == 0o600

    applied = kargo_cli.run("apply", "-f", str(quickstart_file))
    assert applied.returncode == 0, applied.stderr
    assert "project.kargo.akuity.io/kargo-demo created" in applied.stdout
    assert "stage.kargo.akuity.io/prod created" in applied.stdout

    again = kargo_cli.run("apply", "-f", str(quickstart_file))
    assert again.returncode == 0, again.stderr
    assert "created" not in again.stdout

    projects = kargo_cli.run("get", "projects")
    assert projects.stdout.splitlines()[0].split()[0] == "NAME"
    assert "kargo-demo" in projects.stdout

    stages = kargo_cli.run("get", "stages", "--project", "kargo-demo")
    header = stages.stdout.splitlines()[0]
    assert header.split()[:2] == ["NAME", "SHARD"]
    assert header.rstrip().endswith("AGE")
    assert sorted(line.split()[0] for line in stages.stdout.splitlines()[1:]) == [
        "prod",
        "test",
        "uat",
    ]

    assert kargo_cli.run("config", "set-project", "kargo-demo").returncode == 0
    no_headers = kargo_cli.run("get", "warehouses", "--no-headers")
    assert no_headers.stdout.split()[0] == "kargo-demo"

    names = kargo_cli.run("get", "stages", "-o", "name")
    assert names.stdout.splitlines() == [
        "stage.kargo.akuity.io/prod",
        "stage.kargo.akuity.io/test",
        "stage.kargo.akuity.io/uat",
    ]
    as_yaml = yaml.safe_load(kargo_cli.run("get", "stage", "uat", "-o", "yaml").stdout)
    assert as_yaml["spec"]["requestedFreight"][0]["sources"]["stages"] == ["test"]
    as_json = json.loads(kargo_cli.run("get", "promotiontasks", "-o", "json").stdout)
    assert [i["metadata"]["name"] for i in as_json["items"]] == ["demo-promo-process"]
    freight = kargo_cli.run("get", "freight")
    assert freight.returncode == 0, freight.stderr
    promos = kargo_cli.run("get", "promos")
    assert promos.returncode == 0, promos.stderr

    missing = kargo_cli.run("get", "stage", "nope")
    assert missing.returncode == 3
    assert "error: Stage kargo-demo/nope not found" in missing.stderr

    deleted = kargo_cli.run("delete", "-f", str(quickstart_file))
    assert deleted.returncode == 0, deleted.stderr
    assert "project.kargo.akuity.io/kargo-demo deleted" in deleted.stdout
    gone = kargo_cli.run("get", "stages")
    assert gone.returncode == 3
    assert "project 'kargo-demo' not found" in gone.stderr


def test_invalid_manifests_are_reported_by_file_and_line_and_nothing_is_stored(
    kargo_server, kargo_cli, tmp_path
):
    kargo_cli.login(kargo_server.url)
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: kargo.akuity.io/v1alpha1\nkind: Project\nmetadata:\n  name: p\n---\n"
        "apiVersion: kargo.akuity.io/v1alpha1\nkind: Warehouse\nmetadata:\n  name: w\n"
        "  namespace: p\nspec:\n  subscriptions:\n  - image:\n      discoveryLimit: many\n"
    )
    result = kargo_cli.run("apply", "-f", str(bad))
    assert result.returncode == 2
    assert f"{bad}:" in result.stderr
    assert all(line.startswith(("error:", "  ")) for line in result.stderr.splitlines())
    # Rejected by the server (the project does not exist): still a clear error, nothing stored.
    orphan = tmp_path / "orphan.yaml"
    orphan.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: ghost\n")
    server_side = kargo_cli.run("create", "-f", str(orphan))
    assert server_side.returncode == 2
    assert "project 'ghost' does not exist" in server_side.stderr
    assert f"  {orphan} (ConfigMap ghost/c): metadata.namespace:" in server_side.stderr
    assert kargo_cli.run("get", "projects").stdout == ""


def test_stdin_manifests_and_create_conflicts(kargo_server, kargo_cli):
    kargo_cli.login(kargo_server.url)
    project = "apiVersion: kargo.akuity.io/v1alpha1\nkind: Project\nmetadata:\n  name: from-stdin\n"
    assert kargo_cli.run("create", "-f", "-", stdin=project).returncode == 0
    again = kargo_cli.run("create", "-f", "-", stdin=project)
    assert again.returncode == 4
    assert "already exists" in again.stderr.lower()
    deleted = kargo_cli.run("delete", "project", "from-stdin")
    assert deleted.stdout == "project.kargo.akuity.io/from-stdin deleted\n", deleted.stderr
    twice = kargo_cli.run("delete", "project", "from-stdin")
    assert twice.returncode == 3
    assert "not found" in twice.stderr


def test_without_a_token_the_api_says_401_and_the_cli_says_how_to_log_in(kargo_server, kargo_cli):
    response = httpx.get(f"{kargo_server.url}/v1beta1/projects")
    assert response.status_code == 401
    assert response.json()["error"]["reason"] == "Unauthenticated"
    kargo_cli.login(kargo_server.url)
    assert kargo_cli.run("logout").returncode == 0
    result = kargo_cli.run("get", "projects")
    assert result.returncode == 5
    assert "kargo login" in result.stderr
    wrong = kargo_cli.run("login", kargo_server.url, "--admin", "--password-stdin", stdin="nope\n")
    assert wrong.returncode == 5
    assert "wrong admin password" in wrong.stderr


def test_first_start_prints_a_generated_password_once_and_sigterm_stops_cleanly(
    tmp_path, kargo_cli
):
    server = start_kargo_server(tmp_path, admin_password=None, components="api,controllers")
    try:
        logs = server.logs()
        assert "Generated an admin password" in logs
        assert f"listening on {server.url}" in logs
        password = logs.split("Generated an admin password", 1)[1].split("\n\n")[1].strip()
        kargo_cli.login(server.url, password)
        assert password not in (server.data_dir / "server.toml").read_text()
    finally:
        # uvicorn finishes its graceful shutdown, then re-raises the signal it caught.
        assert server.stop() in (0, -15), server.logs()
        assert "Application shutdown complete" in server.logs()
    again = start_kargo_server(tmp_path, admin_password=None)
    try:
        assert "Generated an admin password" not in again.logs()
        kargo_cli.login(again.url, password)
    finally:
        again.stop()


def test_unsafe_settings_refuse_to_start_with_a_fix(tmp_path, kargo_cli):
    with pytest.raises(RuntimeError, match="openssl rand"):
        start_kargo_server(tmp_path, admin_password="admin")
