"""Wiring: build the reconcilers on a store and run them until told to stop.

`kargo server` (and `python -m kargo.controller`) call `run_controllers`. It builds the promotion
engine with the built-in steps' services, registers each reconciler on a `runtime.Manager` with
its concurrency limit, sweeps work directories of Promotions that no longer exist, and runs.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from pathlib import Path

from kargo import clock as clock_mod, errors
from kargo.controller import (
    events as events_mod,
    promotions,
    runtime,
    stage_promotions,
    stages,
    warehouses,
)
from kargo.credentials import interface as credentials_interface, redaction
from kargo.git import mirror as mirror_mod, push as push_mod
from kargo.promotion import (
    context,
    engine as engine_mod,
    registry as registry_mod,
    trash,
    workdir,
)
from kargo.store import interface
from kargo.verification import analysis

log = logging.getLogger(__name__)

CONCURRENCY_ENV = "MAX_CONCURRENT_PROMOTION_RECONCILES"


def promotion_concurrency() -> int:
    """MAX_CONCURRENT_PROMOTION_RECONCILES (default 4), as in Kargo."""
    raw = os.environ.get(CONCURRENCY_ENV, "")
    try:
        value = int(raw) if raw else runtime.DEFAULT_CONCURRENCY
    except ValueError:
        log.warning("%s=%r is not a number; using %d", CONCURRENCY_ENV, raw, 4)
        return runtime.DEFAULT_CONCURRENCY
    return max(1, value)


POLICY_SERVICE = "git_push_integration_policy"  # what git-push reads (kargo.promotion.steps.git)


def git_push_policy() -> push_mod.IntegrationPolicy:
    """GIT_PUSH_INTEGRATION_POLICY (default RebaseOrMerge), as in Kargo; an unknown value
    stops the controllers at startup with the allowed values, not at the first moved branch."""
    raw = os.environ.get(push_mod.POLICY_ENV, "")
    if not raw.strip():
        return push_mod.IntegrationPolicy.REBASE_OR_MERGE
    try:
        return push_mod.parse_policy(raw)
    except ValueError as err:
        raise errors.ValidationError(str(err)) from None


class RememberingCredentials:
    """A CredentialsProvider that tells the redactor every secret it hands to a step."""

    def __init__(
        self, inner: credentials_interface.CredentialsProvider, redactor: redaction.Redactor
    ) -> None:
        self.inner = inner
        self.redactor = redactor

    async def get(
        self, project: str, cred_type: credentials_interface.CredentialType, repo_url: str
    ) -> credentials_interface.Credentials | None:
        """The inner provider's answer; its secrets are remembered for redaction."""
        found = await self.inner.get(project, cred_type, repo_url)
        if found is not None:
            self.redactor.add(*found.secrets())
        return found


def with_redaction(services: engine_mod.EngineServices) -> engine_mod.EngineServices:
    """Wire a Redactor through the services: credentials and secrets read are masked in every
    step message, and so is any `user:password@` in a URL."""
    redactor = redaction.Redactor()
    if services.credentials is not None:
        services.credentials = RememberingCredentials(services.credentials, redactor)
    services.remember_secrets = lambda values: redactor.add(*values)
    prior = services.redact
    services.redact = lambda message: redactor(prior(message))
    return services


MIRRORS_DIR = ".git-mirrors"  # under the work root; never a namespace name, so never swept


def mirror_cache(work_root: Path) -> mirror_mod.MirrorCache:
    """The process's git mirrors, under `work_root` (both mode 0700: private repositories'
    content must not be readable by other local users). The server makes one and shares it
    with previews, so every fetch of a repository in this process goes through one lock."""
    root = work_root / MIRRORS_DIR
    for path in (work_root, root):
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.chmod(0o700)  # made by an older version with the umask's mode
    return mirror_mod.MirrorCache(root)


def build_manager(
    store: interface.Store,
    *,
    clock: clock_mod.Clock,
    registry: registry_mod.StepRegistry,
    work_root: Path,
    services: engine_mod.EngineServices | None = None,
    events: promotions.EventRecorder | None = None,
    analysis_runner: analysis.AnalysisRunner | None = None,
    git_push_integration_policy: push_mod.IntegrationPolicy | None = None,
    mirrors: mirror_mod.MirrorCache | None = None,
) -> tuple[runtime.Manager, promotions.PromotionReconciler]:
    """The manager with every reconciler registered (not started).

    Events go to the store (`kargo get events`) unless `events` is given; verification uses the
    web, prometheus and job providers unless `analysis_runner` is given. git-push integrates a
    moved branch by `git_push_integration_policy` (default: GIT_PUSH_INTEGRATION_POLICY).
    `mirrors` is the process's git mirror cache when someone else (the server's previews)
    shares it; by default one is made under `work_root`.
    """
    policy = git_push_integration_policy or git_push_policy()
    if services is None:
        services = engine_mod.EngineServices(
            credentials=warehouses.default_credentials(store),
            git_user=context.GitUser(),
        )
    # One mirror per repository URL, shared by discovery and promotions, and one push
    # coordinator so pushes to one repo+branch are serialised and coalesced in this process.
    if mirrors is None:
        found = services.extra.get("git_mirrors")
        mirrors = found if isinstance(found, mirror_mod.MirrorCache) else mirror_cache(work_root)
    services.extra["git_mirrors"] = mirrors
    services.extra.setdefault("git_push_coordinator", push_mod.PushCoordinator())
    services.extra.setdefault(POLICY_SERVICE, policy)  # the operator's, for every git-push
    if services.control_plane is None:
        services.control_plane = store
    if services.data_store is None:
        services.data_store = store
    services = with_redaction(services)
    engine = engine_mod.Engine(registry, clock, services, work_root=work_root)
    recorder = events if events is not None else events_mod.StoreEvents(store, clock)
    stage_reconciler, sync = stages.build(store, clock, events=recorder, runner=analysis_runner)
    reconciler = stage_promotions.PipelinePromotionReconciler(
        store, engine, clock, events=recorder, sync=sync
    )
    manager = runtime.Manager(store, clock)
    manager.register("Promotion", reconciler, concurrency=promotion_concurrency())
    manager.watch_related("Stage", promotions.StageToPromotion(store))
    stages.register(manager, stage_reconciler)
    warehouses.register(
        manager,
        store,
        clock=clock,
        work_root=work_root,
        credentials=services.credentials,
        events=recorder,
        mirrors=mirrors,
    )
    return manager, reconciler


async def sweep_work_dirs(store: interface.Store, work_root: Path) -> list[str]:
    """Remove work directories whose Promotion is gone or finished (`<root>/<ns>/<name>`)."""
    live: list[interface.Object] = []
    token: str | None = None
    while True:
        page = await store.list("Promotion", interface.ListOptions(limit=500, continue_token=token))
        live.extend(
            p
            for p in page.items
            if (p.get("status") or {}).get("phase") not in engine_mod.TERMINAL_PHASES
        )
        token = page.continue_token
        if not token:
            break
    keep = {workdir.promotion_dir(work_root, p) for p in live}
    removed: list[str] = []
    if not work_root.is_dir():
        return removed
    trash.empty_trash(work_root)  # what a stopped process had not deleted yet
    for ns_dir in sorted(work_root.iterdir()):
        if not ns_dir.is_dir() or ns_dir.name.startswith("."):
            continue  # dot-directories (the git mirrors, the trash) are not namespaces
        for path in sorted(ns_dir.iterdir()):
            if path.is_dir() and path not in keep:
                shutil.rmtree(path, ignore_errors=True)
                removed.append(f"{ns_dir.name}/{path.name}")
    return removed


async def run_controllers(
    store: interface.Store,
    *,
    clock: clock_mod.Clock,
    registry: registry_mod.StepRegistry,
    work_root: Path,
    stop: asyncio.Event,
    services: engine_mod.EngineServices | None = None,
    events: promotions.EventRecorder | None = None,
    git_push_integration_policy: push_mod.IntegrationPolicy | None = None,
    mirrors: mirror_mod.MirrorCache | None = None,
) -> None:
    """Run every controller against `store` until `stop` is set (`mirrors`: see build_manager)."""
    manager, _ = build_manager(
        store,
        clock=clock,
        registry=registry,
        work_root=work_root,
        services=services,
        events=events,
        git_push_integration_policy=git_push_integration_policy,
        mirrors=mirrors,
    )
    removed = await sweep_work_dirs(store, work_root)
    if removed:
        log.info("removed %d stale promotion work directories", len(removed))
    await manager.run(stop)
