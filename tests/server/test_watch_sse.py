"""`?watch=true` streams the store's events as Server-Sent Events, losing nothing after a list."""

from __future__ import annotations

import asyncio
import json

import httpx

PROJECT = {
    "apiVersion": "kargo.akuity.io/v1alpha1",
    "kind": "Project",
    "metadata": {"name": "demo"},
}


def _cm(name, **data):
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "demo"},
        "data": data,
    }


async def _events(lines, count):
    """The next `count` events of an SSE line iterator (a deadline, never a sleep)."""
    out = []
    async with asyncio.timeout(20):
        async for line in lines:
            if line.startswith("data: "):
                out.append(json.loads(line[len("data: ") :]))
                if len(out) == count:
                    return out
    raise AssertionError(f"stream ended after {out}")


async def test_watch_from_a_lists_resource_version_gets_every_later_change(live_api):
    store = live_api.env.store
    await store.create(PROJECT)
    await store.create(_cm("before"))
    async with httpx.AsyncClient(base_url=live_api.url, headers=live_api.headers) as client:
        listed = (await client.get("/v1beta1/projects/demo/configmaps")).json()
        rv = listed["metadata"]["resourceVersion"]
        # Changes made between the list and the watch must not be lost.
        await store.create(_cm("after", a="1"))
        params = {"watch": "true", "resourceVersion": rv}
        async with client.stream(
            "GET", "/v1beta1/projects/demo/configmaps", params=params
        ) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            current = await store.get("ConfigMap", "demo", "after")
            current["data"] = {"a": "2"}
            await store.update(current)
            await store.delete("ConfigMap", "demo", "before")
            events = await _events(response.aiter_lines(), 3)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "after"),
        ("MODIFIED", "after"),
        ("DELETED", "before"),
    ]


async def test_watch_without_resource_version_starts_with_current_objects(live_api):
    store = live_api.env.store
    await store.create(PROJECT)
    await store.create(_cm("existing"))
    async with (
        httpx.AsyncClient(base_url=live_api.url, headers=live_api.headers) as client,
        client.stream(
            "GET", "/v1beta1/projects/demo/configmaps", params={"watch": "true"}
        ) as response,
    ):
        lines = response.aiter_lines()
        first = await _events(lines, 1)
        await store.create(_cm("new"))
        second = await _events(lines, 1)
    assert (first[0]["type"], first[0]["object"]["metadata"]["name"]) == ("ADDED", "existing")
    assert (second[0]["type"], second[0]["object"]["metadata"]["name"]) == ("ADDED", "new")


async def test_watching_one_object_ignores_its_neighbours_and_redacts_secrets(live_api):
    store = live_api.env.store
    await store.create(PROJECT)
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "s",
            "namespace": "demo",
            "labels": {"kargo.akuity.io/cred-type": "generic"},
        },
        "stringData": {"token": "canary-watch-value"},
    }
    await store.create(secret)
    async with (
        httpx.AsyncClient(base_url=live_api.url, headers=live_api.headers) as client,
        client.stream(
            "GET", "/v1beta1/projects/demo/generic-credentials/s", params={"watch": "true"}
        ) as response,
    ):
        lines = response.aiter_lines()
        initial = await _events(lines, 1)
        await store.create({**secret, "metadata": {**secret["metadata"], "name": "other"}})
        current = await store.get("Secret", "demo", "s")
        current["stringData"] = {"token": "canary-watch-value-2"}
        await store.update(current)
        changed = await _events(lines, 1)
    assert initial[0]["object"]["metadata"]["name"] == "s"
    assert changed[0]["type"] == "MODIFIED"
    assert changed[0]["object"]["metadata"]["name"] == "s"
    assert "canary-watch-value" not in json.dumps(initial + changed)


async def test_watch_needs_a_token(live_api):
    async with httpx.AsyncClient(base_url=live_api.url) as client:
        response = await client.get("/v1beta1/projects", params={"watch": "true"})
    assert response.status_code == 401


async def test_watch_from_a_compacted_resource_version_ends_with_an_error_event(
    tmp_path, auth_state
):
    from datetime import timedelta

    from kargo import store as store_pkg
    from kargo.server import app as app_mod, auth, settings as settings_mod
    from tests.server.conftest import serving

    retention = store_pkg.EventRetention(
        max_events=1, max_age=timedelta(hours=1), compact_every_writes=1
    )
    store = await store_pkg.open_store(f"sqlite:///{tmp_path / 'k.db'}", retention=retention)
    try:
        await store.create(PROJECT)
        for i in range(4):
            await store.create(_cm(f"c{i}"))
        settings = settings_mod.Settings.from_env({}, data_dir=tmp_path, components="api")
        app = app_mod.create_app(settings, store, auth_state=auth_state)
        token, _ = auth.issue_token(auth_state, app.state.kargo.clock.now())
        async with (
            serving(app) as url,
            httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}) as client,
        ):
            params = {"watch": "true", "resourceVersion": "1"}
            async with client.stream(
                "GET", "/v1beta1/projects/demo/configmaps", params=params
            ) as response:
                events = await _events(response.aiter_lines(), 1)
    finally:
        await store.close()
    assert events[0]["type"] == "ERROR"
    error = events[0]["object"]["error"]
    assert error["status"] == 409
    assert "too old" in error["message"]
