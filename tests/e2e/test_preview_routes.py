"""`POST .../stages/{stage}/promotions/preview` on the real app (in process, real SQLite store),
against Kargo's quickstart and a basic-auth git server: the diff, the refusals, and that the
remote's refs are unchanged afterwards."""

from __future__ import annotations

import httpx
import pytest

from kargo.server import app as app_mod, auth, settings as settings_mod
from tests.e2e.test_quickstart_template_engine import (
    IMAGE,
    PROJECT,
    REPO,
    QuickstartWorld,
    changed_lines,
    remote_refs,
    require_reference,
    seed_gitops_repo,
)
from tests.fixtures.git import GIT_PASSWORD

ADMIN_PASSWORD = "preview-admin-password-31c"


@pytest.fixture(scope="module")
def auth_state(tmp_path_factory: pytest.TempPathFactory) -> auth.AuthState:
    settings = settings_mod.Settings.from_env(
        {}, data_dir=tmp_path_factory.mktemp("auth"), admin_password=ADMIN_PASSWORD
    )
    return auth.bootstrap(settings).state


@pytest.fixture
async def api(tmp_path, git_server, auth_state, monkeypatch):
    """(client, world): the app over the quickstart's store; the client holds an admin token."""
    require_reference()
    monkeypatch.setenv("KARGO_ALLOW_CREDENTIALS_OVER_HTTP", "true")
    world = await QuickstartWorld.create(tmp_path, seed_gitops_repo(git_server))
    settings = settings_mod.Settings.from_env({}, data_dir=tmp_path / "data", components="api")
    app = app_mod.create_app(settings, world.store, clock=world.clock, auth_state=auth_state)
    token, _ = auth.issue_token(auth_state, world.clock.now())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://kargo.test",
        headers={"Authorization": f"Bearer {token}"},
        timeout=120,
    ) as client:
        yield client, world
    await world.store.close()


def _url(stage: str, project: str = PROJECT) -> str:
    return f"/v1beta1/projects/{project}/stages/{stage}/promotions/preview"


async def test_the_api_preview_shows_the_diff_and_pushes_nothing(api, git_server):
    client, world = api
    freight = await world.add_freight("1.29.1")
    refs = remote_refs(git_server)
    response = await client.post(_url("test"), json={"freight": freight})
    assert response.status_code == 200, response.text
    body = response.json()
    assert remote_refs(git_server) == refs
    assert body["phase"] == "Succeeded"
    assert body["available"] is True
    [repo] = body["repositories"]
    assert repo["repoURL"] == git_server.url(REPO)
    assert repo["branch"] == "stage/test"
    assert repo["newBranch"] is True
    assert f"+      - image: {IMAGE}:1.29.1" in changed_lines(repo["diff"])
    assert [s["uses"] for s in body["steps"]] == [
        "git-clone",
        "git-clear",
        "kustomize-set-image",
        "kustomize-build",
        "git-commit",
        "git-push",
    ]
    assert GIT_PASSWORD not in response.text
    assert (await world.store.list("Promotion")).items == []


async def test_the_api_preview_takes_an_alias_or_an_origin(api):
    client, world = api
    freight = await world.add_freight("1.29.1")
    alias = (await world.store.get("Freight", PROJECT, freight))["alias"]
    by_alias = await client.post(_url("test"), json={"freightAlias": alias})
    by_origin = await client.post(_url("test"), json={"origin": "Warehouse/kargo-demo"})
    assert by_alias.status_code == by_origin.status_code == 200, (by_alias.text, by_origin.text)
    assert by_alias.json()["freight"]["name"] == by_origin.json()["freight"]["name"] == freight


async def test_freight_not_yet_available_is_previewed_with_a_warning(api):
    client, world = api
    freight = await world.add_freight("1.29.1")
    response = await client.post(_url("uat"), json={"freight": freight})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["available"] is False
    [warning] = body["warnings"]
    assert "not available to Stage 'uat'" in warning
    assert "kargo approve --stage uat" in warning
    assert body["repositories"][0]["branch"] == "stage/uat"


@pytest.mark.parametrize(
    ("stage", "project", "body", "status", "words"),
    [
        ("nope", PROJECT, {"freight": "x"}, 404, "Stage 'nope' not found"),
        ("test", "nope", {"freight": "x"}, 404, "project 'nope' not found"),
        ("test", PROJECT, {"freight": "abc"}, 404, "Freight 'abc' not found"),
        ("test", PROJECT, {"freightAlias": "no-such"}, 404, "no Freight with alias"),
        ("test", PROJECT, {}, 400, "exactly one of freight, freightAlias or origin"),
        ("test", PROJECT, {"freight": "a", "origin": "b"}, 400, "exactly one of"),
        ("test", PROJECT, {"origin": "Warehouse/other"}, 400, "does not request Freight"),
        ("uat", PROJECT, {"origin": "Warehouse/kargo-demo"}, 400, "no Freight from"),
        ("test", PROJECT, {"image": "x"}, 400, "image"),
    ],
)
async def test_preview_refusals_say_what_and_how_to_fix(api, stage, project, body, status, words):
    client, _ = api
    response = await client.post(_url(stage, project), json=body)
    assert response.status_code == status, response.text
    assert words in response.text


async def test_the_preview_route_needs_a_token(api):
    client, _ = api
    response = await client.post(_url("test"), json={"freight": "x"}, headers={"Authorization": ""})
    assert response.status_code == 401
