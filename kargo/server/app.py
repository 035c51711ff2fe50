"""The app factory: `create_app(settings, store=None, *, clock=None) -> FastAPI`.

Nothing is built at import time. The factory wires the auth state (`kargo.server.auth`), the one
error shape (`kargo.server.http_errors`), login, `/v1beta1/resources` (`kargo.server.resources`),
the generated per-kind routes (`kargo.server.objects`) and health probes. Its lifespan opens the
store (unless one is passed in, which the caller then owns) and, when the `controllers`
component is enabled, runs `kargo.controller.manager.run_controllers` in the same event loop
until shutdown, with the git mirror cache it also hands to previews (`ServerState.git_mirrors`).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import inspect
import logging
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import Body, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

import kargo
from kargo import clock as clock_mod, errors, store as store_pkg
from kargo.server import (
    auth,
    credentials_routes,
    deps,
    http_errors,
    objects,
    pipeline_routes,
    preview_routes,
    resources,
    settings as settings_mod,
    warehouse_routes,
)
from kargo.store import interface

log = logging.getLogger("kargo.server")

YAML_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/yaml": {"schema": {"type": "string"}},
            "text/plain": {"schema": {"type": "string"}},
        },
        "description": "one or more YAML (or JSON) documents separated by `---`",
    }
}


class LoginRequest(BaseModel):
    """`POST /v1beta1/login`."""

    password: str = Field(min_length=1, repr=False)


class LoginResponse(BaseModel):
    """A bearer token for `Authorization: Bearer <token>`."""

    model_config = ConfigDict(populate_by_name=True)

    token: str
    expires_at: datetime = Field(alias="expiresAt")


class Health(BaseModel):
    """Probe result."""

    status: str


async def _maybe(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value


async def _open_store(settings: settings_mod.Settings, clock: clock_mod.Clock) -> interface.Store:
    store: interface.Store = await _maybe(store_pkg.open_store(settings.database_url, clock=clock))
    return credentials_routes.sealing_store(store, settings)  # Secrets sealed at rest


async def _run_controllers(state: deps.ServerState, stop: asyncio.Event) -> None:
    try:
        manager = importlib.import_module("kargo.controller.manager")
        registry_mod = importlib.import_module("kargo.promotion.registry")
    except ImportError as err:
        log.warning("controllers are not available in this build (%s); serving the API only", err)
        return
    registry = registry_mod.StepRegistry()
    steps_pkg = importlib.import_module("kargo.promotion.steps")
    loader = getattr(steps_pkg, "load_builtin_steps", None)
    if loader is not None:
        loader(registry)
    state.settings.work_root.mkdir(parents=True, exist_ok=True)
    if state.git_mirrors is None:
        state.git_mirrors = manager.mirror_cache(state.settings.work_root)
    await manager.run_controllers(
        state.store,
        clock=state.clock,
        registry=registry,
        work_root=state.settings.work_root,
        stop=stop,
        git_push_integration_policy=state.settings.git_push_integration_policy,
        mirrors=state.git_mirrors,
    )


def _shared_mirrors(settings: settings_mod.Settings) -> Any:
    """The git mirror cache the controllers will use, made before any request so previews
    share it (None when this build has no controllers)."""
    try:
        manager = importlib.import_module("kargo.controller.manager")
    except ImportError:
        return None
    return manager.mirror_cache(settings.work_root)


async def _read_body(request: Request, limit: int) -> str:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise errors.ValidationError(
            f"request body is {declared} bytes, more than the {limit}-byte limit; "
            "split the manifests into several requests"
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():  # stop reading as soon as the limit is passed
        size += len(chunk)
        if size > limit:
            raise errors.ValidationError(
                f"request body is larger than the {limit}-byte limit; "
                "split the manifests into several requests"
            )
        chunks.append(chunk)
    raw = b"".join(chunks)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise errors.ValidationError(
            f"request body is not UTF-8 text (byte {err.start}); send YAML or JSON manifests"
        ) from None


def create_app(
    settings: settings_mod.Settings,
    store: interface.Store | None = None,
    *,
    clock: clock_mod.Clock | None = None,
    auth_state: auth.AuthState | None = None,
) -> FastAPI:
    """Build the API app. `store`, when given, is used as is and not closed at shutdown."""
    the_clock: clock_mod.Clock = clock or clock_mod.SystemClock()
    state = deps.ServerState(
        settings=settings,
        clock=the_clock,
        auth=auth_state or auth.bootstrap(settings).state,
        store_=store,
    )

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        owned = state.store_ is None
        if owned:
            state.store_ = await _open_store(settings, the_clock)
        stop = asyncio.Event()
        task: asyncio.Task[None] | None = None
        if "controllers" in settings.components:
            state.git_mirrors = state.git_mirrors or _shared_mirrors(settings)
            task = asyncio.create_task(_run_controllers(state, stop), name="kargo-controllers")
        try:
            yield
        finally:
            stop.set()
            if task is not None:
                try:
                    await asyncio.wait_for(task, timeout=30)
                except Exception:
                    log.exception("controllers did not stop cleanly")
            if owned and state.store_ is not None:
                await state.store_.close()
                state.store_ = None

    app = FastAPI(
        title="Kargo API",
        version=kargo.__version__,
        description="Kargo's REST API (v1beta1): manifests, projects, stages, freight, watch.",
        lifespan=lifespan,
        responses={
            code: {"model": http_errors.ErrorResponse} for code in (400, 401, 404, 500, 503)
        },
    )
    app.state.kargo = state
    http_errors.install(app)
    error_model = http_errors.ErrorResponse
    responses: dict[int | str, dict[str, Any]] = {
        code: {"model": error_model} for code in (400, 401, 404, 409, 500, 503)
    }

    @app.get("/healthz", response_model=Health, tags=["health"])
    async def healthz() -> Health:
        """Liveness: the process serves requests."""
        return Health(status="ok")

    @app.get(
        "/readyz", response_model=Health, tags=["health"], responses={503: {"model": error_model}}
    )
    async def readyz(st: deps.State) -> Health:
        """Readiness: the store answers."""
        try:
            await asyncio.wait_for(st.store.current_resource_version(), timeout=5)
        except errors.KargoError:
            raise
        except Exception as err:
            raise errors.UnavailableError(
                f"store unreachable: {type(err).__name__}; check --db and the database server"
            ) from None
        return Health(status="ok")

    if "api" not in settings.components:
        return app

    @app.post("/v1beta1/login", response_model=LoginResponse, tags=["auth"], responses=responses)
    async def login(body: Annotated[LoginRequest, Body()], st: deps.State) -> JSONResponse:
        """Exchange the admin password for a bearer token (valid 24 h by default)."""
        token, expires = await asyncio.to_thread(auth.login, st.auth, body.password, st.clock.now())
        out = LoginResponse(token=token, expires_at=expires)
        return JSONResponse(out.model_dump(mode="json", by_alias=True))

    async def run_resources(request: Request, op: resources.Operation) -> JSONResponse:
        st = deps.get_state(request)
        actor = deps.require_actor(request, st)
        text = await _read_body(request, settings.max_body_bytes)
        out = await resources.handle(text, op, st.store, actor, st.clock.now())
        return JSONResponse(out.model_dump(mode="json", by_alias=True, exclude_none=True))

    @app.post(
        "/v1beta1/resources",
        response_model=resources.ResourcesResponse,
        tags=["resources"],
        responses=responses,
        openapi_extra=YAML_BODY,
    )
    async def create_resources(request: Request) -> JSONResponse:
        """Create every object in a multi-document YAML body (all validated before any write)."""
        return await run_resources(request, "create")

    @app.put(
        "/v1beta1/resources",
        response_model=resources.ResourcesResponse,
        tags=["resources"],
        responses=responses,
        openapi_extra=YAML_BODY,
    )
    async def apply_resources(request: Request) -> JSONResponse:
        """Create or update every object in a multi-document YAML body."""
        return await run_resources(request, "apply")

    @app.delete(
        "/v1beta1/resources",
        response_model=resources.ResourcesResponse,
        tags=["resources"],
        responses=responses,
        openapi_extra=YAML_BODY,
    )
    async def delete_resources(request: Request) -> JSONResponse:
        """Delete every object named in a multi-document YAML body."""
        return await run_resources(request, "delete")

    objects.install(app)
    credentials_routes.install(app)
    warehouse_routes.install(app)
    preview_routes.install(app)
    pipeline_routes.install(app)
    return app
