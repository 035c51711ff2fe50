"""Every API route but login and probes needs a valid bearer token; login issues one."""

from __future__ import annotations

from datetime import timedelta


async def test_no_token_is_401_with_how_to_log_in(api_env):
    response = await api_env.anon.get("/v1beta1/projects")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "kargo login" in response.json()["error"]["message"]


async def test_garbage_and_wrong_scheme_are_401(api_env):
    for header in ("Bearer not-a-jwt", "Basic YWRtaW46YWRtaW4=", "Bearer "):
        response = await api_env.anon.get("/v1beta1/projects", headers={"Authorization": header})
        assert response.status_code == 401, header


async def test_token_expires_after_24h_of_the_app_clock(api_env, api):
    assert (await api.get("/v1beta1/projects")).status_code == 200
    api_env.clock.advance(timedelta(hours=24, seconds=1))
    response = await api.get("/v1beta1/projects")
    assert response.status_code == 401
    assert "expired" in response.json()["error"]["message"]


async def test_login_with_the_admin_password_returns_a_working_token(api_env):
    response = await api_env.anon.post(
        "/v1beta1/login", json={"password": "test-admin-password-0123"}
    )
    assert response.status_code == 200
    token = response.json()["token"]
    listed = await api_env.anon.get(
        "/v1beta1/projects", headers={"Authorization": f"Bearer {token}"}
    )
    assert listed.status_code == 200


async def test_login_with_a_wrong_password_is_401_without_echoing_it(api_env):
    response = await api_env.anon.post("/v1beta1/login", json={"password": "guess-guess-guess"})
    assert response.status_code == 401
    assert "guess-guess-guess" not in response.text


async def test_resources_need_a_token(api_env):
    response = await api_env.anon.put("/v1beta1/resources", content="kind: Project\n")
    assert response.status_code == 401
