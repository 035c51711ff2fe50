"""Pipeline actions: promote, promote downstream, abort, approve, reject, re-verify, events.

Routes under `/v1beta1/projects/{project}` (Kargo's REST API, plus `reject`, ours):
- `POST stages/{stage}/promotions` body exactly one of `freight` (name), `freightAlias`, or
  `origin` (`Warehouse/<name>`: promotes the auto-promotion candidate and resumes auto-promotion);
- `POST stages/{stage}/promotions/downstream` body `freight` | `freightAlias`: promote to every
  Stage that takes Freight from `stage` and may take this Freight;
- `POST promotions/{name}/abort`;
- `POST freight/{nameOrAlias}/approve` body `{stage}`; `POST freight/{nameOrAlias}/reject` body
  `{stage?, reason?}` (no stage: every Stage);
- `POST stages/{stage}/verification` (re-verify) and `POST stages/{stage}/verification/abort`;
- `GET events[?kind=&name=]`: what happened, who did it, when.

The actor of every action is the authenticated caller and is recorded in an Event. A manual
promotion of Freight other than the auto-promotion candidate annotates the Promotion with
`kargo.akuity.io/auto-promotion-hold` (Kargo's holds); promoting older Freight than the Stage
runs annotates it `kargo.akuity.io/rollback`. Neighbours: `kargo.controller.stages` (the
reconciler that acts on all this), `kargo.cli.pipeline_cmds` (the CLI).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import Body, FastAPI, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from kargo import clock as clock_mod, errors
from kargo.api import availability
from kargo.controller import (
    auto_promotion,
    events as events_mod,
    pipeline_state as ps,
    stage_promotions,
)
from kargo.server import deps, lookup as lookup_mod, objects
from kargo.store import interface

Obj = dict[str, Any]
PREFIX = "/v1beta1/projects/{project}"


class PromoteRequest(BaseModel):
    """Which Freight to promote: exactly one of freight, freightAlias, origin."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    freight: str | None = None
    freight_alias: str | None = Field(default=None, alias="freightAlias")
    origin: str | None = Field(default=None, description="Warehouse/<name>: its candidate")


class DownstreamRequest(BaseModel):
    """Which Freight to promote downstream: freight or freightAlias."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    freight: str | None = None
    freight_alias: str | None = Field(default=None, alias="freightAlias")


class ApproveRequest(BaseModel):
    """The Stage the Freight is approved for."""

    model_config = ConfigDict(extra="forbid")

    stage: str = Field(min_length=1)


class RejectRequest(BaseModel):
    """The Stage the Freight is rejected for (none: every Stage) and why."""

    model_config = ConfigDict(extra="forbid")

    stage: str | None = None
    reason: str = ""


async def _stage(store: interface.Store, project: str, name: str) -> Obj:
    await objects.require_project(store, project)
    stage = await ps.get_or_none(store, "Stage", project, name)
    if stage is None:
        raise errors.NotFoundError(
            f"Stage {name!r} not found in project {project!r}; list them with "
            f"`kargo get stages --project {project}`"
        )
    return stage


def _origin(text: str) -> Obj:
    kind, _, name = text.partition("/")
    if not name:
        kind, name = "Warehouse", kind
    if kind != "Warehouse" or not name:
        raise errors.ValidationError(
            f"origin {text!r} is not valid; use Warehouse/<name> (or just the Warehouse's name)"
        )
    return {"kind": kind, "name": name}


async def _context(
    store: interface.Store, project: str
) -> tuple[list[Obj], dict[str, Obj], Obj | None]:
    freights = await ps.list_all(store, "Freight", project)
    stages = {s["metadata"]["name"]: s for s in await ps.list_all(store, "Stage", project)}
    config = await ps.get_or_none(store, "ProjectConfig", project, project)
    return freights, stages, config


def _rejection_text(freight: Obj, stage: str) -> str:
    rejected = (freight.get("status") or {}).get("rejectedFor") or {}
    record = rejected.get(stage) or rejected.get(availability.ALL_STAGES) or {}
    scope = "for every Stage" if stage not in rejected else f"for Stage {stage!r}"
    why = f": {record['reason']}" if record.get("reason") else ""
    return f"rejected {scope} by {record.get('actor') or 'someone'}{why}"


async def promote(
    store: interface.Store,
    clock: clock_mod.Clock,
    project: str,
    stage_name: str,
    body: PromoteRequest,
    actor: str,
) -> Obj:
    """Create a Promotion of the chosen Freight to the Stage (availability checked)."""
    chosen = [v for v in (body.freight, body.freight_alias, body.origin) if v]
    if len(chosen) != 1:
        raise errors.ValidationError(
            "give exactly one of freight, freightAlias or origin (Warehouse/<name>)"
        )
    stage = await _stage(store, project, stage_name)
    if ps.is_control_flow(stage):
        raise errors.ValidationError(
            f"Stage {stage_name!r} has no promotion steps (a control-flow Stage); promote to "
            "the Stages downstream of it instead"
        )
    freights, stages, config = await _context(store, project)
    policy = auto_promotion.find_policy(config, stage)
    now = clock.now()
    if body.origin:
        origin = _origin(body.origin)
        request = auto_promotion.request_for(stage, origin)
        if request is None:
            raise errors.ValidationError(
                f"Stage {stage_name!r} does not request Freight from {body.origin}"
            )
        freight = auto_promotion.candidate(stage, request, freights, stages, policy, now)
        if freight is None:
            raise errors.ValidationError(
                f"no Freight from {body.origin} is available to Stage {stage_name!r}; verify "
                "Freight upstream or approve it with `kargo approve`"
            )
    else:
        freight = await ps.find_freight(store, project, str(body.freight or body.freight_alias))
    name = str(freight["metadata"]["name"])
    if availability.is_rejected_for(freight, stage_name):
        raise errors.ValidationError(
            f"Freight {name} cannot be promoted to Stage {stage_name!r}: it was "
            f"{_rejection_text(freight, stage_name)}"
        )
    if not availability.is_available(stage, freight, now):
        raise errors.ValidationError(
            f"Freight {name} is not available to Stage {stage_name!r}: it is neither verified "
            "upstream (and soaked) nor approved; approve it with "
            f"`kargo approve --freight {name} --stage {stage_name} --project {project}`"
        )
    notes: dict[str, str] = {}
    origin = freight.get("origin") or {}
    key = availability.origin_key(origin)
    if (stage.get("status") or {}).get("autoPromotionEnabled"):
        request = auto_promotion.request_for(stage, origin) or {}
        try:
            best = auto_promotion.candidate(stage, request, freights, stages, policy, now)
        except errors.ExpressionError:
            best = None
        if best is not None and best["metadata"]["name"] == name:
            notes[ps.RESUME_ANNOTATION] = key
        else:
            notes[ps.HOLD_ANNOTATION] = key
    current_name = availability.current_freight_in(stage, origin)
    current = next((f for f in freights if f["metadata"]["name"] == current_name), None)
    if stage_promotions.is_rollback(freight, current):
        notes[ps.ROLLBACK_ANNOTATION] = "true"
    promo = await auto_promotion.create_promotion(
        store,
        clock,
        stage,
        name,
        actor=actor,
        annotations=notes,
        lookup=lookup_mod.StoreLookup(store),
    )
    what = "rollback to" if notes.get(ps.ROLLBACK_ANNOTATION) else "promotion of"
    await events_mod.record_event(
        store,
        clock,
        promo,
        "Normal",
        "PromotionCreated",
        f"{what} freight {name} to stage {stage_name!r} requested",
        actor=actor,
    )
    return promo


async def promote_downstream(
    store: interface.Store,
    clock: clock_mod.Clock,
    project: str,
    stage_name: str,
    body: DownstreamRequest,
    actor: str,
) -> list[Obj]:
    """Promote Freight to every Stage downstream of `stage_name` that may take it."""
    if bool(body.freight) == bool(body.freight_alias):
        raise errors.ValidationError("give exactly one of freight or freightAlias")
    await _stage(store, project, stage_name)
    freight = await ps.find_freight(store, project, str(body.freight or body.freight_alias))
    name = str(freight["metadata"]["name"])
    now = clock.now()
    targets = [
        s
        for s in await ps.list_all(store, "Stage", project)
        if not ps.is_control_flow(s)
        and any(
            stage_name in ((r.get("sources") or {}).get("stages") or [])
            and availability.same_origin(r.get("origin") or {}, freight.get("origin") or {})
            for r in (s.get("spec") or {}).get("requestedFreight") or []
        )
        and availability.is_available(s, freight, now)
    ]
    if not targets:
        raise errors.ValidationError(
            f"no Stage downstream of {stage_name!r} can take Freight {name} now (it must be "
            f"verified in {stage_name!r} and not rejected)"
        )
    return [
        await promote(
            store, clock, project, t["metadata"]["name"], PromoteRequest(freight=name), actor
        )
        for t in sorted(targets, key=lambda s: s["metadata"]["name"])
    ]


async def abort_promotion(
    store: interface.Store, clock: clock_mod.Clock, project: str, name: str, actor: str
) -> Obj:
    """Ask a Promotion to stop (`kargo.akuity.io/abort`)."""
    await objects.require_project(store, project)
    promo = await ps.get_or_none(store, "Promotion", project, name)
    if promo is None:
        raise errors.NotFoundError(f"Promotion {name!r} not found in project {project!r}")
    if ps.promotion_phase(promo) in ps.TERMINAL_PROMOTION:
        raise errors.ConflictError(
            f"Promotion {name!r} already finished ({ps.promotion_phase(promo)}); nothing to abort"
        )
    request = json.dumps({"action": "terminate", "actor": actor})

    def mark(notes: dict[str, str]) -> bool:
        notes[ps.ABORT_ANNOTATION] = request
        return True

    updated = await ps.patch_annotations(store, "Promotion", project, name, mark) or promo
    await events_mod.record_event(
        store, clock, updated, "Normal", "PromotionAbortRequested", "abort requested", actor=actor
    )
    return updated


async def approve(
    store: interface.Store, clock: clock_mod.Clock, project: str, ref: str, stage: str, actor: str
) -> Obj:
    """Make Freight available to a Stage (`status.approvedFor[stage]`)."""
    await _stage(store, project, stage)
    freight = await ps.find_freight(store, project, ref)
    rejected = (freight.get("status") or {}).get("rejectedFor") or {}
    if availability.ALL_STAGES in rejected:
        raise errors.ValidationError(
            f"Freight {freight['metadata']['name']} was {_rejection_text(freight, stage)}; "
            "a rejection for every Stage cannot be overridden by an approval for one"
        )
    stamp = clock_mod.format_time(clock.now())

    def mutate(status: Obj) -> bool:
        approved = dict(status.get("approvedFor") or {})
        approved[stage] = {"approvedAt": stamp, "actor": actor}
        status["approvedFor"] = approved
        rejected = dict(status.get("rejectedFor") or {})
        if rejected.pop(stage, None) is not None:
            status["rejectedFor"] = rejected
        return True

    name = str(freight["metadata"]["name"])
    updated = await ps.patch_status(store, "Freight", project, name, mutate) or freight
    await events_mod.record_event(
        store,
        clock,
        updated,
        "Normal",
        "FreightApproved",
        f"freight {name} approved for stage {stage!r}",
        actor=actor,
    )
    return updated


async def reject(
    store: interface.Store,
    clock: clock_mod.Clock,
    project: str,
    ref: str,
    body: RejectRequest,
    actor: str,
) -> Obj:
    """Make Freight unavailable to a Stage (or every Stage); waiting Promotions are aborted."""
    if body.stage:
        await _stage(store, project, body.stage)
    else:
        await objects.require_project(store, project)
    freight = await ps.find_freight(store, project, ref)
    name = str(freight["metadata"]["name"])
    scope = body.stage or availability.ALL_STAGES
    stamp = clock_mod.format_time(clock.now())

    def mutate(status: Obj) -> bool:
        rejected = dict(status.get("rejectedFor") or {})
        rejected[scope] = {"actor": actor, "reason": body.reason, "rejectedAt": stamp}
        status["rejectedFor"] = rejected
        approved = dict(status.get("approvedFor") or {})
        if body.stage and approved.pop(body.stage, None) is not None:
            status["approvedFor"] = approved
        return True

    updated = await ps.patch_status(store, "Freight", project, name, mutate) or freight
    request = json.dumps(
        {"action": "terminate", "actor": actor, "reason": f"freight {name} was rejected"}
    )

    def abort(notes: dict[str, str]) -> bool:
        if notes.get(ps.ABORT_ANNOTATION):
            return False
        notes[ps.ABORT_ANNOTATION] = request
        return True

    for promo in await ps.list_all(store, "Promotion", project):
        spec = promo.get("spec") or {}
        if spec.get("freight") != name or ps.promotion_phase(promo) != "Pending":
            continue
        if body.stage and spec.get("stage") != body.stage:
            continue
        await ps.patch_annotations(store, "Promotion", project, promo["metadata"]["name"], abort)
    where = f"stage {body.stage!r}" if body.stage else "every stage"
    why = f": {body.reason}" if body.reason else ""
    await events_mod.record_event(
        store,
        clock,
        updated,
        "Warning",
        "FreightRejected",
        f"freight {name} rejected for {where}{why}",
        actor=actor,
    )
    return updated


async def request_verification(
    store: interface.Store,
    clock: clock_mod.Clock,
    project: str,
    stage_name: str,
    actor: str,
    *,
    abort: bool,
) -> Obj:
    """Re-run the Stage's verification, or abort the running one (annotations on the Stage)."""
    stage = await _stage(store, project, stage_name)
    if not ps.has_verification(stage):
        raise errors.ValidationError(
            f"Stage {stage_name!r} has no verification; add spec.verification.analysisTemplates"
        )
    if ps.current_collection(stage) is None:
        raise errors.ValidationError(
            f"Stage {stage_name!r} has no Freight yet; promote Freight to it first"
        )
    info = ps.current_verification(stage) or {}
    running = str(info.get("phase", "")) in ps.VERIFYING
    if abort and not running:
        raise errors.ConflictError(f"no verification is running in Stage {stage_name!r}")
    if not abort and running:
        raise errors.ConflictError(
            f"a verification is already running in Stage {stage_name!r}; wait for it or abort "
            f"it with `kargo verify stage {stage_name} --abort`"
        )
    key = ps.ABORT_ANNOTATION if abort else ps.REVERIFY_ANNOTATION
    value = json.dumps({"id": str(info.get("id", "")), "actor": actor})

    def mark(notes: dict[str, str]) -> bool:
        notes[key] = value
        return True

    updated = await ps.patch_annotations(store, "Stage", project, stage_name, mark) or stage
    reason = "VerificationAbortRequested" if abort else "VerificationRequested"
    message = "abort of verification requested" if abort else "re-verification requested"
    await events_mod.record_event(store, clock, updated, "Normal", reason, message, actor=actor)
    return updated


async def list_events(
    store: interface.Store, project: str, kind: str | None, name: str | None
) -> Obj:
    """The project's Events, oldest first, optionally about one kind / object."""
    await objects.require_project(store, project)
    items = [
        e
        for e in await ps.list_all(store, events_mod.EVENT_KIND, project)
        if (not kind or (e.get("involvedObject") or {}).get("kind", "").lower() == kind.lower())
        and (not name or (e.get("involvedObject") or {}).get("name") == name)
    ]
    return {
        "apiVersion": "v1",
        "kind": "EventList",
        "metadata": {"resourceVersion": await store.current_resource_version()},
        "items": sorted(items, key=events_mod.sort_key),
    }


def install(app: FastAPI) -> None:
    """Add the pipeline action routes."""

    @app.post(f"{PREFIX}/stages/{{stage}}/promotions", tags=["pipeline"], status_code=201)
    async def promote_to_stage(
        project: str,
        stage: str,
        body: Annotated[PromoteRequest, Body()],
        state: deps.State,
        actor: deps.Actor,
    ) -> JSONResponse:
        """Promote Freight (by name, alias, or an origin's candidate) to a Stage."""
        out = await promote(state.store, state.clock, project, stage, body, actor)
        return JSONResponse(out, 201)

    @app.post(
        f"{PREFIX}/stages/{{stage}}/promotions/downstream", tags=["pipeline"], status_code=201
    )
    async def promote_downstream_of(
        project: str,
        stage: str,
        body: Annotated[DownstreamRequest, Body()],
        state: deps.State,
        actor: deps.Actor,
    ) -> JSONResponse:
        """Promote Freight to every Stage downstream of a Stage that may take it."""
        out = await promote_downstream(state.store, state.clock, project, stage, body, actor)
        return JSONResponse({"items": out}, 201)

    @app.post(f"{PREFIX}/promotions/{{name}}/abort", tags=["pipeline"])
    async def abort(project: str, name: str, state: deps.State, actor: deps.Actor) -> JSONResponse:
        """Abort a Promotion (waiting or running)."""
        return JSONResponse(await abort_promotion(state.store, state.clock, project, name, actor))

    @app.post(f"{PREFIX}/freight/{{name}}/approve", tags=["pipeline"])
    async def approve_freight(
        project: str,
        name: str,
        body: Annotated[ApproveRequest, Body()],
        state: deps.State,
        actor: deps.Actor,
    ) -> JSONResponse:
        """Approve Freight for a Stage: it becomes available there."""
        out = await approve(state.store, state.clock, project, name, body.stage, actor)
        return JSONResponse(out)

    @app.post(f"{PREFIX}/freight/{{name}}/reject", tags=["pipeline"])
    async def reject_freight(
        project: str,
        name: str,
        body: Annotated[RejectRequest, Body()],
        state: deps.State,
        actor: deps.Actor,
    ) -> JSONResponse:
        """Reject Freight for a Stage (or every Stage): never promoted there, auto or manual."""
        return JSONResponse(await reject(state.store, state.clock, project, name, body, actor))

    @app.post(f"{PREFIX}/stages/{{stage}}/verification", tags=["pipeline"])
    async def reverify(
        project: str, stage: str, state: deps.State, actor: deps.Actor
    ) -> JSONResponse:
        """Re-run the Stage's verification of its current Freight."""
        out = await request_verification(
            state.store, state.clock, project, stage, actor, abort=False
        )
        return JSONResponse(out)

    @app.post(f"{PREFIX}/stages/{{stage}}/verification/abort", tags=["pipeline"])
    async def abort_verification(
        project: str, stage: str, state: deps.State, actor: deps.Actor
    ) -> JSONResponse:
        """Abort the Stage's running verification."""
        out = await request_verification(
            state.store, state.clock, project, stage, actor, abort=True
        )
        return JSONResponse(out)

    @app.get(f"{PREFIX}/events", tags=["pipeline"])
    async def events(
        project: str,
        state: deps.State,
        _actor: deps.Actor,
        kind: Annotated[str | None, Query(description="only events about this kind")] = None,
        name: Annotated[str | None, Query(description="only events about this object")] = None,
    ) -> JSONResponse:
        """Promotions, approvals, rejections, verifications and aborts: who, what, when."""
        return JSONResponse(await list_events(state.store, project, kind, name))
