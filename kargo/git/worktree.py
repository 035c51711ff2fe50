"""Promotion checkouts as `git worktree`s of a shared mirror, and what is done inside them.

A promotion's checkout is a worktree of the repository's mirror (`kargo.git.mirror`), so it
shares the mirror's object store: creating it copies no history, and commits made in it are
immediately visible to every other worktree of the mirror (which is what lets `kargo.git.push`
coalesce many promotions' commits into one push).

Worktrees never check out a branch (branches are shared by all worktrees of a repository);
HEAD is detached, and the branch a checkout tracks and its author are recorded in
`kargo-checkout.json` inside the worktree's private git dir.

A lazy checkout (`kargo.git.lazy`) is registered with git only once git must work in it
(`git_dir` does it on demand; `run` always asks for it). Until then it is a directory and one
file, its `.git`, holding a JSON state (`_LazyState`: the metadata, HEAD and the objects of its
commits not yet known to be in the mirror) instead of git's `gitdir:` line. A promotion that
never hands its checkout to git thus makes no directory in the mirror and writes a single
file of metadata, rewritten atomically when its cone or HEAD changes. Tags made
by `git-tag` live in the per-worktree namespace `refs/worktree/kargo-tags/`, so concurrent
promotions never see each other's tags before they are pushed.

Neighbours: `kargo.git.cli` (commands), `kargo.git.mirror` (the shared mirror),
`kargo.promotion.steps.git` (the steps).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import os
import re
import shutil
import stat
import tempfile
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from kargo.git import cli, mirror as mirrors, objects, refname

METADATA = "kargo-checkout.json"
SIGNING_KEY = "kargo-signing-key.asc"
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
TAG_NAMESPACE = "refs/worktree/kargo-tags/"
ATTRIBUTES = ".gitattributes"
T = TypeVar("T")
INITIAL_COMMIT_MESSAGE = "Initial commit\n"  # Kargo's, for a branch git-clone creates


@dataclass(frozen=True)
class Identity:
    """Who commits: name, email and an optional ASCII-armored GPG signing key."""

    name: str
    email: str
    signing_key: str | None = field(default=None, repr=False)

    def env(self) -> dict[str, str]:
        """Author and committer variables for git."""
        return {
            "GIT_AUTHOR_NAME": self.name,
            "GIT_AUTHOR_EMAIL": self.email,
            "GIT_COMMITTER_NAME": self.name,
            "GIT_COMMITTER_EMAIL": self.email,
        }


@dataclass
class Checkout:
    """What git-clone recorded about a worktree, for git-commit, git-push and git-tag."""

    repo_url: str
    mirror_path: str
    branch: str  # the branch this checkout tracks; "" when a commit or tag was checked out
    # written by older versions for a branch still to create (its HEAD a parentless empty
    # placeholder); still read so their checkouts load, and otherwise ignored
    orphan: bool = False
    placeholder: str = ""
    author_name: str = ""
    author_email: str = ""
    insecure_skip_tls_verify: bool = False
    lazy: bool = False  # checked out on demand, in-process (`kargo.git.lazy`)
    cone: list[str] = field(default_factory=list)  # the directories a lazy checkout holds

    def copy(self) -> Checkout:
        """A copy the caller may change (read several times per step: no `dataclasses` walk)."""
        twin = copy.copy(self)
        twin.cone = list(self.cone)
        return twin

    def fields(self) -> dict[str, object]:
        """Its fields as JSON-ready values."""
        return {**vars(self), "cone": list(self.cone)}


@dataclass
class _LazyState:
    """The `.git` file of a lazy checkout git has not been handed yet."""

    head: str
    checkout: Checkout
    # objects of this checkout's commits, kept until they are surely in the mirror:
    # [sha, type, base64 data] (`kargo.git.objects.new_objects`)
    objects: list[list[str]] = field(default_factory=list)

    def copy(self) -> _LazyState:
        return _LazyState(self.head, self.checkout.copy(), list(self.objects))


_STATE_KEY = "kargoLazyCheckout"
STATE_TMP = ".git.lock"  # where a new state is written before it is renamed over `.git`

# Steps read a checkout's `.git` file and metadata several times per promotion; a stat is
# cheaper than reading them again, and the file's identity says whether it changed.
_CACHE_LIMIT = 4096
_dotgits: dict[Path, tuple[tuple[int, int, int], Path | _LazyState]] = {}
_checkouts: dict[Path, tuple[tuple[int, int, int], Checkout]] = {}


def _identity(info: os.stat_result) -> tuple[int, int, int]:
    return info.st_ino, info.st_mtime_ns, info.st_size


def _remember(
    cache: dict[Path, tuple[tuple[int, int, int], T]],
    key: Path,
    value: tuple[tuple[int, int, int], T],
) -> None:
    if len(cache) >= _CACHE_LIMIT:
        cache.clear()
    cache[key] = value


def _read_dotgit(worktree: Path) -> Path | _LazyState:
    """What the worktree's `.git` says: its private git dir, or the state of an unregistered
    lazy checkout (a copy the caller may change)."""
    dotgit = worktree / ".git"
    try:
        info = os.stat(dotgit)
    except (FileNotFoundError, NotADirectoryError):
        info = None
    if info is not None and stat.S_ISREG(info.st_mode):
        cached = _dotgits.get(dotgit)
        if cached is not None and cached[0] == _identity(info):
            found = cached[1]
            return found.copy() if isinstance(found, _LazyState) else found
        text = dotgit.read_text().strip()
        if text.startswith("gitdir:"):
            private = Path(text[len("gitdir:") :].strip())
            _remember(_dotgits, dotgit, (_identity(info), private))
            return private
        if text.startswith("{"):
            state = _parse_state(text)
            if state is not None:
                # after a restart its commits' objects may exist only here
                objects.adopt(state.checkout.mirror_path, state.objects)
                _remember(_dotgits, dotgit, (_identity(info), state.copy()))
                return state
    if info is not None and stat.S_ISDIR(info.st_mode):
        return dotgit
    raise FileNotFoundError(f"{worktree} is not a git checkout; run git-clone for it first")


def _parse_state(text: str) -> _LazyState | None:
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get(_STATE_KEY) != 1:
        return None
    fields = data.get("checkout") or {}
    checkout = Checkout(**{k: v for k, v in fields.items() if k in Checkout.__dataclass_fields__})
    return _LazyState(str(data.get("head", "")), checkout, list(data.get("objects") or []))


def _write_state(worktree: Path, state: _LazyState) -> None:
    """Write an unregistered lazy checkout's `.git` (atomically: a crash leaves the old one)."""
    dotgit = worktree / ".git"
    tmp = worktree / STATE_TMP
    data = {
        _STATE_KEY: 1,
        "head": state.head,
        "checkout": state.checkout.fields(),
        "objects": state.objects,
    }
    tmp.write_text(json.dumps(data))
    tmp.replace(dotgit)
    _remember(_dotgits, dotgit, (_identity(os.stat(dotgit)), state.copy()))


def git_dir(worktree: Path) -> Path:
    """The worktree's private git dir (read from its `.git` file; no command). A lazy checkout
    git has not been handed yet is registered now, with its commits' objects written out."""
    found = _read_dotgit(worktree)
    if not isinstance(found, _LazyState):
        return found
    common = Path(found.checkout.mirror_path)
    objects.flush(common)  # git is about to read the checkout's commits
    return _register_worktree(common, worktree, found.head, found.checkout)


def read_checkout(worktree: Path) -> Checkout:
    """The metadata git-clone left for this worktree (a copy the caller may change)."""
    found = _read_dotgit(worktree)
    if isinstance(found, _LazyState):
        return found.checkout
    path = found / METADATA
    try:
        info = os.stat(path)
        cached = _checkouts.get(path)
        if cached is not None and cached[0] == _identity(info):
            return cached[1].copy()
        data = json.loads(path.read_text())
    except FileNotFoundError as err:
        raise FileNotFoundError(
            f"{worktree.name} was not cloned by git-clone; clone it with git-clone first"
        ) from err
    checkout = Checkout(**{k: v for k, v in data.items() if k in Checkout.__dataclass_fields__})
    _remember(_checkouts, path, (_identity(info), checkout.copy()))
    return checkout


def write_checkout(worktree: Path, checkout: Checkout) -> None:
    """Record (or update) the worktree's metadata."""
    found = _read_dotgit(worktree)
    if isinstance(found, _LazyState):
        found.checkout = checkout
        _write_state(worktree, found)
        return
    path = found / METADATA
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(checkout.fields()))
    tmp.replace(path)
    kept = checkout.copy()
    _remember(_checkouts, path, (_identity(os.stat(path)), kept))


def write_signing_key(worktree: Path, key: str) -> None:
    """Keep git-clone's signing key for git-commit: a 0600 file in the worktree's git dir."""
    path = git_dir(worktree) / SIGNING_KEY
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(key)


def read_signing_key(worktree: Path) -> str | None:
    """The signing key git-clone kept for this worktree, if any (a checkout with a key is
    registered at once, since git signs its commits)."""
    found = _read_dotgit(worktree)
    if isinstance(found, _LazyState):
        return None
    try:
        return (found / SIGNING_KEY).read_text() or None
    except FileNotFoundError:
        return None


async def run(
    worktree: Path,
    args: Sequence[str],
    credentials: cli.GitCredentials | None = None,
    *,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    url: str = "",
    stdin: bytes | None = None,
) -> cli.GitResult:
    """git inside a worktree (credentials let a blobless checkout fetch blobs lazily)."""
    git_dir(worktree)  # a lazy checkout is registered the first time git works in it
    return await cli.run_git(
        args, cwd=worktree, credentials=credentials, env=env, check=check, url=url, stdin=stdin
    )


_SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")


async def head(worktree: Path) -> str:
    """The commit HEAD points at (read from the detached HEAD file; git when it is a ref)."""
    try:
        found = _read_dotgit(worktree)
        if isinstance(found, _LazyState):
            return found.head
        text = (found / "HEAD").read_text().strip()
    except OSError:
        text = ""
    if _SHA.match(text):
        return text
    return (await run(worktree, ["rev-parse", "HEAD"])).stdout.strip()


async def initial_commit(mirror: mirrors.Mirror, identity: Identity) -> str:
    """The first commit of a branch git-clone creates, as Kargo's `ensureRemoteBranch` makes
    it: no parent, the empty tree, "Initial commit", by the clone's author (signed when it has
    a signing key), so that the branch exists before anything is rendered into it. No ref
    moves; made in-process unless it must be signed."""
    repo = objects.repository(mirror.path)
    tree = repo.TreeBuilder().write()  # the empty tree, written so that a push carries it
    if not identity.signing_key:
        who = (identity.name, identity.email)
        return objects.create_commit(
            repo, tree, [], INITIAL_COMMIT_MESSAGE, author=who, committer=who
        )
    async with signing_env(identity) as (sign_args, sign_env):
        created = await cli.run_git(
            ["commit-tree", *sign_args, str(tree)],
            cwd=mirror.path,
            env={**identity.env(), **sign_env},
            stdin=INITIAL_COMMIT_MESSAGE.encode(),
        )
    return created.stdout.strip()


async def add(
    mirror: mirrors.Mirror,
    path: Path,
    commit: str,
    checkout: Checkout,
    credentials: cli.GitCredentials | None,
    *,
    sparse: Sequence[str] = (),
    recurse_submodules: bool = False,
    signing_key: str | None = None,
    lazy: bool = False,
) -> None:
    """Create a detached worktree of `mirror` at `path` on `commit` and populate it.

    `lazy` makes it a lazy checkout holding the top-level files only, which `kargo.git.lazy`
    grows as steps name the paths they need (ignored with `sparse` or submodules; a
    repository with a top-level `.gitattributes` is checked out in full)."""
    lazy = lazy and not sparse and not recurse_submodules
    checkout.lazy = lazy
    if path.is_file() or path.is_symlink():
        raise FileExistsError(f"{path.name} already exists and is not a directory")
    if path.exists():
        if any(path.iterdir()):
            await remove_previous_clone(mirror, path)
        else:
            path.rmdir()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        await _add(mirror, path, commit, checkout, credentials, sparse, lazy)
    except cli.GitError:
        # leave nothing half-made behind, so a retry of the step can use the same path
        await asyncio.to_thread(shutil.rmtree, path, True)
        async with mirror.worktree_lock:
            await mirror.git(["worktree", "prune"], check=False)
        raise
    if signing_key:
        write_signing_key(path, signing_key)
    if recurse_submodules:
        await run(
            path,
            ["submodule", "update", "--quiet", "--init", "--recursive"],
            credentials,
            url=mirror.url,
        )


def previous_clone(mirror: mirrors.Mirror, path: Path) -> list[Path] | None:
    """The registrations in `mirror` of a checkout git-clone made at `path` for this mirror
    (maybe none), or None when `path` holds anything else.

    Ours are: a lazy checkout's state naming this mirror; a `.git` file pointing into this
    mirror's `worktrees/` (with or without our metadata: `git worktree add` killed half-way);
    a lone `.git.lock` (killed before the first lazy state was in place)."""
    dotgit = path / ".git"
    worktrees_dir = Path(os.path.normpath(mirror.path.absolute() / "worktrees"))
    if dotgit.is_file() and not dotgit.is_symlink():
        text = dotgit.read_text(errors="replace").strip()
        if text.startswith("{"):
            state = _parse_state(text)
            mirror_path = state.checkout.mirror_path if state is not None else ""
            if not mirror_path or Path(os.path.normpath(mirror_path)) != worktrees_dir.parent:
                return None
        elif text.startswith("gitdir:"):
            private = Path(os.path.normpath(text[len("gitdir:") :].strip()))
            if private.parent != worktrees_dir:
                return None
        else:
            return None
    elif dotgit.exists() or dotgit.is_symlink() or [e.name for e in path.iterdir()] != [STATE_TMP]:
        return None
    # every registration whose `gitdir` names this checkout (a kill between registering a
    # lazy checkout and rewriting its `.git` leaves one the `.git` does not name)
    target = os.path.normpath(path.absolute() / ".git")
    found: list[Path] = []
    if worktrees_dir.is_dir():
        for entry in os.scandir(worktrees_dir):
            with contextlib.suppress(OSError):
                named = Path(entry.path, "gitdir").read_text().strip()
                if os.path.normpath(named) == target:
                    found.append(Path(entry.path))
    return found


async def remove_previous_clone(mirror: mirrors.Mirror, path: Path) -> None:
    """Remove the checkout an interrupted git-clone left at `path`, unregistering it from the
    mirror, so that git-clone can run again (idempotence); FileExistsError when `path` holds
    something git-clone did not make for this repository."""
    registrations = await asyncio.to_thread(previous_clone, mirror, path)
    if registrations is None:
        raise FileExistsError(
            f"{path.name} already exists and is not empty, and is not a checkout that "
            f"git-clone made of {mirror.url}"
        )
    async with mirror.worktree_lock:  # `git worktree add` reads every registration
        for private in registrations:
            _checkouts.pop(private / METADATA, None)
            await asyncio.to_thread(shutil.rmtree, private, True)
    # registrations first: a kill now leaves a checkout that is still recognised as ours
    _dotgits.pop(path / ".git", None)
    await asyncio.to_thread(shutil.rmtree, path)


async def _add(
    mirror: mirrors.Mirror,
    path: Path,
    commit: str,
    checkout: Checkout,
    credentials: cli.GitCredentials | None,
    sparse: Sequence[str],
    lazy: bool,
) -> None:
    """Make the worktree and record `checkout` in it (see `add`)."""
    await mirror.enable_worktree_config()
    if lazy:
        repo = objects.repository(mirror.path)
        tree = objects.root_tree(repo, commit)
        # filters and line endings of a `.gitattributes` are git's to apply: no laziness
        if ATTRIBUTES not in tree:
            path.mkdir(parents=True, exist_ok=True)
            _write_state(path, _LazyState(commit, checkout))  # registered when git needs it
            entries = objects.files_in(tree, "", recursive=False)
            await objects.write_files(
                repo, mirror.path, mirror.url, path, entries, mirror.credentials(credentials)
            )
            return
        checkout.lazy = False
    # Only the metadata is created under the mirror's worktree lock; the checkout, the costly
    # part, runs in parallel with other promotions'.
    async with mirror.worktree_lock:
        args = ["worktree", "add", "--quiet", "--detach", "--no-checkout", str(path), commit]
        await mirror.git(args, credentials)
    # sparse patterns must be in place before any file is checked out
    if sparse:
        await run(path, ["sparse-checkout", "set", *sparse], credentials, url=mirror.url)
    else:
        check_out_in_full(path)
    await run(path, ["reset", "--quiet", "--hard", commit], credentials, url=mirror.url)
    write_checkout(path, checkout)


def _register_worktree(common: Path, path: Path, commit: str, checkout: Checkout) -> Path:
    """Register `path` as a worktree of the repository at `common`, detached at `commit`,
    with `checkout` as its metadata; return its private git dir.

    Writes what `git worktree add --no-checkout` writes (gitrepository-layout(5):
    `worktrees/<id>/{gitdir,commondir,HEAD}` and the worktree's `.git` file), without running
    git: a `git worktree add` reads every other worktree's metadata and fails on one being
    written at the same moment, so they would have to run one at a time. The metadata is built
    in a staging directory beside `worktrees/` (where `git worktree prune` never looks) and
    renamed into place whole."""
    worktrees_dir = common / "worktrees"
    staging_dir = common / STAGING
    for directory in (worktrees_dir, staging_dir):
        if not directory.is_dir():
            directory.mkdir(exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{path.name[:40]}-", dir=staging_dir))
    private = worktrees_dir / staging.name
    path.mkdir(parents=True, exist_ok=True)
    (staging / "gitdir").write_text(f"{path.absolute() / '.git'}\n")
    (staging / "commondir").write_text("../..\n")
    (staging / "HEAD").write_text(f"{commit}\n")
    (staging / METADATA).write_text(json.dumps(checkout.fields()))
    staging.rename(private)
    tmp = path / STATE_TMP
    tmp.write_text(f"gitdir: {private}\n")
    tmp.replace(path / ".git")
    return private


STAGING = "kargo-worktrees-staging"


def prune_staging(common: Path, older_than: float = 3600.0) -> None:
    """Remove registrations a crash left half-made in the mirror's staging directory."""
    staging_dir = common / STAGING
    if not staging_dir.is_dir():
        return
    limit = time.time() - older_than
    for entry in os.scandir(staging_dir):
        with contextlib.suppress(OSError):
            if entry.stat(follow_symlinks=False).st_mtime < limit:
                shutil.rmtree(entry.path, ignore_errors=True)


def check_out_in_full(worktree: Path) -> None:
    """Make sure a worktree is not sparse, whatever its mirror's config says (no process)."""
    private = git_dir(worktree)
    (private / "config.worktree").write_text("[core]\n\tsparseCheckout = false\n")
    (private / "info" / "sparse-checkout").unlink(missing_ok=True)


def set_head(worktree: Path, sha: str, new_objects: Sequence[list[str]] = ()) -> None:
    """Point the worktree's detached HEAD at `sha` (written atomically, as git does).

    `new_objects` are the objects of the commit that may exist only in memory: an
    unregistered lazy checkout keeps them in its state (so a restart loses nothing), a
    registered one has them written into the mirror first."""
    found = _read_dotgit(worktree)
    if isinstance(found, _LazyState):
        found.head = sha
        found.objects += [list(kept) for kept in new_objects]
        _write_state(worktree, found)
        return
    if new_objects:
        objects.flush(read_checkout(worktree).mirror_path)
    head_file = found / "HEAD"
    tmp = head_file.with_name("HEAD.lock")
    tmp.write_text(f"{sha}\n")
    tmp.replace(head_file)


async def commit_tree(
    worktree: Path, tree: str, parents: Sequence[str], message: str, identity: Identity
) -> str:
    """A commit of `tree` made by git (for signed commits); no ref moves."""
    async with signing_env(identity) as (sign_args, sign_env):
        args = ["commit-tree", *sign_args, tree]
        for parent in parents:
            args += ["-p", parent]
        created = await run(
            worktree, args, env={**identity.env(), **sign_env}, stdin=message.encode()
        )
    return created.stdout.strip()


async def clear(worktree: Path) -> None:
    """Remove every tracked and untracked file of the worktree; `.git` stays.

    A lazy checkout is not checked out first: its index is emptied and its sparseness turned
    off, so the next commit records every file not written again as deleted."""
    meta = read_checkout(worktree)
    if meta.lazy:  # no process: a lazy checkout has no index, i.e. an empty one
        check_out_in_full(worktree)
        (git_dir(worktree) / "index").unlink(missing_ok=True)
        meta.lazy, meta.cone = False, []
        write_checkout(worktree, meta)

    def _clear() -> None:
        for entry in worktree.iterdir():
            if entry.name == ".git":
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()

    await asyncio.to_thread(_clear)


@contextlib.asynccontextmanager
async def signing_env(identity: Identity) -> AsyncIterator[tuple[list[str], dict[str, str]]]:
    """Import the signing key into a private GNUPGHOME; yield (git args, env) that sign."""
    if not identity.signing_key:
        yield [], {}
        return
    home = tempfile.mkdtemp(prefix="kargo-gnupg-")
    os.chmod(home, 0o700)
    try:
        proc = await asyncio.create_subprocess_exec(
            "gpg",
            "--batch",
            "--import",
            env={**os.environ, "GNUPGHOME": home},
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        await proc.communicate(identity.signing_key.encode())
        proc = await asyncio.create_subprocess_exec(
            "gpg",
            "--batch",
            "--with-colons",
            "--list-secret-keys",
            env={**os.environ, "GNUPGHOME": home},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, _ = await proc.communicate()
        fingerprints = [
            line.split(":")[9] for line in out.decode().splitlines() if line.startswith("fpr:")
        ]
        if not fingerprints:
            raise cli.GitError(
                "the signing key could not be imported: check that it is an ASCII-armored GPG "
                "private key without a passphrase",
                failure=cli.GitFailure.OTHER,
            )
        yield [f"-S{fingerprints[0]}"], {"GNUPGHOME": home}
    finally:
        with contextlib.suppress(OSError):  # stop the agent gpg started for this home
            killer = await asyncio.create_subprocess_exec(
                "gpgconf",
                "--kill",
                "gpg-agent",
                env={**os.environ, "GNUPGHOME": home},
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            await killer.wait()
        await asyncio.to_thread(shutil.rmtree, home, True)


def cleanup_message(message: str) -> str:
    """The message as `git commit -m` records it (its default "whitespace" cleanup): trailing
    spaces and leading/trailing blank lines gone, runs of blank lines made one."""
    lines = [line.rstrip() for line in message.splitlines()]
    kept: list[str] = []
    for line in lines:
        if not line and (not kept or not kept[-1]):
            continue
        kept.append(line)
    while kept and not kept[-1]:
        kept.pop()
    return "\n".join(kept) + "\n" if kept else ""


def _empty_message() -> cli.GitError:
    return cli.GitError(
        "the commit message is empty: give git-commit a message", failure=cli.GitFailure.OTHER
    )


async def commit_all(
    worktree: Path,
    message: str,
    identity: Identity,
    credentials: cli.GitCredentials | None = None,
) -> tuple[str, bool]:
    """Stage everything and commit; (sha, True), or (HEAD, False) when nothing changed."""
    # --sparse: a file written outside a lazy checkout's cone is still committed
    await run(worktree, ["add", "-A", "--sparse"], credentials)
    async with signing_env(identity) as (sign_args, sign_env):
        env = {**identity.env(), **sign_env}
        committed = await run(
            worktree,
            ["commit", "--quiet", "--no-verify", *sign_args, "-m", message],
            credentials,
            env=env,
            check=False,
        )
    if not committed.ok:
        said = committed.stdout + committed.stderr
        if "nothing to commit" in said or "nothing added to commit" in said:
            return await head(worktree), False  # a clean checkout: the existing HEAD
        if "empty commit message" in said:
            raise _empty_message()
        raise cli.GitError(
            f"git commit failed in {worktree.name}: {committed.stderr.strip() or committed.stdout}",
            failure=cli.classify(committed.stderr),
            stderr=committed.stderr,
        )
    return await head(worktree), True


async def make_tag(
    worktree: Path, name: str, message: str, identity: Identity, *, force: bool
) -> str:
    """An annotated tag of HEAD in this worktree's private tag namespace; returns the commit."""
    ref = TAG_NAMESPACE + name
    invalid = refname.error("tag", name)
    if invalid is not None:  # git's own check-ref-format says nothing about why
        raise cli.GitError(invalid, failure=cli.GitFailure.OTHER)
    exists = await run(worktree, ["rev-parse", "--verify", "--quiet", ref], check=False)
    if exists.ok and not force:
        raise cli.GitError(
            f"tag {name!r} already exists in this checkout; set force: true to replace it",
            failure=cli.GitFailure.OTHER,
        )
    commit = await head(worktree)
    ident = (await run(worktree, ["var", "GIT_COMMITTER_IDENT"], env=identity.env())).stdout
    body = (
        f"object {commit}\ntype commit\ntag {name}\ntagger {ident.strip()}\n\n{message.rstrip()}\n"
    )
    tag_object = (await run(worktree, ["mktag"], stdin=body.encode())).stdout.strip()
    await run(worktree, ["update-ref", ref, tag_object])
    return commit
