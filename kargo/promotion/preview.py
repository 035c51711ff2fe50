"""Promotion preview: the exact diff a promotion would commit, before it runs.

    result = await preview_promotion(
        store, registry, clock,
        PreviewRequest(project="kargo-demo", stage="test", freight="f3a1..."),
        services=services,
    )
    for repo in result.repositories:
        print(repo.repo_url, repo.branch, repo.diff)

The Promotion is built as admission would build it (`kargo.api.admission.admit_create`: the
Stage's vars and steps, PromotionTasks inflated, the same name scheme) but never stored. Its
FreightCollection is built as the Promotion reconciler builds it (the Stage's current Freight of
its other origins plus the Freight being previewed). The engine then runs it in dry-run mode in
a throwaway work directory, with a no-op `persist`:

- git-clone fetches the shared mirror (a read) and makes worktrees of it; file-editing steps,
  kustomize, helm, git-commit and git-tag work on those local worktrees as usual.
- git-push pushes nothing: it reports the diff between the remote branch (as just fetched) and
  what it would push. That diff, per repository and branch, is the preview's `repositories`.
- Steps that would call a remote system (argocd-update, http, pull-request steps, and any step
  this module does not know to be preview-safe) are skipped and reported as such.
- Every step gets one attempt (no retries, no waiting), so a preview answers at once.
- Everything returned (diffs, step outputs and messages) is masked with every secret value the
  steps were given (expression reads such as `secret('name').key`, repository credentials),
  as the engine masks its messages: a preview shows `***` where a promotion would push a secret.
- The git mirrors are the caller's (`services.extra`, the server's own cache); without one, a
  private cache inside the preview's temporary directory, removed with it. Never a shared path.

Freight that is not yet available to the Stage (not verified upstream, not approved) can still
be previewed; the result says so in `available` and `warnings`. Freight from an origin the
Stage does not request cannot: there is no promotion to preview.

Neighbours: `engine.py` (runs the steps), `steps/git.py` (git-push's dry-run output),
`kargo.api.admission` (Promotion inflation), `preview_secrets` (what is masked),
`kargo.server.preview_routes` and `kargo.cli.preview_cmds` (the API and CLI on top of this).
"""

from __future__ import annotations

import copy
import dataclasses
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from kargo import clock as clock_mod, errors
from kargo.api import admission, availability
from kargo.git import cli as git_cli, mirror as mirrors, worktree as worktrees
from kargo.promotion import (
    context,
    engine as engine_mod,
    preview_secrets,
    registry as registry_mod,
    workdir,
)
from kargo.promotion.steps import git as git_steps
from kargo.store import interface, lookup as store_lookup

API_VERSION = "kargo.akuity.io/v1alpha1"
ALIAS_LABEL = "kargo.akuity.io/alias"

# Step kinds known to touch nothing outside the work directory in dry-run mode (reads such as
# fetching a git mirror or a chart are allowed). Every other kind is skipped in a preview.
PREVIEW_SAFE_STEPS = frozenset(
    {
        # meta: set-metadata and set-freight-alias write nothing when ctx.dry_run is set
        "compose-output",
        "fail",
        "set-metadata",
        "set-freight-alias",
        # git: git-push pushes nothing when ctx.dry_run is set
        "git-clone",
        "git-clear",
        "git-commit",
        "git-push",
        "git-tag",
        # files and manifests
        "copy",
        "delete",
        "file-write",
        "tar",
        "untar",
        "json-update",
        "json-parse",
        "toml-update",
        "toml-parse",
        "yaml-update",
        "yaml-parse",
        "yaml-merge",
        "kustomize-set-image",
        "kustomize-build",
        "helm-update-chart",
        "helm-template",
        "helm-update-image",
    }
)


class _Model(BaseModel):
    model_config = ConfigDict(populate_by_name=True)


class PreviewRequest(_Model):
    """What to preview: a Stage and exactly one of a Freight name, a Freight alias or an origin."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    project: str = Field(min_length=1)
    stage: str = Field(min_length=1)
    freight: str | None = Field(default=None, min_length=1)
    freight_alias: str | None = Field(default=None, alias="freightAlias", min_length=1)
    origin: str | None = Field(
        default=None,
        min_length=1,
        description="`Warehouse/<name>` (or just `<name>`): preview the newest Freight of that "
        "origin available to the Stage, as auto-promotion would pick it.",
    )
    actor: str = ""


class RepositoryDiff(_Model):
    """What the promotion would push to one repository and branch."""

    repo_url: str = Field(alias="repoURL")
    branch: str = ""
    tag: str | None = None
    diff: str = Field(default="", description="Unified diff (git diff) of what would be pushed.")
    commit: str = Field(default="", description="The local commit a push would carry.")
    new_branch: bool = Field(
        default=False, alias="newBranch", description="The branch does not exist on the remote."
    )


class StepPreview(_Model):
    """How one step went in the preview."""

    alias: str
    uses: str = ""
    status: str = ""
    message: str = ""
    skipped_in_preview: bool = Field(default=False, alias="skippedInPreview")
    output: dict[str, Any] = Field(default_factory=dict)


class FreightSummary(_Model):
    """The Freight previewed."""

    name: str
    alias: str = ""
    origin: str = ""


class Preview(_Model):
    """The outcome of a preview: per-repository diffs and per-step results."""

    project: str
    stage: str
    promotion: str = Field(description="The name the Promotion would get (never stored).")
    freight: FreightSummary
    available: bool = Field(
        description="Whether the Freight may be promoted to the Stage now; a preview runs anyway."
    )
    warnings: list[str] = Field(default_factory=list)
    phase: str = Field(description="The phase the promotion would end in (Succeeded, Errored...).")
    message: str = ""
    repositories: list[RepositoryDiff] = Field(default_factory=list)
    steps: list[StepPreview] = Field(default_factory=list)


# ------------------------------------------------------------------------------------------
# the store seen read-only
# ------------------------------------------------------------------------------------------


def _describe(obj: interface.Object) -> str:
    meta = obj.get("metadata") or {}
    return f"{obj.get('kind', '?')} {meta.get('namespace', '')}/{meta.get('name', '')}"


class ReadOnlyStore:
    """The store as a preview's steps and expressions see it: reads pass, writes are refused.

    Steps honour `ctx.dry_run` and write nothing; this makes that a guarantee."""

    def __init__(self, store: interface.Store) -> None:
        self._store = store

    async def get(self, kind: str, namespace: str, name: str) -> interface.Object:
        """Read one object."""
        return await self._store.get(kind, namespace, name)

    async def list(
        self, kind: str, options: interface.ListOptions | None = None
    ) -> interface.ObjectList:
        """Read a page of objects."""
        return await self._store.list(kind, options)

    async def cache_get(self, bucket: str, key: str) -> str | None:
        """Read a cached value."""
        return await self._store.cache_get(bucket, key)

    def _refuse(self, what: str) -> errors.PermissionDeniedError:
        return errors.PermissionDeniedError(
            f"a promotion preview changes nothing: {what} refused; run the promotion itself "
            "(kargo promote) to make changes"
        )

    async def create(self, obj: interface.Object) -> interface.Object:
        """Refused."""
        raise self._refuse(f"create of {_describe(obj)}")

    async def update(self, obj: interface.Object) -> interface.Object:
        """Refused."""
        raise self._refuse(f"update of {_describe(obj)}")

    async def update_status(self, obj: interface.Object) -> interface.Object:
        """Refused."""
        raise self._refuse(f"status update of {_describe(obj)}")

    async def delete(self, kind: str, namespace: str, name: str) -> interface.Object | None:
        """Refused."""
        raise self._refuse(f"delete of {kind} {namespace}/{name}")


# ------------------------------------------------------------------------------------------
# what the steps saw: clone bases and dry-run pushes
# ------------------------------------------------------------------------------------------


@dataclasses.dataclass
class _Recorder:
    """Filled by the wrapped git-clone and git-push while the preview runs."""

    bases: dict[Path, str] = dataclasses.field(default_factory=dict)  # checkout -> cloned sha
    # mirrors used: (path, repo URL, insecure), to prune their worktree lists afterwards
    mirrors: set[tuple[str, str, bool]] = dataclasses.field(default_factory=set)
    pushes: dict[tuple[str, str], RepositoryDiff] = dataclasses.field(default_factory=dict)


async def _remote_has_branch(mirror_path: str, branch: str) -> bool:
    result = await git_cli.run_git(
        ["rev-parse", "--verify", "--quiet", f"{mirrors.HEADS}{branch}^{{commit}}"],
        cwd=Path(mirror_path),
        check=False,
    )
    return result.ok


def _wrap_clone(spec: registry_mod.StepSpec, rec: _Recorder) -> registry_mod.StepSpec:
    async def run(ctx: context.StepContext, cfg: Any) -> context.StepResult:
        result = await spec.run(ctx, cfg)
        if isinstance(cfg, git_steps.GitCloneConfig):
            commits = result.output.get("commits") or {}
            for checkout in cfg.checkout:
                path = workdir.resolve(ctx.work_dir, checkout.path)
                rec.bases[path] = str(commits.get(checkout.as_ or checkout.path) or "")
                try:
                    meta = worktrees.read_checkout(path)
                except FileNotFoundError:
                    continue
                rec.mirrors.add((meta.mirror_path, meta.repo_url, meta.insecure_skip_tls_verify))
        return result

    return dataclasses.replace(spec, run=run)


def _wrap_push(spec: registry_mod.StepSpec, rec: _Recorder) -> registry_mod.StepSpec:
    async def run(ctx: context.StepContext, cfg: Any) -> context.StepResult:
        result = await spec.run(ctx, cfg)
        out = result.output
        if not (isinstance(cfg, git_steps.GitPushConfig) and out.get("dryRun")):
            return result
        path = workdir.resolve(ctx.work_dir, cfg.path)
        meta = worktrees.read_checkout(path)
        url = git_cli.strip_userinfo(meta.repo_url)
        if out.get("tag"):
            entry = RepositoryDiff(
                repo_url=url, tag=str(out["tag"]), commit=str(out.get("commit", ""))
            )
            rec.pushes[(url, "tag:" + str(out["tag"]))] = entry
            return result
        branch = str(out.get("branch", ""))
        diff = str(out.get("diff", ""))
        exists = await _remote_has_branch(meta.mirror_path, branch)
        base = rec.bases.get(path, "")
        if not exists and base:
            # A new branch made from a checkout (generateTargetBranch, targetBranch, or git-clone's
            # `create`, whose initial commit a preview makes locally): its diff is against the
            # commit checked out, not against nothing.
            shown = await worktrees.run(
                path, ["diff", "--no-color", "--no-ext-diff", base, "HEAD"], url=meta.repo_url
            )
            diff = shown.stdout
        rec.pushes[(url, branch)] = RepositoryDiff(
            repo_url=url,
            branch=branch,
            diff=diff,
            commit=str(out.get("commit", "")),
            new_branch=not exists,
        )
        return result

    return dataclasses.replace(spec, run=run)


def _skipper(spec: registry_mod.StepSpec) -> registry_mod.StepSpec:
    async def run(ctx: context.StepContext, cfg: Any) -> context.StepResult:
        del ctx, cfg
        return context.StepResult(
            status=context.StepStatus.SKIPPED,
            message=f"skipped in preview: {spec.name} calls a remote system",
            output={"skippedInPreview": True},
        )

    return dataclasses.replace(spec, run=run)


def preview_registry(
    registry: registry_mod.StepRegistry,
    recorder: _Recorder,
    extra_safe: Iterable[str] = (),
) -> registry_mod.StepRegistry:
    """A copy of `registry` for previews: unsafe steps skip, git-clone and git-push observed."""
    safe = PREVIEW_SAFE_STEPS | frozenset(extra_safe)
    out = registry_mod.StepRegistry()
    for spec in registry:
        if spec.name not in safe or registry_mod.Capability.ACCESS_ARGOCD in spec.capabilities:
            out.register(_skipper(spec))
        elif spec.name == "git-clone":
            out.register(_wrap_clone(spec, recorder))
        elif spec.name == "git-push":
            out.register(_wrap_push(spec, recorder))
        else:
            out.register(spec)
    return out


# ------------------------------------------------------------------------------------------
# secrets: what the steps were given (`preview_secrets`), masked in everything returned
# ------------------------------------------------------------------------------------------


def _masked(result: Preview, mask: engine_mod.Redactor) -> Preview:
    """The preview with every secret masked in everything it shows."""
    result.message = mask(result.message)
    result.warnings = [mask(w) for w in result.warnings]
    for repo in result.repositories:
        repo.repo_url = mask(repo.repo_url)
        repo.branch = mask(repo.branch)
        repo.tag = mask(repo.tag) if repo.tag is not None else None
        repo.diff = mask(repo.diff)
    for step in result.steps:
        step.message = mask(step.message)
        step.output = preview_secrets.mask_tree(step.output, mask)
    return result


# ------------------------------------------------------------------------------------------
# building the Promotion
# ------------------------------------------------------------------------------------------


async def _stage(store: interface.Store, project: str, name: str) -> dict[str, Any]:
    try:
        await store.get("Project", "", project)
    except errors.NotFoundError:
        raise errors.NotFoundError(
            f"project {project!r} not found; list them with `kargo get projects`"
        ) from None
    try:
        return await store.get("Stage", project, name)
    except errors.NotFoundError:
        raise errors.NotFoundError(
            f"Stage {name!r} not found in project {project!r}; list them with "
            f"`kargo get stages --project {project}`"
        ) from None


async def _freight_by_alias(store: interface.Store, project: str, alias: str) -> str:
    page = await store.list(
        "Freight",
        interface.ListOptions(namespace=project, label_selector=f"{ALIAS_LABEL}={alias}"),
    )
    if not page.items:
        raise errors.NotFoundError(
            f"no Freight with alias {alias!r} in project {project!r}; list them with "
            f"`kargo get freight --project {project}`"
        )
    return str(page.items[0]["metadata"]["name"])


async def _freight(store: interface.Store, project: str, name: str) -> dict[str, Any]:
    try:
        return await store.get("Freight", project, name)
    except errors.NotFoundError:
        raise errors.NotFoundError(
            f"Freight {name!r} not found in project {project!r}; list them with "
            f"`kargo get freight --project {project}`"
        ) from None


def _origin(text: str) -> dict[str, str]:
    kind, _, name = text.rpartition("/")
    return {"kind": kind or "Warehouse", "name": name}


def freight_reference(freight: dict[str, Any]) -> dict[str, Any]:
    """The FreightReference a Promotion's status records (as the reconciler builds it)."""
    ref: dict[str, Any] = {"name": freight["metadata"]["name"]}
    for key in ("origin", "commits", "images", "charts", "artifacts", "alias"):
        if freight.get(key):
            ref[key] = copy.deepcopy(freight[key])
    return ref


def freight_collection(stage: dict[str, Any], freight: dict[str, Any]) -> dict[str, Any]:
    """The Stage's current Freight of every origin, with `freight` in its origin's place."""
    items: dict[str, Any] = {}
    history = (stage.get("status") or {}).get("freightHistory") or []
    if history:
        for key, value in ((history[0] or {}).get("items") or {}).items():
            items[str(key)] = copy.deepcopy(value)
    ref = freight_reference(freight)
    items[availability.origin_key(ref.get("origin") or {})] = ref
    return {
        "id": availability.freight_collection_id(str(v.get("name", "")) for v in items.values()),
        "items": items,
    }


async def build_promotion(
    store: interface.Store, clock: clock_mod.Clock, request: PreviewRequest
) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """The Promotion the Stage would run (not stored), its Freight, and warnings."""
    chosen = [x for x in (request.freight, request.freight_alias, request.origin) if x]
    if len(chosen) != 1:
        raise errors.ValidationError(
            "give exactly one of freight, freightAlias or origin "
            f"(got {len(chosen)}); e.g. --freight <name> or --origin Warehouse/<name>"
        )
    stage = await _stage(store, request.project, request.stage)
    spec: dict[str, Any] = {"stage": request.stage}
    if request.origin:
        spec["origin"] = _origin(request.origin)
    else:
        name = request.freight or await _freight_by_alias(
            store, request.project, str(request.freight_alias)
        )
        await _freight(store, request.project, name)
        spec["freight"] = name
    now = clock.now()
    promo = await admission.admit_create(
        {
            "apiVersion": API_VERSION,
            "kind": "Promotion",
            "metadata": {"namespace": request.project, "generateName": f"{request.stage}."},
            "spec": spec,
        },
        store_lookup.StoreLookup(store),
        actor=request.actor or "preview",
        now=now,
    )
    freight = await _freight(store, request.project, str(promo["spec"]["freight"]))
    warnings: list[str] = []
    if not availability.is_available(stage, freight, now):
        warnings.append(
            f"Freight {freight['metadata']['name']!r} is not available to Stage "
            f"{request.stage!r} yet (not verified in an upstream Stage it takes Freight from, "
            "nor approved for it): a promotion would be refused until it is verified "
            f"upstream or approved with `kargo approve --stage {request.stage}`"
        )
    # one attempt per step: a preview never waits for a retry
    for step in promo["spec"].get("steps") or []:
        step["retry"] = {**(step.get("retry") or {}), "errorThreshold": 1}
    promo["status"] = {
        "phase": "Running",
        "freight": freight_reference(freight),
        "freightCollection": freight_collection(stage, freight),
        "currentStep": 0,
    }
    return promo, freight, warnings


# ------------------------------------------------------------------------------------------
# the preview
# ------------------------------------------------------------------------------------------


async def _no_persist(promo: dict[str, Any]) -> dict[str, Any]:
    return promo


def _steps(promo: dict[str, Any]) -> list[StepPreview]:
    status = promo.get("status") or {}
    state = status.get("state") or {}
    steps = (promo.get("spec") or {}).get("steps") or []
    out: list[StepPreview] = []
    for index, meta in enumerate(status.get("stepExecutionMetadata") or []):
        alias = str(meta.get("alias", ""))
        output = dict(state.get(alias) or {})
        skipped = bool(output.pop("skippedInPreview", False))
        output.pop("diff", None)  # shown once, under repositories
        out.append(
            StepPreview(
                alias=alias,
                uses=str(steps[index].get("uses", "")) if index < len(steps) else "",
                status=str(meta.get("status", "")),
                message=str(meta.get("message", "")),
                skipped_in_preview=skipped,
                output=output,
            )
        )
    return out


async def _prune(cache: mirrors.MirrorCache | None, used: Iterable[tuple[str, str, bool]]) -> None:
    """Forget the worktrees of the removed work directory in each mirror used.

    A shared mirror is pruned under its worktree lock: a promotion adding a worktree to it at
    the same moment would otherwise fail."""
    for path, url, insecure in sorted(used):
        if not Path(path).is_dir():
            continue
        mirror = None
        if cache is not None:
            mirror = cache.get(git_cli.strip_userinfo(url), insecure_skip_tls_verify=insecure)
        if mirror is not None and mirror.path == Path(path):
            async with mirror.worktree_lock:
                await mirror.git(["worktree", "prune"], check=False)
        else:
            await git_cli.run_git(["worktree", "prune"], cwd=Path(path), check=False)


async def preview_promotion(
    store: interface.Store,
    registry: registry_mod.StepRegistry,
    clock: clock_mod.Clock,
    request: PreviewRequest,
    *,
    services: engine_mod.EngineServices | None = None,
    work_root: Path | None = None,
    extra_safe_steps: Iterable[str] = (),
) -> Preview:
    """Run the Promotion the Stage would run for the Freight, pushing nothing; see the module.

    `store` is only read. `services` are the engine services a real promotion would get
    (credentials to fetch private repositories, the shared git mirrors in `extra`; without
    mirrors, a private cache in the work directory is used and removed with it). The work
    directory is a fresh temporary directory (mode 0700) under `work_root` (default: the
    system's temp dir), removed afterwards. Every secret the steps were given is masked in the
    answer. Raises NotFoundError for an unknown project, Stage or Freight, and
    ValidationError when the Stage cannot take the Freight at all.
    """
    promo, freight, warnings = await build_promotion(store, clock, request)
    services = dataclasses.replace(services or engine_mod.EngineServices())
    services.extra = dict(services.extra)
    reader = ReadOnlyStore(store)
    services.control_plane = reader
    if services.data_store is None:
        services.data_store = reader
    seen = preview_secrets.Secrets()
    seen.listen(services)
    recorder = _Recorder()
    wrapped = preview_registry(registry, recorder, extra_safe_steps)
    if work_root is not None:
        work_root.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="kargo-preview-", dir=work_root))
    cache = services.extra.get(git_steps.MIRRORS_SERVICE)
    if not isinstance(cache, mirrors.MirrorCache):
        # never git-clone's process-wide default: a shared path outside the caller's control
        cache = mirrors.MirrorCache(root / ".mirrors")
        services.extra[git_steps.MIRRORS_SERVICE] = cache
    try:
        engine = engine_mod.Engine(wrapped, clock, services, work_root=root)
        outcome = await engine.execute(promo, _no_persist, dry_run=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
        await _prune(cache, recorder.mirrors)
    result = outcome.promotion
    status = result.get("status") or {}
    phase = outcome.phase
    message = str(status.get("message", ""))
    if phase not in engine_mod.TERMINAL_PHASES:
        message = message or "the promotion would wait for a step; the preview stops there"
    shown = Preview(
        project=request.project,
        stage=request.stage,
        promotion=str(result["metadata"]["name"]),
        freight=FreightSummary(
            name=str(freight["metadata"]["name"]),
            alias=str(freight.get("alias") or ""),
            origin=availability.origin_key(freight.get("origin") or {}),
        ),
        available=not warnings,
        warnings=warnings,
        phase=phase,
        message=message,
        repositories=list(recorder.pushes.values()),
        steps=_steps(result),
    )
    redact_known = services.redact
    by_value = seen.redactor()
    return _masked(shown, lambda text: by_value(redact_known(text)))
