"""Warehouses end to end: `kargo server` (API + controllers) as a subprocess, the `kargo` CLI,
an htpasswd registry and a basic-auth git server. Credentials go in through
`kargo create repo-credentials`, Freight comes out of `kargo refresh warehouse --wait` and
`kargo get freight`, and the canary passwords never appear in any CLI output, API response,
the server log or the database file."""

from __future__ import annotations

import json

import httpx
import pytest
import yaml

from tests.fixtures.git import GIT_PASSWORD, GIT_USER
from tests.fixtures.registry import AUTH_PASSWORD, AUTH_USER, Pusher, unique_repo
from tests.fixtures.server import start_kargo_server

PROJECT = "e2e"


@pytest.fixture
def server(tmp_path):
    srv = start_kargo_server(
        tmp_path,
        components="api,controllers",
        env={"KARGO_ALLOW_CREDENTIALS_OVER_HTTP": "true"},
    )
    try:
        yield srv
    finally:
        srv.stop()


def manifests(image_url: str, git_url: str) -> str:
    return yaml.safe_dump_all(
        [
            {
                "apiVersion": "kargo.akuity.io/v1alpha1",
                "kind": "Project",
                "metadata": {"name": PROJECT},
            },
            {
                "apiVersion": "kargo.akuity.io/v1alpha1",
                "kind": "Warehouse",
                "metadata": {"name": "app", "namespace": PROJECT},
                "spec": {
                    "interval": "5m",
                    "subscriptions": [
                        {"image": {"repoURL": image_url, "constraint": "^1.0.0"}},
                        {"git": {"repoURL": git_url}},
                    ],
                },
            },
        ]
    )


def test_credentials_warehouse_refresh_and_freight_through_the_cli(
    server, kargo_cli, auth_registry, git_server, tmp_path
):
    repo = unique_repo("e2e")
    with Pusher(auth_registry.url, auth=auth_registry.auth) as p:
        p.image(repo, "1.0.0")
        p.image(repo, "1.1.0")
    image_url = f"{auth_registry.host}/{repo}"
    git_url = git_server.create_repo("app")
    writer = git_server.writer("app")
    first = writer.commit({"app.yaml": "v: 1"}, "first")
    head = writer.commit({"app.yaml": "v: 2"}, "second")
    outputs: list[str] = []

    def kargo(*args: str, stdin: str | None = None, ok: bool = True):
        result = kargo_cli.run(*args, stdin=stdin)
        outputs.extend([result.stdout, result.stderr])
        if ok:
            assert result.returncode == 0, (args, result.stdout, result.stderr, server.logs())
        return result

    kargo_cli.login(server.url)
    kargo("config", "set-project", PROJECT)
    files = tmp_path / "manifests.yaml"
    files.write_text(manifests(image_url, git_url))
    project_only = tmp_path / "project.yaml"
    project_only.write_text(manifests(image_url, git_url).split("---")[0])
    kargo("apply", "-f", str(project_only))
    kargo(
        "create", "repo-credentials", "registry", "--image", "--repo-url", image_url,
        "--username", AUTH_USER, "--password-stdin", stdin=AUTH_PASSWORD + "\n",
    )  # fmt: skip
    kargo(
        "create", "repo-credentials", "gitserver", "--git", "--repo-url", git_url,
        "--username", GIT_USER, "--password-stdin", stdin=GIT_PASSWORD + "\n",
    )  # fmt: skip
    kargo("apply", "-f", str(files))

    refreshed = kargo("refresh", "warehouse", "app", "--wait", "--timeout", "120")
    assert "refreshed" in refreshed.stdout

    got = kargo("get", "freight", "-o", "json")
    [freight] = json.loads(got.stdout)["items"]
    assert freight["images"][0]["tag"] == "1.1.0"
    assert freight["commits"][0]["id"] == head
    assert freight["origin"] == {"kind": "Warehouse", "name": "app"}

    table = kargo("get", "warehouses").stdout
    assert "app" in table
    assert "True" in table
    assert freight["metadata"]["name"][:7] in table

    # Assemble a second Freight by hand from what the Warehouse discovered.
    made = kargo(
        "create", "freight", "--warehouse", "app", "--image", f"{image_url}:1.0.0",
        "--commit", f"{git_url}@{first[:10]}", "-o", "json",
    )  # fmt: skip
    assembled = json.loads(made.stdout)
    assert assembled["images"][0]["tag"] == "1.0.0"
    assert assembled["commits"][0]["id"] == first
    assert len(json.loads(kargo("get", "freight", "-o", "json").stdout)["items"]) == 2

    # A pick the Warehouse never discovered is refused with what would work.
    bad = kargo(
        "create", "freight", "--warehouse", "app", "--image", f"{image_url}:9.9.9",
        "--commit", f"{git_url}@{head}", ok=False,
    )  # fmt: skip
    assert bad.returncode == 2
    assert "9.9.9 is not among the references discovered" in bad.stderr
    assert "1.1.0" in bad.stderr

    # The API never returns the passwords; the database holds them sealed.
    token = yaml.safe_load((kargo_cli.home / ".config" / "kargo" / "config").read_text())
    bearer = token.get("bearerToken") or token.get("bearer_token") or token.get("token")
    headers = {"Authorization": f"Bearer {bearer}"}
    responses = [
        httpx.get(f"{server.url}/v1beta1/projects/{PROJECT}/repo-credentials", headers=headers),
        httpx.get(
            f"{server.url}/v1beta1/projects/{PROJECT}/repo-credentials/gitserver", headers=headers
        ),
        httpx.get(f"{server.url}/v1beta1/projects/{PROJECT}/warehouses/app", headers=headers),
    ]
    for response in responses:
        assert response.status_code == 200, response.text
        outputs.append(response.text)
    listed = responses[0].json()["items"]
    assert {s["metadata"]["name"] for s in listed} == {"registry", "gitserver"}
    database = (server.data_dir / "kargo.db").read_bytes()
    for canary in (GIT_PASSWORD, AUTH_PASSWORD):
        assert canary.encode() not in database
        for text in [*outputs, server.logs()]:
            assert canary not in text


def test_refresh_reports_an_unknown_project_and_a_warehouse_that_cannot_discover(
    server, kargo_cli, git_down_url, tmp_path
):
    kargo_cli.login(server.url)
    result = kargo_cli.run("refresh", "warehouse", "nope", "--project", "missing")
    assert result.returncode == 3
    assert "project 'missing' not found" in result.stderr

    files = tmp_path / "down.yaml"
    files.write_text(manifests("127.0.0.1:1/none/app", git_down_url))
    assert kargo_cli.run("apply", "-f", str(files)).returncode == 0
    result = kargo_cli.run(
        "refresh", "warehouse", "app", "--project", PROJECT, "--wait", "--timeout", "120"
    )
    assert result.returncode == 8, (result.stdout, result.stderr)
    assert "DiscoveryFailed" in result.stderr
    assert git_down_url in result.stderr
    table = kargo_cli.run("get", "warehouses", "--project", PROJECT).stdout
    assert "False" in table
    assert "DiscoveryFailed" in table
