"""In-process API fixtures: the real app on a real SQLite file, through httpx.ASGITransport.

`api` is an authenticated client (admin token minted for the app's ManualClock); `anon` has no
token; `app_store` is the store behind both, for arranging state directly.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

import httpx
import pytest
import uvicorn

from kargo import clock as clock_mod, store as store_pkg
from kargo.server import app as app_mod, auth, settings as settings_mod
from kargo.store import interface


@dataclass
class ApiEnv:
    """Everything a test may need around the in-process app."""

    app: object
    store: interface.Store
    clock: clock_mod.ManualClock
    client: httpx.AsyncClient
    anon: httpx.AsyncClient
    token: str


@pytest.fixture(scope="session")
def auth_state(tmp_path_factory) -> auth.AuthState:
    """One bootstrap per session (bcrypt hashing is deliberately slow)."""
    data = tmp_path_factory.mktemp("auth")
    settings = settings_mod.Settings.from_env(
        {}, data_dir=data, admin_password="test-admin-password-0123"
    )
    return auth.bootstrap(settings).state


@pytest.fixture
async def api_env(tmp_path, auth_state):
    manual = clock_mod.ManualClock()
    settings = settings_mod.Settings.from_env({}, data_dir=tmp_path, components="api")
    store = await store_pkg.open_store(f"sqlite:///{tmp_path / 'kargo.db'}", clock=manual)
    app = app_mod.create_app(settings, store, clock=manual, auth_state=auth_state)
    token, _ = auth.issue_token(auth_state, manual.now())
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://kargo.test", headers=headers) as c,
        httpx.AsyncClient(transport=transport, base_url="http://kargo.test") as anon,
    ):
        yield ApiEnv(app, store, manual, c, anon, token)
    await store.close()


@pytest.fixture
def api(api_env) -> httpx.AsyncClient:
    return api_env.client


@dataclass
class LiveApi:
    """The app served by uvicorn on a loopback port, inside the test's event loop."""

    url: str
    env: ApiEnv

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.env.token}"}


@contextlib.asynccontextmanager
async def serving(app):
    """Serve `app` with uvicorn on a free loopback port in this event loop; yields its URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=None))
    async with asyncio.timeout(10):
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        async with asyncio.timeout(10):
            await task


@pytest.fixture
async def live_api(api_env):
    """Real HTTP (needed for Server-Sent Events: ASGITransport buffers whole responses)."""
    async with serving(api_env.app) as url:
        yield LiveApi(url, api_env)
