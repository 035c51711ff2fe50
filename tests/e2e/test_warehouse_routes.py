"""The Warehouse and credentials routes in-process (the real app on a real SQLite file, through
httpx.ASGITransport): refresh tokens, Freight assembled by hand with every refusal explained,
repository credentials sealed at rest and redacted in every answer."""

from __future__ import annotations

import json

import httpx
import pytest

from kargo import store as store_pkg
from kargo.server import app as app_mod, auth, credentials_routes, settings as settings_mod

P = "demo"
IMAGE = "ghcr.io/acme/api"
GIT = "https://git.example/acme/app.git"
CHART = "https://charts.example"
SHA1 = "a" * 40
SHA2 = "ab" + "c" * 38
CANARY = "route-canary-password-91f2"


@pytest.fixture
async def env(tmp_path):
    settings = settings_mod.Settings.from_env(
        {}, data_dir=tmp_path, components="api", admin_password="routes-admin-password"
    )
    raw = await store_pkg.open_store(f"sqlite:///{tmp_path / 'k.db'}")
    store = credentials_routes.sealing_store(raw, settings)
    state = auth.bootstrap(settings).state
    app = app_mod.create_app(settings, store, auth_state=state)
    token, _ = auth.issue_token(state, app.state.kargo.clock.now())
    await store.create(
        {"apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Project", "metadata": {"name": P}}
    )
    warehouse = await store.create(
        {
            "apiVersion": "kargo.akuity.io/v1alpha1",
            "kind": "Warehouse",
            "metadata": {"name": "w", "namespace": P},
            "spec": {
                "subscriptions": [
                    {"image": {"repoURL": IMAGE}},
                    {"git": {"repoURL": GIT}},
                    {"chart": {"repoURL": CHART, "name": "web"}},
                ]
            },
        }
    )
    warehouse["status"] = {
        "discoveredArtifacts": {
            "discoveredAt": "2026-01-01T00:00:00Z",
            "images": [
                {
                    "repoURL": IMAGE,
                    "references": [
                        {"tag": "1.1.0", "digest": "sha256:" + "1" * 64},
                        {"tag": "1.0.0", "digest": "sha256:" + "0" * 64},
                    ],
                }
            ],
            "git": [
                {
                    "repoURL": GIT,
                    "commits": [
                        {"id": SHA2, "subject": "newer", "branch": "main"},
                        {"id": SHA1, "subject": "older", "branch": "main"},
                    ],
                }
            ],
            "charts": [{"repoURL": CHART, "name": "web", "versions": ["0.2.0", "0.1.0"]}],
        }
    }
    await store.update_status(warehouse)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://t",
        headers={"Authorization": f"Bearer {token}"},
    ) as client:
        yield client, store, raw
    await raw.close()


def picks(**overrides):
    body = {
        "images": [f"{IMAGE}:1.0.0"],
        "commits": [f"{GIT}@{SHA1[:8]}"],
        "charts": [f"{CHART}/web:0.1.0"],
    }
    body.update(overrides)
    return body


async def test_refresh_sets_a_new_token_each_time(env):
    client, store, _ = env
    first = await client.post(f"/v1beta1/projects/{P}/warehouses/w/refresh")
    second = await client.post(f"/v1beta1/projects/{P}/warehouses/w/refresh")
    assert first.status_code == second.status_code == 200
    assert first.json()["token"] != second.json()["token"]
    stored = await store.get("Warehouse", P, "w")
    assert stored["metadata"]["annotations"]["kargo.akuity.io/refresh"] == second.json()["token"]


async def test_refresh_of_a_missing_warehouse_says_how_to_list_them(env):
    client, _, _ = env
    response = await client.post(f"/v1beta1/projects/{P}/warehouses/nope/refresh")
    assert response.status_code == 404
    assert "kargo get warehouses --project demo" in response.json()["error"]["message"]


async def test_assembled_freight_takes_details_from_the_discovered_artifacts(env):
    client, _, _ = env
    response = await client.post(f"/v1beta1/projects/{P}/warehouses/w/freight", json=picks())
    assert response.status_code == 201, response.text
    freight = response.json()
    assert freight["images"] == [{"repoURL": IMAGE, "tag": "1.0.0", "digest": "sha256:" + "0" * 64}]
    assert freight["commits"][0]["id"] == SHA1
    assert freight["commits"][0]["message"] == "older"
    assert freight["charts"] == [{"repoURL": CHART, "name": "web", "version": "0.1.0"}]
    assert len(freight["metadata"]["name"]) == 40
    assert freight["alias"]

    again = await client.post(f"/v1beta1/projects/{P}/warehouses/w/freight", json=picks())
    assert again.status_code == 409
    assert freight["metadata"]["name"] in again.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (picks(images=[f"{IMAGE}:9.9.9"]), ["9.9.9 is not among the references", "1.1.0, 1.0.0"]),
        (picks(images=["docker.io/other/x:1.0.0"]), ["not one of Warehouse 'w'", IMAGE]),
        (picks(commits=[f"{GIT}@abc"]), ["too short"]),
        (picks(commits=[f"{GIT}@{'f' * 12}"]), ["not among the commits", SHA2[:12]]),
        (picks(commits=[f"{GIT}@{SHA1[:7]}", f"{GIT}@{SHA2}"]), ["one artifact per"]),
        (picks(charts=[f"{CHART}/web:3.0.0"]), ["version 3.0.0 is not among", "0.2.0, 0.1.0"]),
        (picks(charts=["no-version"]), ["malformed"]),
        (picks(charts=[]), ["missing: --chart https://charts.example/web:VERSION"]),
    ],
)
async def test_assembling_refuses_picks_the_warehouse_never_discovered(env, body, expected):
    client, _, _ = env
    response = await client.post(f"/v1beta1/projects/{P}/warehouses/w/freight", json=body)
    assert response.status_code == 400, response.text
    text = json.dumps(response.json())
    for fragment in expected:
        assert fragment in text


async def test_repo_credentials_are_sealed_at_rest_and_redacted_in_answers(env):
    client, _, raw = env
    body = {
        "name": "gh",
        "type": "git",
        "repoURL": GIT,
        "username": "bot",
        "password": CANARY,
    }
    created = await client.post(f"/v1beta1/projects/{P}/repo-credentials", json=body)
    assert created.status_code == 201, created.text
    listed = await client.get(f"/v1beta1/projects/{P}/repo-credentials")
    one = await client.get(f"/v1beta1/projects/{P}/repo-credentials/gh")
    for response in (created, listed, one):
        assert CANARY not in response.text
    secret = one.json()
    assert secret["stringData"]["repoURL"] == GIT
    assert secret["stringData"]["username"] == "bot"
    assert secret["metadata"]["labels"]["kargo.akuity.io/cred-type"] == "git"
    at_rest = await raw.get("Secret", P, "gh")
    assert CANARY not in json.dumps(at_rest)
    assert all(v.startswith("sealed:") for v in at_rest["data"].values())

    duplicate = await client.post(f"/v1beta1/projects/{P}/repo-credentials", json=body)
    assert duplicate.status_code == 409
    assert CANARY not in duplicate.text


async def test_secrets_applied_as_manifests_are_sealed_too(env):
    client, _, raw = env
    manifest = (
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: reg\n  namespace: demo\n"
        "  labels:\n    kargo.akuity.io/cred-type: image\n"
        f"stringData:\n  repoURL: {IMAGE}\n  username: u\n  password: {CANARY}\n"
    )
    response = await client.put(
        "/v1beta1/resources", content=manifest, headers={"Content-Type": "application/yaml"}
    )
    assert response.status_code == 200, response.text
    assert CANARY not in response.text
    assert CANARY not in json.dumps(await raw.get("Secret", P, "reg"))
    again = await client.put(
        "/v1beta1/resources", content=manifest, headers={"Content-Type": "application/yaml"}
    )
    assert again.json()["results"][0]["result"] == "unchanged"


async def test_a_bad_credentials_regex_is_refused_with_a_fix(env):
    client, _, _ = env
    body = {"name": "rx", "type": "image", "repoURL": "ghcr.io/(", "repoURLIsRegex": True}
    response = await client.post(f"/v1beta1/projects/{P}/repo-credentials", json=body)
    assert response.status_code == 400
    assert "not a valid regular expression" in response.json()["error"]["message"]


def test_the_secrets_key_is_generated_once_with_mode_0600(tmp_path):
    settings = settings_mod.Settings.from_env({}, data_dir=tmp_path)
    key = credentials_routes.secrets_key(settings, env={})
    assert credentials_routes.secrets_key(settings, env={}) == key
    assert (tmp_path / "secrets.key").stat().st_mode & 0o777 == 0o600
    assert credentials_routes.secrets_key(settings, env={"KARGO_SECRETS_KEY": "k"}) == "k"


async def test_shared_repo_credentials_live_in_the_shared_namespace(env):
    client, _, raw = env
    body = {"name": "all", "type": "helm", "repoURL": CHART, "password": CANARY}
    created = await client.post("/v1beta1/shared/repo-credentials", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["metadata"]["namespace"] == "kargo-shared-resources"
    listed = await client.get("/v1beta1/shared/repo-credentials")
    assert [s["metadata"]["name"] for s in listed.json()["items"]] == ["all"]
    assert CANARY not in listed.text
    assert CANARY not in json.dumps(await raw.get("Secret", "kargo-shared-resources", "all"))
