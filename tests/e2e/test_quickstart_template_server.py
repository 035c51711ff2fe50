"""Kargo's quickstart through a running `kargo server` (API + controllers) and the `kargo` CLI.

The quickstart's manifests (argocd-update removed, ${GITOPS_REPO_URL} pointing at a basic-auth
smart-HTTP git server seeded with kargo-demo-gitops) are applied with `kargo apply`, Freight for
an nginx image is created with `kargo create -f`, then:
- `kargo promote --dry-run` and the preview API show the exact diff and push nothing;
- `kargo promote --wait` renders the manifests with the new image tag into `stage/test`, and
  what it pushed is exactly what the preview showed.
"""

from __future__ import annotations

import json

import httpx
import pytest
import yaml

from tests.e2e.test_quickstart_template_engine import (
    IMAGE,
    PROJECT,
    REPO,
    freight_document,
    git_diff,
    git_show,
    quickstart_yaml,
    remote_refs,
    require_reference,
    seed_gitops_repo,
)
from tests.fixtures.git import GIT_PASSWORD
from tests.fixtures.server import ADMIN_PASSWORD, start_kargo_server

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


@pytest.fixture
def server(tmp_path):
    require_reference()
    srv = start_kargo_server(
        tmp_path,
        components="api,controllers",
        env={"KARGO_ALLOW_CREDENTIALS_OVER_HTTP": "true"},
    )
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def applied(server, kargo_cli, git_server, tmp_path):
    """The quickstart applied and Freight for nginx:1.29.1 created; yields the Freight name."""
    url = seed_gitops_repo(git_server)
    kargo_cli.login(server.url)
    manifests = tmp_path / "quickstart.yaml"
    manifests.write_text(quickstart_yaml(url))
    result = kargo_cli.run("apply", "-f", str(manifests))
    assert result.returncode == 0, (result.stdout, result.stderr, server.logs())
    freight_file = tmp_path / "freight.yaml"
    freight_file.write_text(yaml.safe_dump(freight_document("1.29.1")))
    result = kargo_cli.run("create", "-f", str(freight_file), "-o", "json")
    if result.returncode != 0 or not result.stdout.strip().startswith(("{", "[")):
        result = kargo_cli.run("create", "-f", str(freight_file))
    assert result.returncode == 0, (result.stdout, result.stderr)
    token = httpx.post(
        f"{server.url}/v1beta1/login", json={"password": ADMIN_PASSWORD}, timeout=30
    ).json()["token"]
    listed = httpx.get(
        f"{server.url}/v1beta1/projects/{PROJECT}/freight",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert listed.status_code == 200, listed.text
    [freight] = listed.json()["items"]
    return freight["metadata"]["name"], token


def test_dry_run_and_preview_api_show_the_exact_diff_and_push_nothing(
    server, kargo_cli, git_server, applied
):
    freight, token = applied
    refs = remote_refs(git_server)

    cli = kargo_cli.run(
        "promote", "--project", PROJECT, "--stage", "test", "--freight", freight, "--dry-run",
        timeout=300,
    )  # fmt: skip
    assert cli.returncode == 0, (cli.stdout, cli.stderr, server.logs())
    api = httpx.post(
        f"{server.url}/v1beta1/projects/{PROJECT}/stages/test/promotions/preview",
        json={"freight": freight},
        headers={"Authorization": f"Bearer {token}"},
        timeout=300,
    )
    assert api.status_code == 200, api.text

    assert remote_refs(git_server) == refs  # nothing pushed by either
    assert "refs/heads/stage/test" not in refs
    [repo] = api.json()["repositories"]
    assert repo["branch"] == "stage/test"
    assert repo["newBranch"] is True
    assert f"+      - image: {IMAGE}:1.29.1" in repo["diff"]
    # the CLI prints a header per repository, then the diff byte for byte
    assert f"=== {git_server.url(REPO)} branch stage/test (new branch)\n" in cli.stdout
    assert repo["diff"] in cli.stdout
    assert "  promo-process::step-6 (git-push): Succeeded\n" in cli.stdout
    assert "result: Succeeded" in cli.stdout
    for text in (cli.stdout, cli.stderr, api.text, server.logs()):
        assert GIT_PASSWORD not in text
    # nothing was stored either
    promos = httpx.get(
        f"{server.url}/v1beta1/projects/{PROJECT}/promotions",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    ).json()["items"]
    assert promos == []

    as_json = kargo_cli.run(
        "preview", "--project", PROJECT, "--stage", "test", "--freight", freight, "-o", "json",
        timeout=300,
    )  # fmt: skip
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout)["repositories"][0]["diff"] == repo["diff"]


def test_promote_renders_the_new_image_into_stage_test_as_previewed(
    server, kargo_cli, git_server, applied
):
    freight, token = applied
    shown = httpx.post(
        f"{server.url}/v1beta1/projects/{PROJECT}/stages/test/promotions/preview",
        json={"freight": freight},
        headers={"Authorization": f"Bearer {token}"},
        timeout=300,
    )
    assert shown.status_code == 200, shown.text

    result = kargo_cli.run(
        "promote", "--project", PROJECT, "--stage", "test", "--freight", freight, "--wait",
        "--timeout", "240",
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, (result.stdout, result.stderr, server.logs())

    deployment = yaml.safe_load(git_show(git_server, "stage/test:deployment-kargo-demo.yaml"))
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == f"{IMAGE}:1.29.1"
    page = yaml.safe_load(git_show(git_server, "stage/test:configmap-kargo-demo-content.yaml"))
    assert "<h1>test</h1>" in page["data"]["index.html"]
    [repo] = shown.json()["repositories"]
    assert git_diff(git_server, EMPTY_TREE, "stage/test") == repo["diff"]
