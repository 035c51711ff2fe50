"""Read and delete routes: projects, per-project kinds, aliases, paging, redaction, probes."""

from __future__ import annotations

from kargo.server import redact

PROJECT = {
    "apiVersion": "kargo.akuity.io/v1alpha1",
    "kind": "Project",
    "metadata": {"name": "demo"},
}


def _cm(name, ns="demo", **data):
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": ns},
        "data": data,
    }


async def test_list_and_get_projects(api_env, api):
    await api_env.store.create(PROJECT)
    listed = (await api.get("/v1beta1/projects")).json()
    assert listed["kind"] == "ProjectList"
    assert [p["metadata"]["name"] for p in listed["items"]] == ["demo"]
    assert listed["metadata"]["resourceVersion"]
    one = await api.get("/v1beta1/projects/demo")
    assert one.status_code == 200
    assert one.json()["metadata"]["name"] == "demo"


async def test_missing_project_is_404_naming_it(api):
    response = await api.get("/v1beta1/projects/nope/stages")
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["reason"] == "NotFound"
    assert "project 'nope' not found" in error["message"]


async def test_pages_follow_continue_tokens_without_gaps(api_env, api):
    await api_env.store.create(PROJECT)
    for i in range(5):
        await api_env.store.create(_cm(f"cm-{i}"))
    names, token, pages = [], None, 0
    while True:
        params = {"limit": "2"} | ({"continue": token} if token else {})
        body = (await api.get("/v1beta1/projects/demo/configmaps", params=params)).json()
        names += [i["metadata"]["name"] for i in body["items"]]
        pages += 1
        token = body["metadata"].get("continue")
        if not token:
            break
    assert names == [f"cm-{i}" for i in range(5)]
    assert pages == 3


async def test_bad_limit_is_400_in_the_one_shape(api):
    response = await api.get("/v1beta1/projects/demo/stages", params={"limit": "0"})
    assert response.status_code == 400
    assert response.json()["error"]["problems"][0]["path"] == "query.limit"


async def test_freight_is_found_by_name_or_alias(api_env, api):
    await api_env.store.create(PROJECT)
    freight = {
        "apiVersion": "kargo.akuity.io/v1alpha1",
        "kind": "Freight",
        "metadata": {
            "name": "f0e1d2",
            "namespace": "demo",
            "labels": {"kargo.akuity.io/alias": "wonky-wombat"},
        },
        "alias": "wonky-wombat",
        "origin": {"kind": "Warehouse", "name": "w"},
        "images": [{"repoURL": "example/app", "tag": "1.0.0"}],
    }
    await api_env.store.create(freight)
    by_name = await api.get("/v1beta1/projects/demo/freight/f0e1d2")
    by_alias = await api.get("/v1beta1/projects/demo/freight/wonky-wombat")
    assert by_name.json()["metadata"]["name"] == by_alias.json()["metadata"]["name"] == "f0e1d2"
    missing = await api.get("/v1beta1/projects/demo/freight/nope")
    assert missing.status_code == 404
    assert "by name or alias" in missing.json()["error"]["message"]


async def test_delete_removes_the_object(api_env, api):
    await api_env.store.create(PROJECT)
    await api_env.store.create(_cm("gone"))
    response = await api.delete("/v1beta1/projects/demo/configmaps/gone")
    assert response.json() == {
        "kind": "ConfigMap",
        "namespace": "demo",
        "name": "gone",
        "result": "deleted",
    }
    assert (await api.get("/v1beta1/projects/demo/configmaps/gone")).status_code == 404


async def test_delete_project_cascades(api_env, api):
    await api_env.store.create(PROJECT)
    await api_env.store.create(_cm("inside"))
    assert (await api.delete("/v1beta1/projects/demo")).status_code == 200
    assert (await api.get("/v1beta1/projects/demo")).status_code == 404


async def test_credentials_are_listed_with_values_redacted(api_env, api):
    await api_env.store.create(PROJECT)
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "repo",
            "namespace": "demo",
            "labels": {"kargo.akuity.io/cred-type": "git"},
        },
        "stringData": {
            "repoURL": "https://git.example/r.git",
            "username": "bot",
            "password": "hunter2-canary",
        },
    }
    await api_env.store.create(secret)
    for path in (
        "/v1beta1/projects/demo/repo-credentials",
        "/v1beta1/projects/demo/repo-credentials/repo",
    ):
        response = await api.get(path)
        assert response.status_code == 200
        assert "hunter2-canary" not in response.text
        assert redact.REDACTED in response.text
        assert "https://git.example/r.git" in response.text
    generic = await api.get("/v1beta1/projects/demo/generic-credentials/repo")
    assert generic.status_code == 404


async def test_probes_and_openapi_need_no_token(api_env):
    for path in ("/healthz", "/readyz", "/openapi.json"):
        assert (await api_env.anon.get(path)).status_code == 200
    spec = (await api_env.anon.get("/openapi.json")).json()
    assert "/v1beta1/resources" in spec["paths"]
    assert "/v1beta1/projects/{project}/freight/{name}" in spec["paths"]


async def test_server_version(api):
    body = (await api.get("/v1beta1/system/server-version")).json()
    assert body["version"]
