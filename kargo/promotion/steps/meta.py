"""Steps about the promotion itself: compose-output, set-metadata, set-freight-alias, fail.

They touch no files. `set-metadata` and `set-freight-alias` write to the control plane (the
store, granted by the ACCESS_CONTROL_PLANE capability); `compose-output` re-exports values and,
inside a PromotionTask, also publishes them under the task's alias (TASK_OUTPUT_PROPAGATION).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from kargo import errors
from kargo.promotion import context, registry as registry_mod
from kargo.store import interface

ALIAS_LABEL = "kargo.akuity.io/alias"
_CONFLICT_RETRIES = 5


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ComposeOutputConfig(BaseModel):
    """Any object with at least one key; each key becomes an output of the step."""

    model_config = ConfigDict(extra="allow")

    @model_validator(mode="after")
    def _not_empty(self) -> ComposeOutputConfig:
        if not self.model_extra:
            raise ValueError("at least one output is required")
        return self


class MetadataUpdate(_Config):
    """One object whose `status.metadata` gets the given keys."""

    kind: Literal["Stage", "Freight"]
    name: str = Field(min_length=1)
    values: dict[str, Any]


class SetMetadataConfig(_Config):
    """Keys to write into the `status.metadata` of Stages and Freight of this project."""

    updates: list[MetadataUpdate] = Field(min_length=1)


class SetFreightAliasConfig(_Config):
    """Give a Freight (by name) a new alias, unique within the project."""

    name: str = Field(min_length=1)
    alias: str = Field(min_length=1)


class FailConfig(_Config):
    """Fail the promotion on purpose, usually under an `if`."""

    message: str = ""


async def compose_output(ctx: context.StepContext, cfg: ComposeOutputConfig) -> context.StepResult:
    """Re-export computed values as this step's outputs."""
    del ctx
    return context.StepResult(output=dict(cfg.model_extra or {}))


def _store(ctx: context.StepContext) -> Any:
    if ctx.control_plane is None:
        raise errors.TerminalStepError("no access to the control plane")
    return ctx.control_plane


async def set_metadata(ctx: context.StepContext, cfg: SetMetadataConfig) -> context.StepResult:
    """Merge keys into `status.metadata` of Stages and Freight (read back by stageMetadata())."""
    store = _store(ctx)
    for update in cfg.updates:
        if ctx.dry_run:
            continue
        for attempt in range(_CONFLICT_RETRIES):
            try:
                obj = await store.get(update.kind, ctx.project, update.name)
            except errors.NotFoundError as err:
                raise errors.TerminalStepError(
                    f"{update.kind.lower()} {update.name!r} not found in project {ctx.project!r}"
                ) from err
            status = obj.setdefault("status", {})
            metadata = dict(status.get("metadata") or {})
            metadata.update(update.values)
            status["metadata"] = metadata
            try:
                await store.update_status(obj)
                break
            except errors.ConflictError:
                if attempt == _CONFLICT_RETRIES - 1:
                    raise
    return context.StepResult()


async def set_freight_alias(
    ctx: context.StepContext, cfg: SetFreightAliasConfig
) -> context.StepResult:
    """Rename a Freight's alias; fails if another Freight of the project already has it."""
    store = _store(ctx)
    try:
        freight = await store.get("Freight", ctx.project, cfg.name)
    except errors.NotFoundError as err:
        raise errors.TerminalStepError(
            f"freight {cfg.name!r} not found in project {ctx.project!r}"
        ) from err
    if freight.get("alias") == cfg.alias:
        return context.StepResult()
    taken = await store.list(
        "Freight",
        interface.ListOptions(namespace=ctx.project, label_selector=f"{ALIAS_LABEL}={cfg.alias}"),
    )
    others = [f for f in taken.items if f["metadata"]["name"] != cfg.name]
    if others:
        raise errors.TerminalStepError(
            f"alias {cfg.alias!r} is already used by freight {others[0]['metadata']['name']!r}; "
            "choose another alias"
        )
    if ctx.dry_run:
        return context.StepResult()
    freight["alias"] = cfg.alias
    labels = freight["metadata"].setdefault("labels", {})
    labels[ALIAS_LABEL] = cfg.alias
    await store.update(freight)
    return context.StepResult()


async def fail(ctx: context.StepContext, cfg: FailConfig) -> context.StepResult:
    """Fail the promotion with the configured message; never retried."""
    del ctx
    return context.StepResult(
        status=context.StepStatus.FAILED,
        message=cfg.message or "promotion failed by a fail step",
        terminal=True,
    )


def register(registry: registry_mod.StepRegistry) -> None:
    """Add the meta steps to `registry`."""
    cap = registry_mod.Capability
    registry.step(
        "compose-output",
        ComposeOutputConfig,
        capabilities={cap.TASK_OUTPUT_PROPAGATION},
        paths=registry_mod.no_paths,
    )(compose_output)
    registry.step(
        "set-metadata",
        SetMetadataConfig,
        capabilities={cap.ACCESS_CONTROL_PLANE},
        paths=registry_mod.no_paths,
    )(set_metadata)
    registry.step(
        "set-freight-alias",
        SetFreightAliasConfig,
        capabilities={cap.ACCESS_CONTROL_PLANE},
        paths=registry_mod.no_paths,
    )(set_freight_alias)
    registry.step("fail", FailConfig, paths=registry_mod.no_paths)(fail)
