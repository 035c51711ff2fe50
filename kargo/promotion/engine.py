"""The promotion engine: runs a Promotion's `spec.steps` from `status.currentStep`.

Neighbours: `registry.py` (step kinds), `context.py` (what a step sees and returns),
`evaluation.py` (vars, `if` and config, just in time), `workdir.py` (the work directory).
The controller (`kargo.controller.promotions`) loads the Promotion, calls `Engine.execute` with a
`persist` callback that writes status with optimistic concurrency, and requeues as told.

Crash safety: `persist` is awaited after every step (and when a step first starts), before the
next step begins, so a resumed promotion starts at its first unfinished step and a finished step
is never run twice. A step that was interrupted mid-run runs again: steps are idempotent
(docs/concepts/idempotence.md).
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pydantic

from kargo import clock as clock_mod, errors
from kargo.api.models import common
from kargo.credentials import interface as credentials_interface
from kargo.expressions import functions
from kargo.git import cli as git_cli, lazy as lazy_checkouts
from kargo.promotion import (
    context,
    data as data_mod,
    evaluation,
    registry as registry_mod,
    trash,
    workdir,
)

log = logging.getLogger(__name__)

ABORT_ANNOTATION = "kargo.akuity.io/abort"
ROLLBACK_ANNOTATION = "kargo.akuity.io/rollback"
CREATE_ACTOR_ANNOTATION = "kargo.akuity.io/create-actor"

TERMINAL_PHASES = frozenset({"Succeeded", "Failed", "Errored", "Aborted"})
FINISHED_STEP = frozenset({"Succeeded", "Skipped", "Failed", "Errored", "Aborted"})

DEFAULT_REQUEUE = timedelta(minutes=5)
MIN_REQUEUE = timedelta(seconds=10)

Persist = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
Redactor = Callable[[str], str]


def _no_redaction(message: str) -> str:
    return message


_ATOMIC = frozenset({str, int, float, bool, type(None)})


def copy_tree(value: Any) -> Any:
    """A deep copy of a Kubernetes-style object (dicts and lists of JSON scalars).

    About three times faster than `copy.deepcopy`, which the engine would otherwise run on the
    whole Promotion at every persist: exact dicts and lists are rebuilt, JSON scalars (immutable)
    are shared, anything else (a tuple, a dict subclass, a datetime) goes to `copy.deepcopy`.
    Unlike `deepcopy` it does not keep two references to one sub-object as one: the objects
    the engine copies come from JSON and never share sub-objects.
    """
    kind = type(value)
    if kind is dict:
        return {k: v if type(v) in _ATOMIC else copy_tree(v) for k, v in value.items()}
    if kind is list:
        return [v if type(v) in _ATOMIC else copy_tree(v) for v in value]
    if kind in _ATOMIC:
        return value
    return copy.deepcopy(value)


@dataclass
class EngineServices:
    """What the engine may hand to steps, each only to steps declaring the capability."""

    credentials: credentials_interface.CredentialsProvider | None = None
    git_user: context.GitUser | None = None
    control_plane: Any | None = None
    argocd: Any | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # always passed (e.g. git mirrors)
    redact: Redactor = _no_redaction
    data_store: Any | None = None  # what expression functions read (freightMetadata, secret)
    # turns a stored (sealed) Secret into its plain values; None: the Secret is stored plain
    read_secret: Callable[[dict[str, Any]], dict[str, str]] | None = None
    # told every secret value a step's expressions read, so `redact` can mask it afterwards
    remember_secrets: Callable[[Iterable[str]], None] | None = None

    def secret_hook(self, secret: dict[str, Any]) -> dict[str, Any]:
        """A Secret as expression functions see it: plain `stringData`, values remembered."""
        if self.read_secret is not None:
            plain = self.read_secret(secret)
            secret = {"metadata": secret.get("metadata") or {}, "stringData": plain}
        else:
            plain = functions.secret_data(secret)
        if self.remember_secrets is not None:
            self.remember_secrets(plain.values())
        return secret

    ui_base_url: str = ""


@dataclass
class Outcome:
    """The promotion after a run, and when to run it again (None: do not requeue)."""

    promotion: dict[str, Any]
    requeue_after: timedelta | None = None

    @property
    def phase(self) -> str:
        """The promotion's phase after this run."""
        return str((self.promotion.get("status") or {}).get("phase", ""))


class _Interrupted(Exception):
    """The promotion must stop now (Running step, retry pending, abort seen)."""

    def __init__(self, requeue_after: timedelta | None) -> None:
        super().__init__()
        self.requeue_after = requeue_after


def step_alias(step: Mapping[str, Any], index: int) -> str:
    """The alias of step `index`: its `as`, else `step-<n>` (`task-<n>` for a task reference)."""
    alias = step.get("as")
    if alias:
        return str(alias)
    return f"task-{index + 1}" if step.get("task") else f"step-{index + 1}"


def abort_requested(promotion: Mapping[str, Any]) -> dict[str, Any] | None:
    """The abort request on a Promotion (`{"action":"terminate", ...}`), or None."""
    annotations = (promotion.get("metadata") or {}).get("annotations") or {}
    raw = annotations.get(ABORT_ANNOTATION)
    if not raw:
        return None
    try:
        request = json.loads(raw)
    except ValueError:
        request = {"action": raw}
    if isinstance(request, dict) and request.get("action") == "terminate":
        return request
    return None


def final_phase(metas: list[dict[str, Any]]) -> tuple[str, str]:
    """The worst step status ignoring continueOnError steps, and that step's message."""
    worst = context.StepStatus.SUCCEEDED
    message = ""
    for meta in metas:
        if meta.get("continueOnError"):
            continue
        try:
            status = context.StepStatus(meta.get("status", "Succeeded"))
        except ValueError:
            continue
        if status is context.StepStatus.SKIPPED:
            continue
        if context.STEP_SEVERITY[status] > context.STEP_SEVERITY[worst]:
            worst, message = status, str(meta.get("message", ""))
    return str(worst), message


def format_validation(err: pydantic.ValidationError) -> str:
    """Pydantic errors as `path: message` fragments joined by "; " (lowercase, Kargo style)."""
    parts = []
    for item in err.errors():
        path = ""
        for loc in item["loc"]:
            path += f"[{loc}]" if isinstance(loc, int) else (f".{loc}" if path else str(loc))
        msg = str(item["msg"])
        msg = msg[:1].lower() + msg[1:]
        parts.append(f"{path}: {msg}" if path else msg)
    return "; ".join(parts)


class Engine:
    """Runs promotions step by step. One instance serves every promotion of a controller."""

    def __init__(
        self,
        registry: registry_mod.StepRegistry,
        clock: clock_mod.Clock,
        services: EngineServices | None = None,
        *,
        work_root: Path | None = None,
        min_requeue: timedelta = MIN_REQUEUE,
        default_requeue: timedelta = DEFAULT_REQUEUE,
    ) -> None:
        self.registry = registry
        self.clock = clock
        self.services = services or EngineServices()
        self.work_root = work_root or Path("/tmp/kargo-work")  # noqa: S108 - a default root
        self.trash = trash.Collector(self.work_root)
        self.min_requeue = min_requeue
        self.default_requeue = default_requeue

    async def run(
        self, promotion: dict[str, Any], persist: Persist, *, dry_run: bool = False
    ) -> dict[str, Any]:
        """Run the promotion as far as it can go now; returns it with its new status."""
        return (await self.execute(promotion, persist, dry_run=dry_run)).promotion

    async def execute(
        self, promotion: dict[str, Any], persist: Persist, *, dry_run: bool = False
    ) -> Outcome:
        """Like `run`, and also says when to run the promotion again."""
        run = _Run(self, copy_tree(promotion), persist, dry_run)
        return await run.go()

    def _now(self) -> str:
        return clock_mod.format_time(self.clock.now())

    def remove_work_dir(self, promo: dict[str, Any]) -> None:
        """Take a finished promotion's work directory away (deleted in the background)."""
        if workdir.remove(self.work_root, promo):
            self.trash.poke()

    def redact(self, message: str) -> str:
        """Pass a message through the credentials layer's redactor."""
        return self.services.redact(message)


class _Run:
    """One pass of the engine over one promotion (holds the bookkeeping)."""

    def __init__(self, engine: Engine, promo: dict[str, Any], persist: Persist, dry_run: bool):
        self.engine = engine
        self.promo = promo
        self.persist_cb = persist
        self.dry_run = dry_run
        self.status: dict[str, Any] = promo.setdefault("status", {})
        spec = promo.get("spec") or {}
        self.steps: list[dict[str, Any]] = list(spec.get("steps") or [])
        meta = promo.get("metadata") or {}
        self.project = str(meta.get("namespace", ""))
        self.name = str(meta.get("name", ""))
        self.stage = str(spec.get("stage", ""))
        self.freight = _freight_collection(self.status)
        self.work_dir: Path | None = None

    # --- bookkeeping ------------------------------------------------------------------------

    @property
    def metas(self) -> list[dict[str, Any]]:
        metas: list[dict[str, Any]] = self.status.setdefault("stepExecutionMetadata", [])
        return metas

    @property
    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = self.status.setdefault("state", {})
        return state

    async def persist(self) -> None:
        stored = await self.persist_cb(copy_tree(self.promo))
        # keep the store's metadata (resourceVersion, annotations such as abort), our status
        self.promo["metadata"] = copy_tree(stored.get("metadata") or self.promo["metadata"])

    def message(self, alias: str, kind: str, text: str) -> str:
        return self.engine.redact(f'step "{alias}" ({kind}): {text}')

    # --- main loop --------------------------------------------------------------------------

    async def go(self) -> Outcome:
        if self.status.get("phase") in TERMINAL_PHASES:
            return Outcome(self.promo)
        # off the loop thread: a mkdir costs ~0.5 ms on slow filesystems
        self.work_dir = await asyncio.to_thread(workdir.ensure, self.engine.work_root, self.promo)
        if abort_requested(self.promo):
            return await self.abort()
        if self.status.get("phase") != "Running" or not self.status.get("startedAt"):
            self.status["phase"] = "Running"
            self.status.setdefault("startedAt", self.engine._now())
        self.status.setdefault("currentStep", 0)
        try:
            base = self.base_env()
            promo_vars = await evaluation.evaluate_vars(
                (self.promo.get("spec") or {}).get("vars"), base, with_outputs=False
            )
        except errors.ExpressionError as err:
            return await self.finish_early("Errored", self.engine.redact(err.message))
        try:
            index = int(self.status.get("currentStep") or 0)
            while index < len(self.steps):
                await self.run_step(index, promo_vars)
                index += 1
                if index < len(self.steps) and abort_requested(self.promo):
                    return await self.abort()
        except _Interrupted as stop:
            return Outcome(self.promo, stop.requeue_after)
        return await self.finish()

    async def finish(self) -> Outcome:
        phase, message = final_phase(self.metas)
        self.status["phase"] = phase
        self.status["message"] = message if phase != "Succeeded" else ""
        self.status["currentStep"] = len(self.steps)
        self.status["finishedAt"] = self.engine._now()
        # remove first: once the end is visible in the store, the work dir is gone (moved into
        # the trash at once; a checkout's thousands of files are deleted in the background)
        self.engine.remove_work_dir(self.promo)
        await self.persist()
        return Outcome(self.promo)

    async def finish_early(self, phase: str, message: str) -> Outcome:
        self.status["phase"] = phase
        self.status["message"] = message
        self.status["finishedAt"] = self.engine._now()
        # remove first: once the end is visible in the store, the work dir is gone (moved into
        # the trash at once; a checkout's thousands of files are deleted in the background)
        self.engine.remove_work_dir(self.promo)
        await self.persist()
        return Outcome(self.promo)

    async def abort(self) -> Outcome:
        request = abort_requested(self.promo) or {}
        actor = request.get("actor")
        text = "promotion aborted" + (f" by {actor}" if actor else "")
        index = int(self.status.get("currentStep") or 0)
        if index < len(self.steps):
            meta = self.meta_for(index)
            if meta is None:
                meta = self.new_meta(index)
                self.metas.append(meta)
            if meta.get("status") not in FINISHED_STEP:
                meta["status"] = "Aborted"
                meta["message"] = text
                meta["finishedAt"] = self.engine._now()
        return await self.finish_early("Aborted", text)

    def meta_for(self, index: int) -> dict[str, Any] | None:
        return self.metas[index] if index < len(self.metas) else None

    def new_meta(self, index: int) -> dict[str, Any]:
        step = self.steps[index]
        return {
            "alias": step_alias(step, index),
            "startedAt": self.engine._now(),
            "status": "Running",
            "errorCount": 0,
            "continueOnError": bool(step.get("continueOnError", False)),
        }

    # --- expression environments ------------------------------------------------------------

    def base_env(
        self, alias: str = "", vars_: dict[str, Any] | None = None, index: int | None = None
    ) -> evaluation.StepEnv:
        meta = self.promo.get("metadata") or {}
        annotations = meta.get("annotations") or {}
        target = self.status.get("freight") or {}
        ctx = {
            "uiBaseUrl": self.engine.services.ui_base_url,
            "project": self.project,
            "stage": self.stage,
            "promotion": self.name,
            "targetFreight": {
                "name": target.get("name") or (self.promo.get("spec") or {}).get("freight", ""),
                "alias": target.get("alias", ""),
                "origin": {"name": (target.get("origin") or {}).get("name", "")},
            },
            "meta": {
                "promotion": {
                    "actor": annotations.get(CREATE_ACTOR_ANNOTATION, ""),
                    "rollback": str(annotations.get(ROLLBACK_ANNOTATION, "")).lower() == "true",
                }
            },
        }
        services = self.engine.services
        data = data_mod.StoreData(
            services.data_store,
            self.project,
            self.stage,
            self.freight,
            secret_hook=services.secret_hook,
        )
        earlier = self.metas[:index] if index is not None else []
        return evaluation.StepEnv(
            ctx=ctx,
            vars=dict(vars_ or {}),
            outputs=self.state,
            step_metas=earlier,
            alias=alias,
            data=data,
            clock=self.engine.clock,
        )

    async def step_env(self, index: int, promo_vars: dict[str, Any]) -> evaluation.StepEnv:
        step = self.steps[index]
        alias = step_alias(step, index)
        base = self.base_env(alias, promo_vars, index)
        step_vars = await evaluation.evaluate_vars(step.get("vars"), base, with_outputs=True)
        return base.with_vars(step_vars)

    # --- one step ---------------------------------------------------------------------------

    async def run_step(self, index: int, promo_vars: dict[str, Any]) -> None:
        step = self.steps[index]
        alias = step_alias(step, index)
        kind = str(step.get("uses") or "")
        meta = self.meta_for(index)
        if meta is not None and meta.get("status") in FINISHED_STEP:
            return  # finished in an earlier run: never run twice
        self.status["currentStep"] = index
        if meta is None:
            meta = self.new_meta(index)
            self.metas.append(meta)
            # the if / implicit-skip decision is made once, when the step first starts
            try:
                run_it = await self.should_run(index, promo_vars)
            except errors.ExpressionError as err:
                await self.end_step(meta, "Errored", self.message(alias, kind, err.message))
                return
            if not run_it:
                await self.end_step(meta, "Skipped", "")
                return
            await self.persist()
        await self.attempt(index, meta, promo_vars)

    async def should_run(self, index: int, promo_vars: dict[str, Any]) -> bool:
        step = self.steps[index]
        condition = step.get("if")
        if condition is None or condition == "":
            return not any(
                m.get("status") in evaluation.FAILING and not m.get("continueOnError")
                for m in self.metas[:index]
            )
        env = await self.step_env(index, promo_vars)
        return await evaluation.evaluate_if(condition, env)

    async def end_step(self, meta: dict[str, Any], status: str, message: str) -> None:
        meta["status"] = status
        meta["message"] = message
        meta["finishedAt"] = self.engine._now()
        index = self.metas.index(meta)
        self.status["currentStep"] = index + 1
        await self.persist()

    async def attempt(self, index: int, meta: dict[str, Any], promo_vars: dict[str, Any]) -> None:
        step = self.steps[index]
        alias = step_alias(step, index)
        kind = str(step.get("uses") or "")
        spec = self.engine.registry.get(kind) if kind else None
        if spec is None:
            text = (
                f"unknown step kind {kind!r}; known kinds: {', '.join(self.engine.registry.names())}"
                if kind
                else "the step has no `uses`"
            )
            await self.end_step(meta, "Errored", self.message(alias, kind or "?", text))
            return
        try:
            env = await self.step_env(index, promo_vars)
            raw = await evaluation.evaluate_config(step.get("config") or {}, env)
        except errors.ExpressionError as err:
            await self.end_step(meta, "Errored", self.message(alias, kind, err.message))
            return
        try:
            cfg = spec.config_model.model_validate(raw if raw is not None else {})
        except pydantic.ValidationError as err:
            text = f"invalid config: {format_validation(err)}"
            await self.end_step(meta, "Errored", self.message(alias, kind, text))
            return
        try:
            self.timeout(step, spec)
        except errors.ValidationError as err:
            await self.end_step(
                meta, "Errored", self.message(alias, kind, f"retry.timeout: {err.message}")
            )
            return
        result = await self.invoke(spec, alias, env, cfg)
        await self.apply(index, meta, spec, alias, result)

    async def invoke(
        self, spec: registry_mod.StepSpec, alias: str, env: evaluation.StepEnv, cfg: Any
    ) -> context.StepResult:
        assert self.work_dir is not None
        caps = spec.capabilities
        services = self.engine.services
        target = self.status.get("freight") or {}
        ctx = context.StepContext(
            work_dir=self.work_dir,
            project=self.project,
            stage=self.stage,
            promotion=self.name,
            alias=alias,
            freight=self.freight,
            target_freight=str(
                target.get("name") or (self.promo.get("spec") or {}).get("freight", "")
            ),
            state=copy_tree(self.state),
            vars=dict(env.vars),
            actor=str(env.ctx["meta"]["promotion"]["actor"]),
            dry_run=self.dry_run,
            lazy_checkouts=lazy_checkouts.enabled(),
            credentials=services.credentials
            if registry_mod.Capability.ACCESS_CREDENTIALS in caps
            else None,
            git_user=services.git_user if registry_mod.Capability.ACCESS_GIT_USER in caps else None,
            control_plane=services.control_plane
            if registry_mod.Capability.ACCESS_CONTROL_PLANE in caps
            else None,
            argocd=services.argocd if registry_mod.Capability.ACCESS_ARGOCD in caps else None,
            services=dict(services.extra),
        )
        try:
            await self.check_out_paths(spec, cfg)
            return await spec.run(ctx, cfg)
        except errors.TerminalStepError as err:
            return context.StepResult(
                status=context.StepStatus.ERRORED, message=err.message, terminal=True
            )
        except errors.KargoError as err:
            return context.StepResult(status=context.StepStatus.ERRORED, message=err.message)
        except Exception:
            log.exception(
                "promotion %s/%s: step %r (%s) raised", self.project, self.name, alias, spec.name
            )
            return context.StepResult(
                status=context.StepStatus.ERRORED,
                message="unexpected error (details are in the controller log)",
            )

    async def check_out_paths(self, spec: registry_mod.StepSpec, cfg: Any) -> None:
        """Let lazy git checkouts check out what this step is about to touch."""
        assert self.work_dir is not None
        paths = spec.paths(cfg) if spec.paths is not None else None
        if paths is not None and not paths:
            return
        credentials = self.engine.services.credentials

        async def credentials_for(url: str) -> Any:
            if credentials is None:
                return None
            return await credentials.get(self.project, "git", url)

        try:
            await lazy_checkouts.materialize(self.work_dir, paths, credentials_for)
        except git_cli.GitError as err:
            raise errors.StepError(f"checking out the files this step needs: {err}") from err

    async def apply(
        self,
        index: int,
        meta: dict[str, Any],
        spec: registry_mod.StepSpec,
        alias: str,
        result: context.StepResult,
    ) -> None:
        step = self.steps[index]
        kind = spec.name
        status = result.status
        if status in (context.StepStatus.SUCCEEDED, context.StepStatus.SKIPPED):
            self.record_output(spec, alias, result)
            meta["errorCount"] = 0
            if result.health_check is not None and status is context.StepStatus.SUCCEEDED:
                checks = self.status.setdefault("healthChecks", [])
                checks.append({"uses": kind, "config": result.health_check})
            text = self.message(alias, kind, result.message) if result.message else ""
            await self.end_step(meta, str(status), text)
            return
        if status is context.StepStatus.ABORTED:
            await self.end_step(
                meta, "Aborted", self.message(alias, kind, result.message or "aborted")
            )
            return
        timeout = self.timeout(step, spec)
        if status is context.StepStatus.RUNNING:
            self.record_output(spec, alias, result)
            meta["errorCount"] = 0
            meta["message"] = self.message(alias, kind, result.message) if result.message else ""
            if self.timed_out(meta, timeout):
                await self.end_step(
                    meta,
                    "Errored",
                    self.message(alias, kind, f"step timed out after {_fmt(timeout)}"),
                )
                return
            await self.persist()
            raise _Interrupted(self.requeue(meta, result.retry_after, timeout))
        # FAILED or ERRORED: count it against the threshold
        meta["errorCount"] = int(meta.get("errorCount") or 0) + 1
        text = self.message(alias, kind, result.message or str(status).lower())
        threshold = self.threshold(step, spec)
        final = "Failed" if status is context.StepStatus.FAILED else "Errored"
        if result.terminal or meta["errorCount"] >= threshold:
            if meta["errorCount"] > 1:
                text += f" (after {meta['errorCount']} consecutive errors)"
            await self.end_step(meta, final, text)
            return
        meta["message"] = text + f" (error {meta['errorCount']} of {threshold}; will retry)"
        if self.timed_out(meta, timeout):
            await self.end_step(
                meta, "Errored", self.message(alias, kind, f"step timed out after {_fmt(timeout)}")
            )
            return
        await self.persist()
        raise _Interrupted(self.requeue(meta, result.retry_after, timeout, retrying=True))

    def record_output(
        self, spec: registry_mod.StepSpec, alias: str, result: context.StepResult
    ) -> None:
        if not result.output and alias in self.state:
            return
        self.state[alias] = copy_tree(result.output)
        task = evaluation.task_alias(alias)
        if (
            task is not None
            and registry_mod.Capability.TASK_OUTPUT_PROPAGATION in spec.capabilities
        ):
            merged = dict(self.state.get(task) or {})
            merged.update(copy_tree(result.output))
            self.state[task] = merged

    # --- retry and timeout ------------------------------------------------------------------

    def threshold(self, step: Mapping[str, Any], spec: registry_mod.StepSpec) -> int:
        retry = step.get("retry") or {}
        value = int(retry.get("errorThreshold") or 0)
        return value or spec.default_error_threshold or 1

    def timeout(self, step: Mapping[str, Any], spec: registry_mod.StepSpec) -> timedelta | None:
        retry = step.get("retry") or {}
        raw = retry.get("timeout")
        if raw:
            value = parse_duration(str(raw))
            return value if value > timedelta(0) else None
        return spec.default_timeout

    def timed_out(self, meta: Mapping[str, Any], timeout: timedelta | None) -> bool:
        if not timeout or not meta.get("startedAt"):
            return False
        started = clock_mod.parse_time(str(meta["startedAt"]))
        return self.engine.clock.now() - started > timeout

    def requeue(
        self,
        meta: Mapping[str, Any],
        suggested: timedelta | None,
        timeout: timedelta | None,
        *,
        retrying: bool = False,
    ) -> timedelta:
        engine = self.engine
        base = (
            suggested
            if suggested is not None
            else (engine.min_requeue if retrying else engine.default_requeue)
        )
        delay = max(base, engine.min_requeue)
        if timeout and meta.get("startedAt"):
            deadline = clock_mod.parse_time(str(meta["startedAt"])) + timeout
            until = deadline - engine.clock.now()
            if until < delay:
                delay = max(until, timedelta(0))
        return delay


def _fmt(value: timedelta | None) -> str:
    if value is None:
        return "0s"
    seconds = int(value.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    out = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")
    return out + (f"{secs}s" if secs or not out else "")


def parse_duration(text: str) -> timedelta:
    """A Go duration (`90s`, `5m`, `1h30m`, `1.5h`) as a timedelta; ValidationError otherwise.

    The parsing is `kargo.api.models.common.parse_duration`'s; this only trims the text and turns
    its ValueError into the ValidationError that step execution reports.
    """
    try:
        return common.parse_duration(text.strip())
    except ValueError:
        raise errors.ValidationError(
            f"invalid duration {text!r}; use a Go duration such as 30s, 5m or 1h30m"
        ) from None


def _freight_collection(status: Mapping[str, Any]) -> context.FreightCollection:
    items = (status.get("freightCollection") or {}).get("items") or {}
    return context.FreightCollection(items={str(k): dict(v) for k, v in items.items()})
