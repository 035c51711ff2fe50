"""Lazy checkouts: a promotion's worktree holds only the files its steps touch.

Checking out a large repository is most of a promotion's cost (10,000 files take about a second
to write), while a promotion usually edits one kustomization or values file. So `git-clone`
makes each checkout lazy: a registered worktree of the mirror holding only the repository's
top-level files, and before every step the engine calls `materialize` with the paths that step
declared (`StepSpec.paths`): their directories are written out, with the files directly inside
each of their parent directories (what git's cone-mode sparse checkout holds). A step that
cannot say which paths it reads (`kustomize-build` follows `../` references, Helm charts pull
`file://` dependencies, plugin steps may run git) gets the whole checkout, exactly as without
laziness: git then takes the checkout over (`check_out_in_full`).

While a checkout is lazy no git process runs in it and it has no index: files are read from and
written to the mirror's object store in-process (`kargo.git.objects`), and `commit` turns the
directory into a commit (a push that must rebase or merge it hands it to git for that,
`handed_to_git`). What it records is what `git add -A && git commit` would record in a
sparse checkout: the files in the checked-out directories as they are on disk (missing ones
deleted), every other file as it was, new files unless `.gitignore`d. A repository with a
`.gitattributes` at its top (filters, line endings) is checked out by git as a whole instead.
`KARGO_GIT_LAZY_CHECKOUT=false` turns laziness off.

Neighbours: `kargo.git.worktree` (creates the worktrees, records `Checkout.lazy` and `cone`),
`kargo.promotion.engine` (calls `materialize` before each step).
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import posixpath
import stat
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from enum import Enum
from pathlib import Path, PurePosixPath

import pygit2

from kargo.git import cli, objects, replay, worktree as worktrees

log = logging.getLogger(__name__)

LAZY_ENV = "KARGO_GIT_LAZY_CHECKOUT"
ATTRIBUTES = ".gitattributes"

CredentialsFor = Callable[[str], Awaitable[cli.GitCredentials | None]]


def enabled() -> bool:
    """Whether git-clone makes lazy checkouts (default yes; KARGO_GIT_LAZY_CHECKOUT=false)."""
    return os.environ.get(LAZY_ENV, "true").strip().lower() not in ("0", "false", "no", "off")


# ---------------------------------------------------------------------------------------------
# finding the checkouts a step's paths fall in


def _lazy_checkout_at(directory: str) -> worktrees.Checkout | None:
    """The metadata of the lazy checkout at `directory`, if it is one (one stat otherwise)."""
    try:
        if not stat.S_ISREG(os.stat(directory + "/.git").st_mode):
            return None
        meta = worktrees.read_checkout(Path(directory))
    except (FileNotFoundError, NotADirectoryError, OSError, ValueError):
        return None
    return meta if meta.lazy else None


def lazy_checkouts(work_dir: Path) -> list[Path]:
    """Every lazy checkout under `work_dir` (the walk stops at any checkout it meets)."""
    found: list[Path] = []
    for current, dirs, _files in os.walk(work_dir):
        here = Path(current)
        if (here / ".git").exists():
            if _lazy_checkout_at(current) is not None:
                found.append(here)
            dirs[:] = []
            continue
        dirs[:] = [d for d in dirs if not (here / d).is_symlink()]
    return found


def _owning_checkout(work_dir: str, target: str) -> tuple[str, worktrees.Checkout] | None:
    """The lazy checkout `target` lies in (or is), walking up to `work_dir` (both absolute and
    normalised; a stat per level, no parsing of paths)."""
    current = target
    inside = work_dir + os.sep
    while True:
        meta = _lazy_checkout_at(current)
        if meta is not None:
            return current, meta
        if current == work_dir or not current.startswith(inside):
            return None
        current = os.path.dirname(current)


def _literal_prefix(relative: PurePosixPath) -> str:
    """The part of a path before its first glob component (`a/*/c` -> `a`; "" for none)."""
    parts: list[str] = []
    for part in relative.parts:
        if glob.has_magic(part):
            break
        parts.append(part)
    return "/".join(p for p in parts if p != ".")


def _parent(relative: str) -> str:
    return relative.rpartition("/")[0]


def _covered(directory: str, cone: Sequence[str]) -> bool:
    """Whether `directory` is one of the cone's directories or inside one."""
    return any(directory == c or directory.startswith(c + "/") for c in cone)


def _holds_files_of(directory: str, cone: Sequence[str]) -> bool:
    """Whether the files directly in `directory` are checked out (top level, cone, parents)."""
    return (
        directory == ""
        or _covered(directory, cone)
        or any(c.startswith(directory + "/") for c in cone)
    )


async def materialize(
    work_dir: Path, paths: Sequence[str] | None, credentials_for: CredentialsFor
) -> None:
    """Check out what a step is about to touch: `paths` (relative to `work_dir`), or, when the
    step cannot say (`None`), every lazy checkout in full."""
    root = os.path.abspath(work_dir)
    wanted: dict[Path, set[str] | None] = {}
    metas: dict[Path, worktrees.Checkout] = {}
    if paths is None:
        for checkout in lazy_checkouts(Path(root)):
            wanted[checkout] = None
    else:
        for raw in paths:
            if not raw or os.path.isabs(raw):
                continue  # the step itself reports bad paths
            normalised = os.path.normpath(raw)
            if normalised == ".." or normalised.startswith(".." + os.sep):
                continue
            if normalised == ".":
                for checkout in lazy_checkouts(Path(root)):
                    wanted[checkout] = None
                continue
            target = os.path.join(root, normalised)
            found = _owning_checkout(root, target)
            if found is None:
                continue
            owner, metas[Path(found[0])] = Path(found[0]), found[1]
            literal = _literal_prefix(PurePosixPath(os.path.relpath(target, found[0])))
            current = wanted.get(owner, set())
            if literal == "" or current is None:
                wanted[owner] = None
            else:
                wanted[owner] = {*current, literal}
    for checkout, relatives in wanted.items():
        meta = metas.get(checkout) or worktrees.read_checkout(checkout)
        if not meta.lazy:
            continue
        credentials = await credentials_for(meta.repo_url)
        if relatives is None:
            await check_out_in_full(checkout, meta, credentials)
        else:
            await _expand(checkout, meta, relatives, credentials)


# ---------------------------------------------------------------------------------------------
# checking out more


async def _expand(
    checkout: Path,
    meta: worktrees.Checkout,
    relatives: set[str],
    credentials: cli.GitCredentials | None,
) -> None:
    """Check out the directories of `relatives` (and the files of their parent directories).

    Files already checked out are never written again: a step may have changed or deleted
    them, and that is what the next commit must record."""
    repo = objects.repository(meta.mirror_path)
    tree = objects.root_tree(repo, await worktrees.head(checkout))
    followed: set[str] = set()
    for relative in relatives:
        through = _through_links(repo, tree, relative)
        if through is None:  # a link to the top, or one whose target is not here yet
            await check_out_in_full(checkout, meta, credentials)
            return
        followed.update(through)
    directories: set[str] = set()
    for relative in followed:
        found = objects.subtree(tree, relative)
        # a directory is checked out itself; a file (or a path still to be written) by its
        # directory, so the step sees the files next to it
        directory = relative if isinstance(found, pygit2.Tree) else _parent(relative)
        if directory and not _covered(directory, meta.cone):
            directories.add(directory)
    if not directories:
        return
    entries: list[objects.FileEntry] = []
    cone = list(meta.cone)
    for directory in sorted(directories, key=lambda d: (d.count("/"), d)):  # outermost first
        if _covered(directory, cone):
            continue
        parts = directory.split("/")
        for depth in range(1, len(parts)):
            ancestor = "/".join(parts[:depth])
            node = objects.subtree(tree, ancestor)
            if not _holds_files_of(ancestor, cone) and isinstance(node, pygit2.Tree):
                entries += objects.files_in(node, ancestor, recursive=False)
        node = objects.subtree(tree, directory)
        if isinstance(node, pygit2.Tree):
            inner = [c for c in cone if c.startswith(directory + "/")]
            entries += [
                e
                for e in objects.files_in(node, directory, recursive=True, skip=inner)
                if not _holds_files_of(_parent(e.relative), cone)
            ]
        cone = [c for c in cone if not c.startswith(directory + "/")] + [directory]
    if any(PurePosixPath(e.relative).name == ATTRIBUTES for e in entries):
        # attributes (filters, line endings) are git's to apply
        await check_out_in_full(checkout, meta, credentials)
        return
    if entries:
        await objects.write_files(
            repo, Path(meta.mirror_path), meta.repo_url, checkout, entries, credentials
        )
    meta.cone = sorted(cone)
    worktrees.write_checkout(checkout, meta)


MAX_LINK_HOPS = 40  # as the kernel's ELOOP limit


def _through_links(repo: pygit2.Repository, tree: pygit2.Tree, relative: str) -> list[str] | None:
    """The paths to check out so that `relative` can be read through the repository's
    symbolic links: each link met on the way (its directory holds it) and where the path
    finally leads. None when a link leads to the top of the checkout or its target blob is
    not in the mirror yet (the caller checks everything out). A link leading out of the
    checkout is not followed: the step's own path check refuses it."""
    parts = [p for p in relative.split("/") if p not in ("", ".")]
    paths: list[str] = []
    index, hops = 0, 0
    while index < len(parts):
        here = "/".join(parts[: index + 1])
        node = objects.subtree(tree, here)
        if node is None:
            break
        if node.filemode != objects.LINK:
            index += 1
            continue
        hops += 1
        if hops > MAX_LINK_HOPS or node.id not in repo:
            return None
        paths.append(here)
        target = repo[node.id].peel(pygit2.Blob).data.decode(errors="surrogateescape")
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(here), target))
        if target.startswith("/") or resolved == ".." or resolved.startswith("../"):
            return paths
        if resolved == ".":
            return None
        parts = resolved.split("/") + parts[index + 1 :]
        index = 0
    paths.append("/".join(parts))
    return paths


async def check_out_in_full(
    checkout: Path, meta: worktrees.Checkout, credentials: cli.GitCredentials | None
) -> None:
    """Hand the checkout over to git: every file written out, with an index of what is on disk
    now (the changes steps made so far stay, as changes to commit)."""
    repo = objects.repository(meta.mirror_path)
    head = await worktrees.head(checkout)
    current = _TreeWriter(repo, checkout, meta.cone).tree(objects.root_tree(repo, head), "")
    worktrees.check_out_in_full(checkout)
    # --reset -u: the index becomes `current` and its files are written (those on disk already
    # hold the same contents); a partial mirror fetches the missing blobs in one batch
    await worktrees.run(
        checkout, ["read-tree", "--reset", "-u", str(current)], credentials, url=meta.repo_url
    )
    meta.lazy, meta.cone = False, []
    worktrees.write_checkout(checkout, meta)
    log.debug("lazy checkout %s: checked out in full", checkout)


@contextlib.asynccontextmanager
async def handed_to_git(
    checkout: Path, credentials: cli.GitCredentials | None = None
) -> AsyncIterator[None]:
    """Let git work on a lazy checkout's commits for a while (a rebase or merge of its HEAD).

    Git needs an index and knows nothing of laziness: for the duration, the checkout becomes
    the cone-mode sparse checkout it stands for (its checked-out directories, with a sparse
    index of HEAD; the files on disk are left as they are), and afterwards a lazy checkout of
    whatever HEAD git left. A checkout that is not lazy is handed over as it is."""
    meta = worktrees.read_checkout(checkout)
    if not meta.lazy:
        yield
        return
    private = worktrees.git_dir(checkout)
    (private / "config.worktree").write_text(SPARSE_CONFIG)
    (private / "info").mkdir(exist_ok=True)
    (private / "info" / "sparse-checkout").write_text(cone_patterns(meta.cone))
    try:
        # mixed: the index becomes HEAD's (sparse outside the cone), no file is touched
        await worktrees.run(checkout, ["reset", "--quiet"], credentials, url=meta.repo_url)
        yield
    finally:
        worktrees.check_out_in_full(checkout)  # not sparse any more: lazy again, no index
        (private / "index").unlink(missing_ok=True)


SPARSE_CONFIG = (
    "[core]\n\tsparseCheckout = true\n\tsparseCheckoutCone = true\n[index]\n\tsparse = true\n"
)


def cone_patterns(cone: Sequence[str]) -> str:
    """git's cone-mode sparse-checkout patterns for `cone` (the top-level files, each
    directory's parents' files, the directories themselves)."""
    lines = ["/*", "!/*/"]
    parents = sorted({"/".join(d.split("/")[:n]) for d in cone for n in range(1, d.count("/") + 1)})
    for parent in parents:
        lines += [f"/{parent}/", f"!/{parent}/*/"]
    lines += [f"/{d}/" for d in sorted(cone) if d not in parents]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# following a push


async def land(checkout: Path, landed: str, credentials: cli.GitCredentials | None) -> bool:
    """Move a checkout onto the commit its push landed as, when that is not its HEAD (the push
    replayed its commit onto a moved branch, or found it there already): HEAD becomes the
    landed commit and the checked-out files that changed on the way are updated, as Kargo's
    pull-rebase leaves a checkout, so that a later git-tag or git-commit starts from what is
    on the branch. A checkout that changed such a file since its last commit stays where it is
    (False): git would refuse to move it too."""
    head = await worktrees.head(checkout)
    if head == landed:
        return True
    meta = worktrees.read_checkout(checkout)
    if not meta.lazy:
        moved = await worktrees.run(
            checkout,
            ["reset", "--quiet", "--keep", landed],
            credentials,
            url=meta.repo_url,
            check=False,
        )
        return moved.ok
    repo = objects.repository(meta.mirror_path)
    before = objects.root_tree(repo, head)
    stale: list[Path] = []
    fresh: list[objects.FileEntry] = []
    # only what is checked out needs updating; the rest is read from the new HEAD when asked
    parents = {"/".join(c.split("/")[:n]) for c in meta.cone for n in range(1, c.count("/") + 1)}
    checked_out = replay.changes_within(
        meta.mirror_path, head, landed, meta.cone, ["", *sorted(parents - set(meta.cone))]
    )
    for change in checked_out:
        path = checkout / change.path
        old = objects.subtree(before, change.path)
        was = (old.id, old.filemode) if old is not None else None
        found = objects.disk_entry(repo, path, write=False) if os.path.lexists(path) else None
        if found != was:
            return False  # changed here since the last commit (or not a file any more)
        if found is not None:
            stale.append(path)
        if change.oid is not None:
            fresh.append(objects.FileEntry(change.path, change.oid, change.mode))
    for path in stale:
        path.unlink()
    await objects.write_files(
        repo, Path(meta.mirror_path), meta.repo_url, checkout, fresh, credentials
    )
    worktrees.set_head(checkout, landed)
    return True


# ---------------------------------------------------------------------------------------------
# committing


async def commit(
    checkout: Path,
    meta: worktrees.Checkout,
    message: str,
    identity: worktrees.Identity,
) -> tuple[str, bool]:
    """Commit a lazy checkout as `git add -A && git commit` would; (sha, True), or (HEAD,
    False) when nothing changed."""
    repo = objects.repository(meta.mirror_path)
    head = await worktrees.head(checkout)
    base = objects.root_tree(repo, head)
    tree = _TreeWriter(repo, checkout, meta.cone).tree(base, "")
    if tree == base.id:
        return head, False
    text = cleanup_message(message)
    if not text:
        raise cli.GitError(
            "the commit message is empty: give git-commit a message",
            failure=cli.GitFailure.OTHER,
        )
    if identity.signing_key:
        sha = await worktrees.commit_tree(checkout, str(tree), [head], text, identity)
    else:
        who = (identity.name, identity.email)
        sha = objects.create_commit(repo, tree, [head], text, author=who, committer=who)
    worktrees.set_head(checkout, sha, objects.new_objects(repo, sha))
    return sha, True


#: The message as `git commit -m` records it (shared with `worktree.commit_all`).
cleanup_message = worktrees.cleanup_message


class _Mode(Enum):
    """How a directory of a lazy checkout maps to its tree."""

    FULL = "checked out: the disk is the truth"
    PARTIAL = "its own files checked out, some subdirectories not"
    OVERLAY = "not checked out: files on disk replace or add to the commit's"


class _TreeWriter:
    """Builds the tree a lazy checkout's directory stands for, writing only new objects."""

    def __init__(self, repo: pygit2.Repository, root: Path, cone: Sequence[str]) -> None:
        self.repo, self.root, self.cone = repo, root, list(cone)
        self.parents = {
            "/".join(c.split("/")[:depth]) for c in cone for depth in range(1, c.count("/") + 1)
        }
        self._worktree: pygit2.Repository | None = None

    def mode_of(self, relative: str, in_commit: bool) -> _Mode:
        if _covered(relative, self.cone):
            return _Mode.FULL
        if relative in self.parents:
            return _Mode.PARTIAL
        return _Mode.OVERLAY if in_commit else _Mode.FULL

    def ignored(self, relative: str, is_dir: bool) -> bool:
        """`.gitignore` rules, for files that are not in the commit yet."""
        if self._worktree is None:
            worktrees.git_dir(self.root)  # libgit2 opens only a checkout git knows
            self._worktree = pygit2.Repository(str(self.root))
        return bool(self._worktree.path_is_ignored(relative + ("/" if is_dir else "")))

    def tree(self, base: pygit2.Tree | None, relative: str) -> pygit2.Oid:
        """The root tree (always written, even when empty)."""
        built = self._build(base, relative, _Mode.PARTIAL)
        return built if built is not None else objects.build_tree(self.repo, {})

    def _build(self, base: pygit2.Tree | None, relative: str, mode: _Mode) -> pygit2.Oid | None:
        """The tree for one directory; the commit's own tree id when nothing in it changed."""
        directory = self.root / relative if relative else self.root
        try:
            on_disk = {e.name: e for e in os.scandir(directory)}
        except (FileNotFoundError, NotADirectoryError):
            on_disk = {}
        if not relative:
            on_disk.pop(".git", None)
            on_disk.pop(worktrees.STATE_TMP, None)
        names = set(on_disk)
        if base is not None and mode is _Mode.FULL:
            names.update(str(entry.name) for entry in base)  # missing from disk: deleted
        elif base is not None and mode is _Mode.PARTIAL:
            # its own files are checked out (missing ones were deleted), and of its
            # subdirectories only those on the way to the cone; the rest stay as they are
            names.update(str(e.name) for e in base if e.type_str != "tree")
            prefix = f"{relative}/" if relative else ""
            names.update(
                name
                for c in self.cone
                if c.startswith(prefix) and (name := c[len(prefix) :].split("/", 1)[0]) in base
            )
        builder = self.repo.TreeBuilder(base) if base is not None else self.repo.TreeBuilder()
        changed = base is None
        for name in names:
            old = base[name] if base is not None and name in base else None
            found = self._entry(self._join(relative, name), mode, old, on_disk.get(name))
            if found == ((old.id, old.filemode) if old is not None else None):
                continue
            changed = True
            if found is None:
                builder.remove(name)
            else:
                builder.insert(name, *found)
        if not changed and base is not None:
            return base.id
        return builder.write() if len(builder) else None

    @staticmethod
    def _join(relative: str, name: str) -> str:
        return f"{relative}/{name}" if relative else name

    def _entry(
        self,
        child: str,
        mode: _Mode,
        old: pygit2.Object | None,
        disk: os.DirEntry[str] | None,
    ) -> tuple[pygit2.Oid, int] | None:
        """What the tree records for one name: the commit's entry, the disk's, or nothing."""
        kept = (old.id, old.filemode) if old is not None else None
        is_tree = old is not None and old.type_str == "tree"
        if old is not None and old.filemode == objects.GITLINK:
            return kept if disk is not None or mode is _Mode.OVERLAY else None
        if disk is None:
            if is_tree:
                sub = self.mode_of(child, True)
                if sub is _Mode.PARTIAL:
                    built = self._build(old.peel(pygit2.Tree), child, sub)  # type: ignore[union-attr]
                    return (built, objects.TREE) if built is not None else None
                return kept if sub is _Mode.OVERLAY else None
            return kept if mode is _Mode.OVERLAY else None  # a checked-out file was deleted
        if disk.is_dir(follow_symlinks=False):
            if old is None and self.ignored(child, True):
                return None
            sub = self.mode_of(child, is_tree)
            old_tree = old.peel(pygit2.Tree) if is_tree else None  # type: ignore[union-attr]
            built = self._build(old_tree, child, sub)
            return (built, objects.TREE) if built is not None else None
        if old is None and self.ignored(child, False):
            return None
        path = Path(disk.path)
        hashed = objects.disk_entry(self.repo, path, write=False)
        if hashed is None:
            return kept if mode is _Mode.OVERLAY else None
        if kept == hashed:
            return kept
        return objects.disk_entry(self.repo, path, write=True)
