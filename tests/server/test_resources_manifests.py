"""/v1beta1/resources: multi-document create, apply and delete, all-or-nothing validation."""

from __future__ import annotations

from kargo.server import redact
from tests.server.quickstart import CANARY_PAT, quickstart_yaml

PROJECT = "apiVersion: kargo.akuity.io/v1alpha1\nkind: Project\nmetadata:\n  name: demo\n"
YAML = {"Content-Type": "application/yaml"}


def _results(response):
    assert response.status_code == 200, response.text
    return [(r["kind"], r["name"], r["result"]) for r in response.json()["results"]]


async def test_apply_quickstart_creates_every_object_projects_first(api):
    response = await api.put("/v1beta1/resources", content=quickstart_yaml(), headers=YAML)
    results = _results(response)
    assert results[0] == ("Project", "kargo-demo", "created")
    assert {r[2] for r in results} == {"created"}
    assert sorted(r[1] for r in results if r[0] == "Stage") == ["prod", "test", "uat"]
    assert CANARY_PAT not in response.text
    assert redact.REDACTED in response.text
    stages = (await api.get("/v1beta1/projects/kargo-demo/stages")).json()["items"]
    assert sorted(s["metadata"]["name"] for s in stages) == ["prod", "test", "uat"]
    warehouse = (await api.get("/v1beta1/projects/kargo-demo/warehouses/kargo-demo")).json()
    assert warehouse["spec"]["subscriptions"][0]["image"]["repoURL"] == "public.ecr.aws/nginx/nginx"


async def test_reapplying_the_same_manifests_creates_nothing(api):
    await api.put("/v1beta1/resources", content=quickstart_yaml(), headers=YAML)
    again = _results(await api.put("/v1beta1/resources", content=quickstart_yaml(), headers=YAML))
    assert {r[2] for r in again} == {"unchanged"}


async def test_one_invalid_document_stores_nothing_and_reports_where(api):
    bad = PROJECT + (
        "---\napiVersion: kargo.akuity.io/v1alpha1\nkind: Warehouse\nmetadata:\n"
        "  name: w\n  namespace: demo\nspec:\n  subscriptions:\n  - image:\n      constraint: ^1.0.0\n"
    )
    response = await api.put("/v1beta1/resources", content=bad, headers=YAML)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["reason"] == "Invalid"
    assert error["problems"], error
    assert any("repoURL" in (p.get("path", "") + p["message"]) for p in error["problems"])
    assert (await api.get("/v1beta1/projects")).json()["items"] == []


async def test_document_in_a_missing_project_says_to_create_it(api):
    doc = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: ghost\ndata: {}\n"
    response = await api.post("/v1beta1/resources", content=doc, headers=YAML)
    assert response.status_code == 400
    problem = response.json()["error"]["problems"][0]
    assert "project 'ghost' does not exist" in problem["message"]
    assert "Project" in problem["hint"]


async def test_create_of_an_existing_object_fails_only_that_object(api):
    assert _results(await api.post("/v1beta1/resources", content=PROJECT, headers=YAML)) == [
        ("Project", "demo", "created")
    ]
    cm = "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: demo\ndata: {}\n"
    response = await api.post("/v1beta1/resources", content=PROJECT + cm, headers=YAML)
    results = response.json()["results"]
    assert [(r["kind"], r["result"]) for r in results] == [
        ("Project", "failed"),
        ("ConfigMap", "created"),
    ]
    assert results[0]["error"]["reason"] == "AlreadyExists"
    assert results[0]["error"]["status"] == 409


async def test_delete_by_manifest_removes_objects_children_first(api):
    await api.put("/v1beta1/resources", content=quickstart_yaml(), headers=YAML)
    results = _results(
        await api.request("DELETE", "/v1beta1/resources", content=quickstart_yaml(), headers=YAML)
    )
    assert results[-1] == ("Project", "kargo-demo", "deleted")
    assert {r[2] for r in results} == {"deleted"}
    assert (await api.get("/v1beta1/projects/kargo-demo")).status_code == 404


async def test_non_utf8_and_empty_bodies_are_clear_400s(api):
    binary = await api.post("/v1beta1/resources", content=b"\xff\xfe\x00", headers=YAML)
    assert binary.status_code == 400
    assert "UTF-8" in binary.json()["error"]["message"]
    empty = await api.post("/v1beta1/resources", content=b"", headers=YAML)
    assert empty.status_code == 400
    assert "no documents" in empty.text


async def test_syntax_errors_carry_line_numbers(api):
    response = await api.post(
        "/v1beta1/resources", content=PROJECT + "---\nkind: [unclosed\n", headers=YAML
    )
    assert response.status_code == 400
    problems = response.json()["error"]["problems"]
    assert any(p.get("line") for p in problems), problems


async def test_oversized_bodies_are_refused_before_parsing(api_env, api):
    limit = api_env.app.state.kargo.settings.max_body_bytes

    async def chunks():
        for _ in range(limit // 65536 + 2):
            yield b"#" * 65536

    response = await api.put("/v1beta1/resources", content=chunks(), headers=YAML)
    assert response.status_code == 400
    assert "byte limit" in response.json()["error"]["message"]
