"""Every route answers every error in ONE JSON shape: {"error": {status, reason, message, problems?}}.

Walks `app.routes` so a new route is covered the day it is added (Datasette's test_error_shape).
"""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi.routing import APIRoute

from kargo import store as store_pkg
from kargo.server import app as app_mod, auth, settings as settings_mod

PUBLIC = {
    "/healthz",
    "/readyz",
    "/v1beta1/login",
    "/openapi.json",
    "/docs",
    "/docs/oauth2-redirect",
    "/redoc",
}

TAKES_NO_INPUT = {"/v1beta1/system/server-version"}  # auth is its only failure (tested above)


def assert_error_shape(response: httpx.Response) -> dict:
    assert response.status_code >= 400, (response.request.url, response.status_code)
    assert response.headers["content-type"].startswith("application/json"), response.text
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) <= {"status", "reason", "message", "problems"}, error
    assert error["status"] == response.status_code
    assert isinstance(error["reason"], str)
    assert error["reason"]
    assert isinstance(error["message"], str)
    assert error["message"]
    for problem in error.get("problems", []):
        assert isinstance(problem["message"], str)
        assert problem["message"]
    return error


@pytest.fixture
async def env(tmp_path, auth_state):
    settings = settings_mod.Settings.from_env({}, data_dir=tmp_path, components="api")
    store = await store_pkg.open_store(f"sqlite:///{tmp_path / 'k.db'}")
    app = app_mod.create_app(settings, store, auth_state=auth_state)
    token, _ = auth.issue_token(auth_state, app.state.kargo.clock.now())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield app, client, {"Authorization": f"Bearer {token}"}
    await store.close()


@pytest.fixture(scope="session")
def auth_state(tmp_path_factory):
    settings = settings_mod.Settings.from_env(
        {}, data_dir=tmp_path_factory.mktemp("shape"), admin_password="shape-admin-password"
    )
    return auth.bootstrap(settings).state


def _routes(app):
    for route in app.routes:
        if isinstance(route, APIRoute):
            for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
                yield method, route.path


def _fill(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "does-not-exist", path)


async def test_every_protected_route_refuses_a_missing_token(env):
    app, client, _ = env
    seen = 0
    for method, path in _routes(app):
        if path in PUBLIC:
            continue
        response = await client.request(method, _fill(path))
        error = assert_error_shape(response)
        assert response.status_code == 401, (method, path)
        assert error["reason"] == "Unauthenticated"
        seen += 1
    assert seen > 30


async def test_every_route_answers_bad_input_in_the_one_shape(env):
    app, client, headers = env
    for method, path in _routes(app):
        if path in PUBLIC and method == "GET":
            continue
        url = _fill(path)
        params = {}
        if method == "GET" and "{" not in path:
            params = {"limit": "-1", "resourceVersion": "not-a-number"}
        if path in TAKES_NO_INPUT:
            continue
        body = b"\xff not yaml" if path.endswith("resources") else None
        sent = dict(headers)
        if path == "/v1beta1/login":
            body = b"{not json"
            sent["Content-Type"] = "application/json"
        response = await client.request(method, url, params=params, headers=sent, content=body)
        assert_error_shape(response)


async def test_unknown_route_and_wrong_method_use_the_shape(env):
    _, client, headers = env
    missing = await client.get("/v1beta1/nowhere", headers=headers)
    assert assert_error_shape(missing)["reason"] == "NotFound"
    wrong = await client.patch("/v1beta1/projects", headers=headers)
    assert wrong.status_code == 405
    assert assert_error_shape(wrong)["reason"] == "MethodNotAllowed"


async def test_login_body_validation_uses_the_shape(env):
    _, client, _ = env
    response = await client.post("/v1beta1/login", json={})
    error = assert_error_shape(response)
    assert response.status_code == 400
    assert error["problems"][0]["path"] == "body.password"


class BrokenStore:
    """A Store whose every call fails unexpectedly (a protocol fake, to reach the 500 path)."""

    def __getattr__(self, name):
        async def fail(*_args, **_kwargs):
            raise RuntimeError("internal-detail-that-must-not-leak")

        return fail


async def test_unexpected_exceptions_are_a_generic_500_without_internals(
    tmp_path, auth_state, caplog
):
    settings = settings_mod.Settings.from_env({}, data_dir=tmp_path, components="api")
    app = app_mod.create_app(settings, BrokenStore(), auth_state=auth_state)
    token, _ = auth.issue_token(auth_state, app.state.kargo.clock.now())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get(
            "/v1beta1/projects", headers={"Authorization": f"Bearer {token}"}
        )
        ready = await client.get("/readyz")
    assert_error_shape(response)
    assert response.status_code == 500
    assert "internal-detail-that-must-not-leak" not in response.text
    assert "internal-detail-that-must-not-leak" in caplog.text  # the log has the traceback
    assert assert_error_shape(ready)["reason"] == "Unavailable"
    assert "internal-detail" not in ready.text
