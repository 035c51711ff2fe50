"""Small step kinds for engine and controller tests (not shipped): record, poll, flaky, boom.

`register(registry)` adds them; `python -m kargo.controller --steps tests.controller.teststeps`
loads them into a controller subprocess. Steps that count runs write marker files into the
directory named by the `markers` config field, outside the promotion's work dir.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from kargo import errors
from kargo.promotion import context, registry as registry_mod


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class RecordConfig(_Config):
    value: Any = None
    markers: str = ""
    block_file: str = Field(default="", alias="blockFile")
    health: dict[str, Any] | None = None
    signal_file: str = Field(default="", alias="signalFile")


class PollConfig(_Config):
    polls: int = 2
    retry_after: float | None = Field(default=None, alias="retryAfter")


class FlakyConfig(_Config):
    failures: int = 1
    status: str = "Errored"


class BoomConfig(_Config):
    secret: str = ""


class PathConfig(_Config):
    path: str = Field(min_length=1)


def _calls(ctx: context.StepContext) -> list[tuple[str, Any]]:
    calls: list[tuple[str, Any]] = ctx.services.setdefault("calls", [])
    return calls


async def record(ctx: context.StepContext, cfg: RecordConfig) -> context.StepResult:
    """Record the call (and a marker file), optionally signal and block, output the value."""
    _calls(ctx).append((ctx.alias, cfg.value))
    if cfg.markers:
        markers = Path(cfg.markers)
        markers.mkdir(parents=True, exist_ok=True)
        n = len(list(markers.glob(f"{ctx.alias}.*")))
        (markers / f"{ctx.alias}.{n + 1}").write_text(str(ctx.work_dir))
    if cfg.signal_file:
        Path(cfg.signal_file).write_text(ctx.alias)
    while cfg.block_file and Path(cfg.block_file).exists():
        await asyncio.sleep(0.05)
    return context.StepResult(
        output={"value": cfg.value, "workDir": str(ctx.work_dir)}, health_check=cfg.health
    )


async def poll(ctx: context.StepContext, cfg: PollConfig) -> context.StepResult:
    """Running until polled `polls` times (the count is kept in the step's own output)."""
    seen = int((ctx.state.get(ctx.alias) or {}).get("seen", 0)) + 1
    _calls(ctx).append((ctx.alias, seen))
    if seen < cfg.polls:
        retry = timedelta(seconds=cfg.retry_after) if cfg.retry_after is not None else None
        return context.StepResult(
            status=context.StepStatus.RUNNING, output={"seen": seen}, retry_after=retry
        )
    return context.StepResult(output={"seen": seen})


async def flaky(ctx: context.StepContext, cfg: FlakyConfig) -> context.StepResult:
    """Fail the first `failures` calls, then succeed."""
    calls = _calls(ctx)
    calls.append((ctx.alias, None))
    n = sum(1 for a, _ in calls if a == ctx.alias)
    if n <= cfg.failures:
        if cfg.status == "raise":
            raise errors.StepError(f"attempt {n} failed")
        return context.StepResult(
            status=context.StepStatus(cfg.status), message=f"attempt {n} failed"
        )
    return context.StepResult(output={"attempts": n})


async def boom(ctx: context.StepContext, cfg: BoomConfig) -> context.StepResult:
    """Raise an unexpected exception carrying a secret."""
    _calls(ctx).append((ctx.alias, None))
    raise RuntimeError(f"connection failed with password {cfg.secret}")


async def terminal(ctx: context.StepContext, cfg: BoomConfig) -> context.StepResult:
    """Raise a terminal step error carrying a secret."""
    _calls(ctx).append((ctx.alias, None))
    raise errors.TerminalStepError(f"cannot authenticate with token {cfg.secret}")


async def needs_path(ctx: context.StepContext, cfg: PathConfig) -> context.StepResult:
    """A step with a required field, to test validation messages."""
    return context.StepResult(output={"path": cfg.path})


async def capabilities(ctx: context.StepContext, cfg: PathConfig) -> context.StepResult:
    """Report which services the engine handed over."""
    return context.StepResult(
        output={
            "controlPlane": ctx.control_plane is not None,
            "credentials": ctx.credentials is not None,
            "gitUser": ctx.git_user is not None,
            "argocd": ctx.argocd is not None,
        }
    )


class LeakConfig(_Config):
    repo_url: str = Field(alias="repoURL")
    echo: str = ""


async def leak(ctx: context.StepContext, cfg: LeakConfig) -> context.StepResult:
    """Fail with a message that carries the credentials (and `echo`) verbatim."""
    assert ctx.credentials is not None
    creds = await ctx.credentials.get(ctx.project, "git", cfg.repo_url)
    password = creds.password if creds else ""
    raise errors.StepError(
        f"push to https://bot:{password}@git.example/repo failed; password {password}; {cfg.echo}"
    )


def register(registry: registry_mod.StepRegistry) -> None:
    """Add the test steps."""
    registry.step("leak", LeakConfig, capabilities={registry_mod.Capability.ACCESS_CREDENTIALS})(
        leak
    )
    registry.step("record", RecordConfig)(record)
    # record that says it touches no file of the work dir (a lazy checkout stays lazy)
    registry.step("record-no-paths", RecordConfig, paths=registry_mod.no_paths)(record)
    registry.step("poll", PollConfig)(poll)
    registry.step("flaky", FlakyConfig)(flaky)
    registry.step("flaky3", FlakyConfig, default_error_threshold=3)(flaky)
    registry.step("boom", BoomConfig)(boom)
    registry.step("terminal", BoomConfig, default_error_threshold=5)(terminal)
    registry.step("needs-path", PathConfig)(needs_path)
    registry.step("timed-poll", PollConfig, default_timeout=timedelta(minutes=1))(poll)
    registry.step("caps-none", PathConfig)(capabilities)
    registry.step(
        "caps-cp",
        PathConfig,
        capabilities={
            registry_mod.Capability.ACCESS_CONTROL_PLANE,
            registry_mod.Capability.ACCESS_GIT_USER,
        },
    )(capabilities)


# --- helpers for engine tests -------------------------------------------------------------------


def make_promotion(
    steps: list[dict[str, Any]],
    *,
    vars: list[dict[str, Any]] | None = None,
    name: str = "test.01abc.f00",
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A Promotion as admission leaves it (steps inflated), never run yet."""
    return {
        "apiVersion": "kargo.akuity.io/v1alpha1",
        "kind": "Promotion",
        "metadata": {
            "name": name,
            "namespace": "demo",
            "uid": f"uid-{name}",
            "resourceVersion": "1",
            "annotations": dict(annotations or {}),
        },
        "spec": {"stage": "test", "freight": "f00", "vars": vars or [], "steps": steps},
    }


class Persisted:
    """A persist callback that keeps every committed status (what a store would hold)."""

    def __init__(self) -> None:
        self.snapshots: list[dict[str, Any]] = []
        self.annotations: dict[str, str] | None = None  # set to change metadata between steps

    async def __call__(self, promo: dict[str, Any]) -> dict[str, Any]:
        import copy

        stored = copy.deepcopy(promo)
        rv = int(stored["metadata"].get("resourceVersion", "1")) + 1
        stored["metadata"]["resourceVersion"] = str(rv)
        if self.annotations is not None:
            stored["metadata"]["annotations"] = dict(self.annotations)
        self.snapshots.append(copy.deepcopy(stored))
        return stored

    @property
    def last(self) -> dict[str, Any]:
        return self.snapshots[-1]


def make_registry(*, with_meta: bool = True) -> registry_mod.StepRegistry:
    """The test steps, plus the meta steps."""
    registry = registry_mod.StepRegistry()
    register(registry)
    if with_meta:
        from kargo.promotion.steps import meta

        meta.register(registry)
    return registry
