"""`--components`: a controllers-only process serves probes but no API routes."""

from __future__ import annotations

import httpx

from kargo.server import app as app_mod, settings as settings_mod


async def test_controllers_only_app_serves_probes_not_the_api(tmp_path, api_env, auth_state):
    settings = settings_mod.Settings.from_env({}, data_dir=tmp_path / "c", components="controllers")
    app = app_mod.create_app(settings, api_env.store, auth_state=auth_state)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as client:
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/readyz")).status_code == 200
        missing = await client.get(
            "/v1beta1/projects", headers={"Authorization": f"Bearer {api_env.token}"}
        )
        assert missing.status_code == 404
        assert missing.json()["error"]["reason"] == "NotFound"
