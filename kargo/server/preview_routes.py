"""Promotion preview over the API.

`POST /v1beta1/projects/{project}/stages/{stage}/promotions/preview` with a body of exactly one
of `freight` (a name), `freightAlias`, or `origin` (`Warehouse/<name>`: the origin's newest
Freight available to the Stage) runs the Stage's promotion template for that Freight in dry-run
mode (`kargo.promotion.preview`) and answers
`{repositories: [{repoURL, branch, diff, commit, newBranch}], steps: [...], available,
warnings, phase, message, promotion, freight}`. Nothing is pushed, stored or sent to a remote
system; git mirrors may be fetched.

The engine services are built as the controllers build theirs (credentials from the store's
Secrets, redaction of every secret a step reads), fresh per preview. When the controllers run
in this process, previews fetch through their git mirror cache (`ServerState.git_mirrors`,
`<data dir>/work/.git-mirrors`, mode 0700): one lock per repository for both. Otherwise (an
API-only server, which may share its data directory with a controllers process) each preview
gets a private cache inside its own temporary directory under `<data dir>/work/.previews`,
removed with it. Neighbours: `kargo.promotion.preview`, `kargo.server.app`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Body, FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from kargo.controller import manager, warehouses
from kargo.promotion import (
    context,
    engine as engine_mod,
    preview,
    registry as registry_mod,
)
from kargo.promotion.steps import git as git_steps, load_builtin_steps
from kargo.server import deps

PATH = "/v1beta1/projects/{project}/stages/{stage}/promotions/preview"
_SERVICES_KEY = "preview"
# under the work root; a dot-directory, so never taken for a project's promotion directories
# (and never swept by the controllers while a preview runs)
WORK_DIR = ".previews"


class PreviewBody(BaseModel):
    """Which Freight to preview: exactly one of the three."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    freight: str | None = Field(default=None, min_length=1, description="a Freight name (ID)")
    freight_alias: str | None = Field(
        default=None, alias="freightAlias", min_length=1, description="a Freight alias"
    )
    origin: str | None = Field(
        default=None,
        min_length=1,
        description="`Warehouse/<name>`: that origin's newest Freight available to the Stage",
    )


class _Wiring:
    """The step registry and engine services previews run with (built once per app)."""

    def __init__(self, state: deps.ServerState) -> None:
        self.registry = load_builtin_steps(registry_mod.StepRegistry())
        self.state = state

    def services(self) -> engine_mod.EngineServices:
        """Fresh services per preview, so one preview's remembered secrets stay its own."""
        store = self.state.store
        extra: dict[str, object] = {}
        if self.state.git_mirrors is not None:
            extra[git_steps.MIRRORS_SERVICE] = self.state.git_mirrors
        return manager.with_redaction(
            engine_mod.EngineServices(
                credentials=warehouses.default_credentials(store),
                git_user=context.GitUser(),
                data_store=store,
                extra=extra,
            )
        )


def _wiring(state: deps.ServerState) -> _Wiring:
    found = state.extra.get(_SERVICES_KEY)
    if isinstance(found, _Wiring):
        return found
    wiring = _Wiring(state)
    state.extra[_SERVICES_KEY] = wiring
    return wiring


async def run_preview(
    state: deps.ServerState, project: str, stage: str, body: PreviewBody, actor: str
) -> preview.Preview:
    """Preview the promotion of the Freight named by `body` into `stage`."""
    wiring = _wiring(state)
    return await preview.preview_promotion(
        state.store,
        wiring.registry,
        state.clock,
        preview.PreviewRequest(
            project=project,
            stage=stage,
            freight=body.freight,
            freight_alias=body.freight_alias,
            origin=body.origin,
            actor=actor,
        ),
        services=wiring.services(),
        work_root=state.settings.work_root / WORK_DIR,
    )


def install(app: FastAPI) -> None:
    """Add the preview route."""

    @app.post(PATH, tags=["pipeline"], response_model=preview.Preview)
    async def preview_promotion(
        project: str,
        stage: str,
        body: Annotated[PreviewBody, Body()],
        state: deps.State,
        actor: deps.Actor,
    ) -> JSONResponse:
        """Show the exact diff a promotion of the Freight would push, pushing nothing."""
        out = await run_preview(state, project, stage, body, actor)
        return JSONResponse(out.model_dump(mode="json", by_alias=True))
