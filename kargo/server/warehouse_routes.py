"""Warehouse actions: refresh, and Freight assembled by hand from discovered artifacts.

- `POST /v1beta1/projects/{project}/warehouses/{name}/refresh` sets the
  `kargo.akuity.io/refresh` annotation to a new token; the Warehouse reconciler discovers at once
  and records the token in `status.lastHandledRefresh` (what `kargo refresh warehouse --wait`
  waits for). Returns the Warehouse and the token.
- `POST /v1beta1/projects/{project}/warehouses/{name}/freight` assembles Freight from picks
  (`kargo.freight.assemble`), admits it (ID, alias) and creates it; a Freight with the same
  artifacts already existing is a 409 naming it.

Neighbours: `kargo.controller.warehouses` (the reconciler), `kargo.server.objects` (list/get).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Body, FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from kargo import clock as clock_mod, errors
from kargo.api import admission, freight_id
from kargo.freight import assemble
from kargo.server import deps, lookup, objects
from kargo.store import interface

REFRESH_ANNOTATION = "kargo.akuity.io/refresh"
MAX_CONFLICT_RETRIES = 5


class RefreshResponse(BaseModel):
    """The refreshed Warehouse and the token its status will echo once handled."""

    model_config = ConfigDict(populate_by_name=True)

    token: str
    warehouse: dict[str, Any]


class AssembleRequest(BaseModel):
    """Artifacts picked from a Warehouse's discovered artifacts, as typed on the CLI."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    images: list[str] = Field(default_factory=list, description="REPO:TAG[@DIGEST]")
    commits: list[str] = Field(default_factory=list, description="URL@SHA")
    charts: list[str] = Field(default_factory=list, description="REPO_URL/NAME:VERSION")
    alias: str | None = None


async def _warehouse(store: interface.Store, project: str, name: str) -> dict[str, Any]:
    await objects.require_project(store, project)
    try:
        return await store.get("Warehouse", project, name)
    except errors.NotFoundError:
        raise errors.NotFoundError(
            f"Warehouse {name!r} not found in project {project!r}; list them with "
            f"`kargo get warehouses --project {project}`"
        ) from None


async def refresh_warehouse(
    store: interface.Store, clock: clock_mod.Clock, project: str, name: str
) -> RefreshResponse:
    """Set a new refresh token (retrying on a concurrent update)."""
    token = clock.now().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    for _ in range(MAX_CONFLICT_RETRIES):
        warehouse = await _warehouse(store, project, name)
        meta = warehouse.setdefault("metadata", {})
        annotations = meta.setdefault("annotations", {})
        if annotations.get(REFRESH_ANNOTATION) == token:
            token += "-1"
        annotations[REFRESH_ANNOTATION] = token
        try:
            updated = await store.update(warehouse)
        except errors.ConflictError:
            continue
        return RefreshResponse(token=token, warehouse=updated)
    raise errors.ConflictError(
        f"Warehouse {name!r} kept changing while it was being refreshed; try again"
    )


async def create_assembled_freight(
    store: interface.Store,
    clock: clock_mod.Clock,
    project: str,
    name: str,
    body: AssembleRequest,
    actor: str,
) -> dict[str, Any]:
    """Validate the picks, admit and create the Freight; 409 when it already exists."""
    warehouse = await _warehouse(store, project, name)
    picks = assemble.Picks(images=body.images, commits=body.commits, charts=body.charts)
    now = clock.now()
    freight = assemble.assemble_freight(
        project, warehouse, picks, discovered_at=clock_mod.format_time(now)
    )
    if body.alias:
        freight["alias"] = body.alias
    wanted = freight_id.freight_id(freight)
    try:
        existing = await store.get("Freight", project, wanted)
    except errors.NotFoundError:
        existing = None
    if existing is not None:
        raise errors.AlreadyExistsError(
            f"Freight {wanted} (alias {existing.get('alias')!r}) already holds these artifacts; "
            "promote it instead of creating it again"
        )
    admitted = await admission.admit_create(
        freight, lookup.StoreLookup(store), actor=actor, now=now
    )
    return await store.create(admitted)


def install(app: FastAPI) -> None:
    """Add the Warehouse action routes."""

    @app.post(
        "/v1beta1/projects/{project}/warehouses/{name}/refresh",
        tags=["warehouses"],
        response_model=RefreshResponse,
    )
    async def refresh(
        project: str, name: str, state: deps.State, _actor: deps.Actor
    ) -> JSONResponse:
        """Ask the Warehouse to discover now (sets the kargo.akuity.io/refresh annotation)."""
        out = await refresh_warehouse(state.store, state.clock, project, name)
        return JSONResponse(out.model_dump(mode="json"))

    @app.post(
        "/v1beta1/projects/{project}/warehouses/{name}/freight",
        tags=["warehouses"],
        status_code=201,
    )
    async def assemble_freight(
        project: str,
        name: str,
        body: Annotated[AssembleRequest, Body()],
        state: deps.State,
        actor: deps.Actor,
    ) -> JSONResponse:
        """Create Freight from artifacts the Warehouse discovered (one per subscription)."""
        created = await create_assembled_freight(
            state.store, state.clock, project, name, body, actor
        )
        return JSONResponse(created, 201)
