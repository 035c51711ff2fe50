"""A preview through a running `kargo server` (API and controllers, real SQLite store) and the
`kargo` CLI, against a basic-auth smart-HTTP git server:

- it fetches through the server's own git mirrors (`<data dir>/work/.git-mirrors`, mode 0700)
  and leaves nothing in the system temp directory (the server runs with its own TMPDIR);
- a Project secret a template writes into files, a commit message and a step output is masked
  (`***`) in every part of the API answer, in `kargo promote --dry-run`'s output and in the
  server's log.
"""

from __future__ import annotations

import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.fixtures.git import GIT_PASSWORD, GIT_USER, GitServer
from tests.fixtures.server import ADMIN_PASSWORD, Cli, KargoServer, start_kargo_server

PROJECT = "preview-secrets"
TOKEN = "tok-9f2c41d7e8b3a6c5"
PEM_LINES = ["-----BEGIN TEST KEY-----", "line-one-a8f3k2w9", "line-two-z7q1m4x6"]
PEM = "\n".join([*PEM_LINES, "-----END TEST KEY-----"]) + "\n"
SECRETS = [TOKEN, *PEM_LINES, GIT_PASSWORD]
DEADLINE_SECONDS = 60.0


def _manifests(config_url: str, source_url: str) -> list[dict[str, Any]]:
    def repo_secret(name: str, url: str) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": name,
                "namespace": PROJECT,
                "labels": {"kargo.akuity.io/cred-type": "git"},
            },
            "stringData": {"repoURL": url, "username": GIT_USER, "password": GIT_PASSWORD},
        }

    secret_of = "${{ secret('app-creds').%s }}"
    steps = [
        {
            "uses": "git-clone",
            "config": {"repoURL": config_url, "checkout": [{"branch": "main", "path": "./src"}]},
        },
        {
            "uses": "yaml-update",
            "as": "update",
            "config": {
                "path": "./src/values.yaml",
                "updates": [{"key": "auth.token", "value": secret_of % "token"}],
            },
        },
        {
            "uses": "file-write",
            "as": "write",
            "config": {"path": "./src/key.pem", "contents": secret_of % "pem"},
        },
        {"uses": "compose-output", "as": "leak", "config": {"token": secret_of % "token"}},
        {
            "uses": "git-commit",
            "as": "commit",
            "config": {"path": "./src", "message": "rotate to " + secret_of % "token"},
        },
        {"uses": "git-push", "as": "push", "config": {"path": "./src"}},
    ]
    return [
        {
            "apiVersion": "kargo.akuity.io/v1alpha1",
            "kind": "Project",
            "metadata": {"name": PROJECT},
        },
        repo_secret("config-repo", config_url),
        repo_secret("source-repo", source_url),
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "app-creds", "namespace": PROJECT},
            "stringData": {"token": TOKEN, "pem": PEM},
        },
        {
            "apiVersion": "kargo.akuity.io/v1alpha1",
            "kind": "Warehouse",
            "metadata": {"name": "source", "namespace": PROJECT},
            "spec": {"subscriptions": [{"git": {"repoURL": source_url, "branch": "main"}}]},
        },
        {
            "apiVersion": "kargo.akuity.io/v1alpha1",
            "kind": "Stage",
            "metadata": {"name": "test", "namespace": PROJECT},
            "spec": {
                "requestedFreight": [
                    {"origin": {"kind": "Warehouse", "name": "source"}, "sources": {"direct": True}}
                ],
                "promotionTemplate": {"spec": {"steps": steps}},
            },
        },
    ]


def _wait_for_freight(server: KargoServer, token: str) -> str:
    """The Freight the Warehouse discovers (polled with a deadline)."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        listed = httpx.get(
            f"{server.url}/v1beta1/projects/{PROJECT}/freight",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert listed.status_code == 200, listed.text
        items = listed.json()["items"]
        if items:
            return str(items[0]["metadata"]["name"])
        time.sleep(0.2)
    raise AssertionError(f"no Freight after {DEADLINE_SECONDS}s:\n{server.logs()}")


class World:
    """The running server, its CLI, the Freight to preview and the server's temp dir."""

    def __init__(self, server: KargoServer, cli: Cli, token: str, freight: str, tmp: Path):
        self.server = server
        self.cli = cli
        self.token = token
        self.freight = freight
        self.system_tmp = tmp

    def preview(self) -> httpx.Response:
        return httpx.post(
            f"{self.server.url}/v1beta1/projects/{PROJECT}/stages/test/promotions/preview",
            json={"freight": self.freight},
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=300,
        )


@pytest.fixture
def world(tmp_path: Path, git_server: GitServer, kargo_cli: Cli) -> Iterator[World]:
    config_url = git_server.create_repo("app-config")
    git_server.writer("app-config").commit(
        {"values.yaml": "auth:\n  token: placeholder\nimage: v1\n"}, "initial config"
    )
    source_url = git_server.create_repo("app-source")
    git_server.writer("app-source").commit({"README.md": "app\n"}, "initial source")
    system_tmp = tmp_path / "system-tmp"
    system_tmp.mkdir()
    server = start_kargo_server(
        tmp_path,
        components="api,controllers",
        env={"KARGO_ALLOW_CREDENTIALS_OVER_HTTP": "true", "TMPDIR": str(system_tmp)},
    )
    try:
        kargo_cli.login(server.url)
        manifests = tmp_path / "manifests.yaml"
        manifests.write_text(yaml.safe_dump_all(_manifests(config_url, source_url)))
        applied = kargo_cli.run("apply", "-f", str(manifests))
        assert applied.returncode == 0, (applied.stdout, applied.stderr, server.logs())
        token = httpx.post(
            f"{server.url}/v1beta1/login", json={"password": ADMIN_PASSWORD}, timeout=30
        ).json()["token"]
        yield World(server, kargo_cli, token, _wait_for_freight(server, token), system_tmp)
    finally:
        server.stop()


def test_a_preview_uses_the_servers_private_mirrors_and_leaves_nothing_in_the_temp_dir(world):
    response = world.preview()

    assert response.status_code == 200, response.text
    assert response.json()["phase"] == "Succeeded", response.text
    assert sorted(p.name for p in world.system_tmp.iterdir()) == []
    work = world.server.data_dir / "work"
    mirrors = work / ".git-mirrors"
    assert stat.S_IMODE(mirrors.stat().st_mode) == 0o700
    assert stat.S_IMODE(work.stat().st_mode) == 0o700
    # the config repository is fetched by the preview only (the Warehouse watches the source)
    assert [p.name.startswith("app-config-") for p in mirrors.glob("app-config-*.git")] == [True]
    assert list((work / ".previews").iterdir()) == []  # its work directory is removed


def test_a_project_secret_written_by_the_template_is_masked_in_api_and_cli_output(world):
    response = world.preview()

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["phase"] == "Succeeded", response.text
    for secret in SECRETS:
        assert secret not in response.text
    [repo] = body["repositories"]
    added = [line for line in repo["diff"].splitlines() if line.startswith("+")]
    assert "+  token: ***" in added
    assert "+***" in added  # each line of the multi-line secret, masked on its own
    steps = {step["alias"]: step for step in body["steps"]}
    assert steps["leak"]["output"] == {"token": "***"}
    assert steps["update"]["output"]["commitMessage"].endswith("- auth.token: ***")

    dry_run = world.cli.run(
        "promote", "--project", PROJECT, "--stage", "test", "--freight", world.freight,
        "--dry-run", timeout=300,
    )  # fmt: skip
    assert dry_run.returncode == 0, (dry_run.stdout, dry_run.stderr)
    assert "+  token: ***" in dry_run.stdout
    as_json = world.cli.run(
        "preview", "--project", PROJECT, "--stage", "test", "--freight", world.freight,
        "-o", "json", timeout=300,
    )  # fmt: skip
    assert as_json.returncode == 0, as_json.stderr
    for text in (dry_run.stdout, dry_run.stderr, as_json.stdout, world.server.logs()):
        for secret in SECRETS:
            assert secret not in text
