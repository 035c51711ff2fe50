"""The git step family: git-clone, git-clear, git-commit, git-push and git-tag.

Checkouts are `git worktree`s of the process's shared mirror of the repository
(`ctx.services["git_mirrors"]`, a `kargo.git.mirror.MirrorCache`), so a promotion fetches only
what changed since the last one and copies no history. Pushes go through
`ctx.services["git_push_coordinator"]` (a `kargo.git.push.PushCoordinator`): one lock per
repository and branch in the process, a store lease across replicas when the step has the
control plane (`ctx.control_plane`), and promotions waiting on the same branch are carried by
a single push, each getting its own commit as output. A branch git-clone creates gets its
first commit pushed at once, through the same coordinator. In dry-run (preview) mode nothing is
pushed: git-clone makes a created branch's first commit locally only, and git-push records the
diff it would push.

Neighbours: kargo.git (commands, mirrors, worktrees, pushes), kargo.promotion.workdir (safe
paths), kargo.promotion.registry (registration).
"""

from __future__ import annotations

import asyncio
import atexit
import shutil
import tempfile
import weakref
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from kargo import errors
from kargo.git import (
    cli,
    lazy as lazy_checkouts,
    mirror as mirrors,
    push as pushes,
    refname,
    worktree as worktrees,
)
from kargo.promotion import registry as reg, workdir
from kargo.promotion.context import StepContext, StepResult

MIRRORS_SERVICE = "git_mirrors"
PUSH_SERVICE = "git_push_coordinator"
POLICY_SERVICE = "git_push_integration_policy"
DEFAULT_POLICY = pushes.IntegrationPolicy.REBASE_OR_MERGE
BRANCHES_REFSPEC = f"+refs/heads/*:{mirrors.HEADS}*"


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, alias_generator=to_camel)


def _ref_name(kind: str, value: str) -> str:
    """A branch or tag name git accepts; refused at validation, naming the rule it breaks,
    rather than by git mid-step with no explanation."""
    problem = refname.error(kind, value)
    if problem is not None:
        raise PydanticCustomError("ref_name", problem)
    return value


class GitAuthor(_Config):
    """Who commits in a checkout."""

    name: str = Field(min_length=1, description="The committer's name.")
    email: str = Field(min_length=1, description="The committer's email address.")
    signing_key: str | None = Field(
        default=None,
        description="An ASCII-armored GPG private key (no passphrase) that signs the commits.",
    )


class GitCheckout(_Config):
    """One worktree of the repository."""

    branch: str | None = Field(
        default=None,
        description="The branch to check out. Mutually exclusive with `commit` and `tag`; "
        "with none of the three the remote's default branch is checked out. An empty string "
        "counts as not set.",
    )
    commit: str | None = Field(
        default=None,
        description="A commit to check out (e.g. `${{ commitFrom(repoURL).ID }}`); an empty "
        "string counts as not set.",
    )
    tag: str | None = Field(
        default=None, description="A tag to check out; an empty string counts as not set."
    )
    create: bool = Field(
        default=False,
        description="When the remote lacks `branch`, create it, as Kargo does: a branch with "
        'no history and one empty commit ("Initial commit", by the clone\'s `author`, signed '
        "when it has a signing key), pushed at once; a branch someone else creates meanwhile "
        "is used as it is. Ignored without `branch`.",
    )
    path: str = Field(min_length=1, description="Where in the work directory to check out.")
    sparse: list[str] | None = Field(
        default=None,
        description="Directories to check out (sparse checkout); everything when omitted.",
    )
    as_: str | None = Field(
        default=None,
        alias="as",
        description="The key of this checkout's commit in the `commits` output (default: path; "
        "also when empty).",
    )

    @field_validator("branch", "commit", "tag", "as_", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """Kargo's schema lets `branch: ""` (a template that rendered empty) mean "not set"."""
        return None if value == "" else value

    @field_validator("branch")
    @classmethod
    def _branch_name(cls, value: str | None) -> str | None:
        return None if value is None else _ref_name("branch", value)

    @field_validator("tag")
    @classmethod
    def _tag_name(cls, value: str | None) -> str | None:
        return None if value is None else _ref_name("tag", value)

    @model_validator(mode="after")
    def _one_ref(self) -> GitCheckout:
        if sum(x is not None for x in (self.branch, self.commit, self.tag)) > 1:
            raise ValueError("branch, commit and tag are mutually exclusive; set only one")
        # `create` without `branch` is ignored, as Kargo does (there is nothing to create)
        return self


class GitCloneConfig(_Config):
    """Configuration of git-clone."""

    repo_url: str = Field(alias="repoURL", min_length=1, description="The repository URL.")
    checkout: list[GitCheckout] = Field(min_length=1, description="The worktrees to create.")
    author: GitAuthor | None = Field(
        default=None, description="Committer identity (default: the system's git user)."
    )
    insecure_skip_tls_verify: bool = Field(
        default=False,
        alias="insecureSkipTLSVerify",
        description="Accept any TLS certificate from the git server, for this clone only: "
        "it gets a mirror of its own, and other clones and Warehouses of the URL still verify.",
    )
    recurse_submodules: bool = Field(default=False, description="Also check out submodules.")
    blobless: bool | None = Field(
        default=None,
        description="Fetch file contents lazily. Accepted for compatibility: the server's "
        "mirror already fetches only what checkouts need (see below).",
    )

    @model_validator(mode="after")
    def _unique(self) -> GitCloneConfig:
        paths = [c.path for c in self.checkout]
        if len(set(paths)) != len(paths):
            raise ValueError("checkout paths must be unique")
        keys = [c.as_ or c.path for c in self.checkout]
        if len(set(keys)) != len(keys):
            raise ValueError("checkout `as` keys must be unique")
        return self


class GitClearConfig(_Config):
    """Configuration of git-clear."""

    path: str = Field(min_length=1, description="The checkout to empty (`.git` is kept).")


class GitCommitConfig(_Config):
    """Configuration of git-commit."""

    path: str = Field(min_length=1, description="The checkout to commit in.")
    message: str = Field(min_length=1, description="The commit message.")
    author: GitAuthor | None = Field(
        default=None,
        description="Deprecated (use git-clone's author): the committer for this commit.",
    )


class GitPushConfig(_Config):
    """Configuration of git-push.

    When the branch moved since git-clone, this promotion's commits are integrated by the
    operator's integration policy (`GIT_PUSH_INTEGRATION_POLICY`, as in Kargo; default
    `RebaseOrMerge`): `AlwaysRebase` rebases, `AlwaysMerge` merges, `None` fails, and
    `RebaseOrMerge` / `RebaseOrFail` rebase when that is safe (every commit signed by the
    checkout's signing key with signing on, or every commit unsigned with signing off) and
    otherwise merge / fail. A rebase of signed commits re-signs them with the checkout's key.
    A rebase or merge that conflicts fails the step: a conflict needs manual resolution."""

    path: str = Field(min_length=1, description="The checkout to push.")
    target_branch: str | None = Field(
        default=None,
        min_length=1,
        description="The branch to push to (default: the branch the checkout tracks). Must "
        "be a valid branch name (`git check-ref-format --branch`).",
    )
    generate_target_branch: bool = Field(
        default=False,
        description="Push to a new branch named `kargo/promotion/<promotion>`.",
    )
    tag: str | None = Field(
        default=None, min_length=1, description="Push this tag (made by git-tag) instead."
    )
    force: bool = Field(default=False, description="Overwrite the remote branch or tag.")
    max_attempts: int = Field(
        default=10,
        ge=1,
        le=2147483647,
        description="Push attempts when other commits keep landing on the branch first.",
    )
    provider: Literal["azure", "bitbucket", "gitea", "github", "gitlab"] | None = Field(
        default=None,
        description="The git hosting provider, used to build `commitURL` (default: guessed "
        "from the host name).",
    )
    integration_policy: pushes.IntegrationPolicy | None = Field(
        default=None,
        description="Overrides the operator's integration policy (`GIT_PUSH_INTEGRATION_POLICY`"
        "; default RebaseOrMerge) for this push: None, AlwaysRebase, RebaseOrMerge, "
        "RebaseOrFail or AlwaysMerge. An extension of Kargo, which sets it for the whole "
        "controller only.",
    )

    @field_validator("target_branch")
    @classmethod
    def _target_branch_name(cls, value: str | None) -> str | None:
        if value is not None and (value.startswith("-") or value == "HEAD"):
            raise PydanticCustomError(
                "ref_name",
                f"{value!r} is not a valid git branch name: a branch cannot be named HEAD or "
                "start with '-' (see `git help check-ref-format`); choose another branch name",
            )
        return None if value is None else _ref_name("branch", value)

    @model_validator(mode="after")
    def _one_target(self) -> GitPushConfig:
        chosen = [
            self.target_branch is not None,
            self.generate_target_branch,
            self.tag is not None,
        ]
        if sum(chosen) > 1:
            raise ValueError("targetBranch, generateTargetBranch and tag are mutually exclusive")
        return self


class GitTagConfig(_Config):
    """Configuration of git-tag."""

    path: str = Field(min_length=1, description="The checkout whose HEAD to tag.")
    tag: str = Field(min_length=1, description="The tag name.")
    message: str = Field(
        min_length=1, description="The annotation (required, as `git tag -a` needs one)."
    )
    force: bool = Field(default=False, description="Replace a tag of the same name.")

    @field_validator("tag")
    @classmethod
    def _tag_name(cls, value: str) -> str:
        return _ref_name("tag", value)


# ------------------------------------------------------------------------------------------
# services
# ------------------------------------------------------------------------------------------

_default_mirrors: weakref.WeakKeyDictionary[Any, mirrors.MirrorCache] = weakref.WeakKeyDictionary()
_default_pushers: weakref.WeakKeyDictionary[Any, pushes.PushCoordinator] = (
    weakref.WeakKeyDictionary()
)


def _mirror_cache(ctx: StepContext) -> mirrors.MirrorCache:
    cache = ctx.services.get(MIRRORS_SERVICE)
    if isinstance(cache, mirrors.MirrorCache):
        return cache
    loop = asyncio.get_running_loop()
    if loop not in _default_mirrors:
        # no server wired one in (a step run on its own): a private one for this process,
        # never a fixed path other users or processes could read or share
        root = Path(tempfile.mkdtemp(prefix="kargo-git-mirrors-"))
        atexit.register(shutil.rmtree, root, True)
        _default_mirrors[loop] = mirrors.MirrorCache(root)
    return _default_mirrors[loop]


def _push_coordinator(ctx: StepContext) -> pushes.PushCoordinator:
    coordinator = ctx.services.get(PUSH_SERVICE)
    if isinstance(coordinator, pushes.PushCoordinator):
        return coordinator
    loop = asyncio.get_running_loop()
    if loop not in _default_pushers:
        _default_pushers[loop] = pushes.PushCoordinator()
    return _default_pushers[loop]


async def _credentials(ctx: StepContext, repo_url: str) -> cli.GitCredentials | None:
    if ctx.credentials is None:
        return None
    return await ctx.credentials.get(ctx.project, "git", repo_url)


def _identity(
    ctx: StepContext,
    author: GitAuthor | None,
    meta: worktrees.Checkout | None,
    path: Path | None = None,
) -> worktrees.Identity:
    """Step author > git-clone's author > the system git user > Kargo's default."""
    user = ctx.git_user
    key = author.signing_key if author else None
    if key is None and path is not None:
        key = worktrees.read_signing_key(path)
    if key is None and user is not None:
        key = user.signing_key
    if author is not None:
        return worktrees.Identity(author.name, author.email, key)
    if meta is not None and meta.author_name:
        return worktrees.Identity(meta.author_name, meta.author_email, key)
    if user is not None:
        return worktrees.Identity(user.name, user.email, key)
    return worktrees.Identity("Kargo", "no-reply@kargo.local", key)


def _checkout_path(ctx: StepContext, path: str) -> Path:
    try:
        return workdir.resolve(ctx.work_dir, path)
    except errors.KargoError:
        raise
    except ValueError as err:
        raise errors.TerminalStepError(f"invalid path {path!r}: {err}") from err


def _read_meta(ctx: StepContext, path: str) -> tuple[Path, worktrees.Checkout]:
    where = _checkout_path(ctx, path)
    try:
        return where, worktrees.read_checkout(where)
    except FileNotFoundError as err:
        raise errors.TerminalStepError(
            f"{path} is not a checkout made by git-clone: clone it with git-clone first ({err})"
        ) from err


def commit_url(repo_url: str, sha: str, provider: str | None = None) -> str:
    """A web link to the commit, for the common hosting providers' URL layouts."""
    base = cli.strip_userinfo(repo_url).removesuffix(".git").rstrip("/")
    if base.startswith("git@") and ":" in base:
        host, _, path = base[4:].partition(":")
        base = f"https://{host}/{path}"
    host = base.split("://", 1)[-1].split("/", 1)[0].lower()
    kind = (provider or "").lower() or next(
        (k for k in ("gitlab", "bitbucket", "azure", "gitea") if k in host), "github"
    )
    if kind == "gitlab":
        return f"{base}/-/commit/{sha}"
    if kind == "bitbucket":
        return f"{base}/commits/{sha}"
    return f"{base}/commit/{sha}"


# ------------------------------------------------------------------------------------------
# steps
# ------------------------------------------------------------------------------------------


async def _resolve_checkout(
    ctx: StepContext,
    cfg: GitCloneConfig,
    mirror: mirrors.Mirror,
    checkout: GitCheckout,
    credentials: cli.GitCredentials | None,
) -> tuple[str, str]:
    """(commit, branch) for one checkout."""
    if checkout.commit:
        if not await mirror.has_commit(checkout.commit):
            await mirror.fetch_commit(checkout.commit, credentials)
        if not await mirror.has_commit(checkout.commit):
            raise errors.StepError(f"commit {checkout.commit} not found in {mirror.url}")
        return checkout.commit, ""
    if checkout.tag:
        await mirror.fetch_ref(
            f"+refs/tags/{checkout.tag}:{mirrors.TAGS}{checkout.tag}", credentials
        )
        sha = await mirror.rev_parse(f"{mirrors.TAGS}{checkout.tag}^{{commit}}")
        if sha is None:
            raise errors.StepError(
                f"tag {checkout.tag!r} not found in {mirror.url}: check the tag name"
            )
        return sha, ""
    branch = checkout.branch
    if branch is None:
        if mirror.default_branch is None:
            remote = await mirror.ls_remote(credentials, ["HEAD"])
            mirror.default_branch = remote.default_branch or "main"
        branch = mirror.default_branch
    sha = await mirror.rev_parse(mirrors.HEADS + branch)
    if sha is not None:
        return sha, branch
    if checkout.branch is None:  # `create` is ignored without `branch`, as in Kargo
        raise errors.StepError(
            f"the default branch {branch!r} of {mirror.url} does not exist (an empty "
            "repository?): name the branch to create with branch and create: true"
        )
    if not checkout.create:
        raise errors.StepError(
            f"branch {branch!r} not found in {mirror.url}: check the branch name, or set "
            "create: true to create it"
        )
    return await _create_branch(ctx, cfg, mirror, branch, credentials), branch


async def _create_branch(
    ctx: StepContext,
    cfg: GitCloneConfig,
    mirror: mirrors.Mirror,
    branch: str,
    credentials: cli.GitCredentials | None,
) -> str:
    """Kargo's `ensureRemoteBranch`: the branch gets its "Initial commit" on the remote now, so
    it is then checked out like any other. A preview makes that commit locally only."""
    sha = await worktrees.initial_commit(mirror, _identity(ctx, cfg.author, None))
    if ctx.dry_run:
        return sha
    return await _push_coordinator(ctx).create_branch(mirror, branch, sha, credentials)


async def git_clone(ctx: StepContext, cfg: GitCloneConfig) -> StepResult:
    """Clone a repository into worktrees of the shared mirror (fetching only what changed)."""
    credentials = await _credentials(ctx, cfg.repo_url)
    # insecureSkipTLSVerify picks a mirror of its own, so it applies to this clone only
    mirror = _mirror_cache(ctx).get(
        cfg.repo_url, for_promotion=True, insecure_skip_tls_verify=cfg.insecure_skip_tls_verify
    )
    outputs: dict[str, str] = {}
    try:
        if not ctx.dry_run:
            # announce the pushes to come, so that pushes of promotions running at the same
            # moment are carried together (group commit, see kargo.git.push)
            coordinator = _push_coordinator(ctx)
            for checkout in cfg.checkout:
                branch = checkout.branch or mirror.default_branch
                if branch and not checkout.commit and not checkout.tag:
                    where = _checkout_path(ctx, checkout.path)
                    coordinator.expect(mirror, branch, where, work_dir=ctx.work_dir)
        # now and then, forget worktrees whose promotion work dirs were deleted
        pruning = mirror.fetches % 50 == 0
        # branches only (a tag is fetched when a checkout names one); no history needed
        await mirror.fetch(credentials, [BRANCHES_REFSPEC], prune=True, history=False)
        if pruning:
            async with mirror.worktree_lock:
                await mirror.git(["worktree", "prune"])
            await asyncio.to_thread(worktrees.prune_staging, mirror.path)
        for checkout in cfg.checkout:
            path = _checkout_path(ctx, checkout.path)
            sha, branch = await _resolve_checkout(ctx, cfg, mirror, checkout, credentials)
            meta = worktrees.Checkout(
                repo_url=mirror.url,
                mirror_path=str(mirror.path),
                branch=branch,
                author_name=cfg.author.name if cfg.author else "",
                author_email=cfg.author.email if cfg.author else "",
                insecure_skip_tls_verify=cfg.insecure_skip_tls_verify,
            )
            try:
                await worktrees.add(
                    mirror,
                    path,
                    sha,
                    meta,
                    credentials,
                    sparse=checkout.sparse or (),
                    recurse_submodules=cfg.recurse_submodules,
                    signing_key=cfg.author.signing_key if cfg.author else None,
                    lazy=ctx.lazy_checkouts,
                )
            except FileExistsError as err:
                raise errors.TerminalStepError(
                    f"error cloning {mirror.url}: checkout path {checkout.path}: {err}; "
                    "use a different path, or remove what an earlier step wrote there"
                ) from err
            outputs[checkout.as_ or checkout.path] = sha
    except cli.GitError as err:
        raise errors.StepError(f"error cloning {mirror.url}: {err}") from err
    return StepResult(output={"commits": outputs})


async def git_clear(ctx: StepContext, cfg: GitClearConfig) -> StepResult:
    """Remove every file of a checkout except `.git` (to rebuild it from scratch)."""
    path, _ = _read_meta(ctx, cfg.path)
    await worktrees.clear(path)
    return StepResult()


async def git_commit(ctx: StepContext, cfg: GitCommitConfig) -> StepResult:
    """Commit every change in a checkout; a clean tree is a no-op returning the existing HEAD."""
    path, meta = _read_meta(ctx, cfg.path)
    identity = _identity(ctx, cfg.author, meta, path)
    credentials = await _credentials(ctx, meta.repo_url)
    try:
        if meta.lazy:
            sha, _ = await lazy_checkouts.commit(path, meta, cfg.message, identity)
        else:
            sha, _ = await worktrees.commit_all(path, cfg.message, identity, credentials)
    except cli.GitError as err:
        raise errors.StepError(f"error committing in {cfg.path}: {err}") from err
    return StepResult(output={"commit": sha})


async def _dry_run_push(
    path: Path, mirror: mirrors.Mirror, branch: str, credentials: cli.GitCredentials | None
) -> dict[str, Any]:
    base = await mirror.rev_parse(mirrors.HEADS + branch) or worktrees.EMPTY_TREE
    # the diff may need blobs a lazy checkout never fetched: credentials for the lazy fetch
    diff = await worktrees.run(
        path, ["diff", "--no-color", "--no-ext-diff", base, "HEAD"], credentials, url=mirror.url
    )
    sha = await worktrees.head(path)
    return {"branch": branch, "commit": sha, "dryRun": True, "diff": diff.stdout}


async def _require_tag(path: Path, cfg: GitPushConfig) -> None:
    """Refuse a `tag` this checkout never made, before git says "src refspec ... does not
    match any" about a ref name the user never wrote."""
    ref = f"{worktrees.TAG_NAMESPACE}{cfg.tag}"
    found = await worktrees.run(path, ["rev-parse", "--verify", "--quiet", ref], check=False)
    if not found.ok:
        raise errors.TerminalStepError(
            f"git-push {cfg.path}: tag {cfg.tag!r} does not exist in this checkout: git-push "
            "pushes tags made by git-tag; add a git-tag step for it (same path) before git-push"
        )


async def git_push(ctx: StepContext, cfg: GitPushConfig) -> StepResult:
    """Push a checkout's commits (or a tag), coalesced with other promotions to the branch."""
    path, meta = _read_meta(ctx, cfg.path)
    mirror = _mirror_cache(ctx).get(
        meta.repo_url, insecure_skip_tls_verify=meta.insecure_skip_tls_verify
    )
    credentials = await _credentials(ctx, meta.repo_url)
    policy = cfg.integration_policy or pushes.IntegrationPolicy(
        ctx.services.get(POLICY_SERVICE, DEFAULT_POLICY)
    )
    request = pushes.PushRequest(
        worktree=path,
        mirror=mirror,
        branch="",
        credentials=credentials,
        # the checkout's signing key (git-clone's), so that a rebase re-signs and signed
        # commits are never replayed unsigned
        identity=_identity(ctx, None, meta, path),
        policy=policy,
        max_attempts=cfg.max_attempts,
        force=cfg.force,
        leases=ctx.control_plane if hasattr(ctx.control_plane, "try_acquire_lease") else None,
    )
    coordinator = _push_coordinator(ctx)
    try:
        if cfg.tag:
            await _require_tag(path, cfg)
            if ctx.dry_run:
                return StepResult(output={"tag": cfg.tag, "dryRun": True})
            await coordinator.push_tag(request, cfg.tag)
            return StepResult(output={"tag": cfg.tag, "commit": await worktrees.head(path)})
        if cfg.generate_target_branch:
            branch = f"kargo/promotion/{ctx.promotion}"
        else:
            branch = cfg.target_branch or meta.branch
        if not branch:
            raise errors.TerminalStepError(
                f"git-push {cfg.path}: the checkout is not on a branch (a commit or tag was "
                "checked out); set targetBranch or generateTargetBranch"
            )
        if ctx.dry_run:
            return StepResult(output=await _dry_run_push(path, mirror, branch, credentials))
        request.branch = branch
        sha = await coordinator.push(request)
        # the checkout follows what landed (a replayed commit is not its HEAD), so that a later
        # git-tag or git-commit starts from the branch; uncommitted edits to a file that changed
        # upstream keep it where it is, as git would
        await lazy_checkouts.land(path, sha, credentials)
    except pushes.PushRejected as err:
        raise errors.StepError(f"error pushing {cfg.path}: {err}") from err
    except cli.GitError as err:
        raise errors.StepError(f"error pushing {cfg.path} to {mirror.url}: {err}") from err
    return StepResult(
        output={
            "branch": branch,
            "commit": sha,
            "commitURL": commit_url(mirror.url, sha, cfg.provider),
        }
    )


async def git_tag(ctx: StepContext, cfg: GitTagConfig) -> StepResult:
    """Make an annotated tag of a checkout's HEAD (push it with git-push `tag:`)."""
    path, meta = _read_meta(ctx, cfg.path)
    identity = _identity(ctx, None, meta)
    try:
        sha = await worktrees.make_tag(path, cfg.tag, cfg.message, identity, force=cfg.force)
    except cli.GitError as err:
        raise errors.StepError(f"error tagging {cfg.path} as {cfg.tag!r}: {err}") from err
    return StepResult(output={"tag": cfg.tag, "commit": sha})


def register(registry: reg.StepRegistry) -> None:
    """Register the git steps on `registry`."""
    creds = reg.Capability.ACCESS_CREDENTIALS
    user = reg.Capability.ACCESS_GIT_USER
    plane = reg.Capability.ACCESS_CONTROL_PLANE
    none = reg.no_paths  # these steps work on git's view of a checkout, not on its files
    registry.step("git-clone", GitCloneConfig, capabilities={creds, user}, paths=none)(git_clone)
    registry.step("git-clear", GitClearConfig, paths=none)(git_clear)
    registry.step("git-commit", GitCommitConfig, capabilities={creds, user}, paths=none)(git_commit)
    registry.step("git-push", GitPushConfig, capabilities={creds, user, plane}, paths=none)(
        git_push
    )
    registry.step("git-tag", GitTagConfig, capabilities={user}, paths=none)(git_tag)


DOCS = {
    "git-clone": {
        "about": "Clones a repository into one or more checkouts in the work directory. Each "
        "checkout is a `git worktree` of this server's mirror of the repository, so a clone "
        "fetches only the commits made since the last promotion and copies no history; it "
        "holds the files the promotion's steps work on (a lazy checkout, see below). A "
        "checkout takes a `branch`, a `commit` or a `tag` (at most one; none means the "
        "remote's default branch). With `create`, a branch the remote lacks is created as Kargo "
        'does: one empty commit, "Initial commit", with no parent, by the clone\'s `author` '
        "(signed when it has a signing key), pushed at once (in a promotion preview, made "
        "locally only), and then checked out like any other branch. "
        "Credentials of type `git` matching `repoURL` are used.",
        "outputs": {
            "commits": "Map of each checkout's `as` (or `path`) to the commit checked out "
            '(for a newly created branch, its "Initial commit").',
        },
        "example": {
            "repoURL": "https://github.com/example/gitops.git",
            "checkout": [
                {"commit": "${{ commitFrom(vars.gitRepo).ID }}", "path": "./src"},
                {"branch": "stage/${{ ctx.stage }}", "create": True, "path": "./out"},
            ],
        },
    },
    "git-clear": {
        "about": "Deletes every file and directory of a checkout except `.git`, so the next "
        "steps can render it from scratch; files that are not rendered again show as deleted "
        "in the next commit.",
        "example": {"path": "./out"},
    },
    "git-commit": {
        "about": "Stages every change in a checkout (`git add -A`) and commits it. A clean "
        "checkout is not an error: nothing is committed and the output is the existing HEAD. "
        "The committer is git-clone's `author`, else the system's git user. When a signing key "
        "is configured the commit is GPG-signed.",
        "outputs": {"commit": "The new commit, or the existing HEAD when nothing changed."},
        "example": {
            "path": "./out",
            "message": "${{ outputs['update-image'].commitMessage }}",
        },
    },
    "git-push": {
        "about": "Pushes a checkout's commits to `targetBranch` (default: the branch it was "
        "cloned from), to a new `kargo/promotion/<promotion>` branch with "
        "`generateTargetBranch`, or pushes a `tag` made by git-tag. Pushes to one repository "
        "and branch are serialised (across replicas by a lease in the database) and "
        "promotions waiting on the same branch are carried by one push. When the branch moved, "
        "commits are integrated by the operator's integration policy "
        "(`GIT_PUSH_INTEGRATION_POLICY`, default `RebaseOrMerge`; a step may override it with "
        "`integrationPolicy`): see below. In a promotion preview nothing is pushed and the diff "
        "is returned instead.",
        "outputs": {
            "branch": "The branch pushed to.",
            "commit": "This promotion's commit on that branch (after any rebase or merge).",
            "commitURL": "A web link to the commit (GitHub, GitLab, Bitbucket, Gitea, Azure).",
        },
        "example": {"path": "./out"},
    },
    "git-tag": {
        "about": "Makes an annotated tag of a checkout's HEAD. The tag stays private to this "
        "promotion until a git-push with `tag` pushes it.",
        "outputs": {"tag": "The tag name.", "commit": "The commit tagged."},
        "example": {"path": "./out", "tag": "release-${{ ctx.promotion }}", "message": "promoted"},
    },
}
