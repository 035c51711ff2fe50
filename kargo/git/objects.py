"""In-process reads and writes of a mirror's objects (pygit2, i.e. libgit2), without git processes.

A lazy checkout (`kargo.git.lazy`) holds a handful of files a promotion edits, and turning
them into a commit needs a few blobs, trees and one commit object. Starting `git` for each of
those costs more than the work itself (a process start is milliseconds; writing an object
through libgit2 is a tenth of one), and a hundred promotions at once would each start several.
So lazy checkouts read trees and blobs and write new objects here.

New objects are held in memory first (`_Pending`, an object-database backend of each opened
mirror) and reach the mirror's object store only when a git process is about to run
(`cli.before_git` calls `flush_all`): a hundred promotions committing at once then write one
pack between them instead of five loose objects each, which on a slow disk is most of what a
commit costs. Durability does not depend on that flush: a lazy checkout keeps the objects of
its commits in its own state file (`kargo.git.worktree`), and `adopt` gives them back to the
mirror after a restart.

Only object-level work happens here; fetches and pushes stay with git (`kargo.git.cli`).

Neighbours: `kargo.git.lazy` (what to check out and commit), `kargo.git.mirror` (the mirrors).
"""

from __future__ import annotations

import base64
import logging
import os
import stat
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pygit2

from kargo.git import cli

log = logging.getLogger(__name__)

# Mirrors made for discovery are partial clones; libgit2 only needs to be told that the
# extension is fine to open (a missing blob then reads as missing, and is fetched by git).
if "partialclone" not in pygit2.settings.extensions:
    pygit2.settings.set_extensions(["partialclone"])

TREE = pygit2.enums.FileMode.TREE
BLOB = pygit2.enums.FileMode.BLOB
EXECUTABLE = pygit2.enums.FileMode.BLOB_EXECUTABLE
LINK = pygit2.enums.FileMode.LINK
GITLINK = pygit2.enums.FileMode.COMMIT

_OPEN_LIMIT = 16  # repositories kept open (each holds pack file maps and descriptors)
_open: OrderedDict[str, pygit2.Repository] = OrderedDict()
# Up to this many pending objects are written loose; more make one pack (a pack costs a few
# files, and a mirror with many small packs makes git repack it).
LOOSE_LIMIT = 12
_PENDING_PRIORITY = 1000  # above libgit2's own backends: new objects are written here

# object type name <-> libgit2 number, for state files
_TYPE_NAMES = {1: "commit", 2: "tree", 3: "blob", 4: "tag"}
_TYPE_NUMBERS = {name: number for number, name in _TYPE_NAMES.items()}

# mirror path -> objects written in-process and not yet in the mirror: hex -> (type, data)
_pending: dict[str, dict[str, tuple[int, bytes]]] = {}


def _key(path: Path | str) -> str:
    """One spelling per mirror: absolute, no trailing slash (`Repository.path` has one)."""
    return os.path.abspath(path)


class _Pending(pygit2.OdbBackend):
    """The objects a mirror's in-process writes created that are not on disk yet: writes land
    here (highest priority), reads of them are served from here until `flush` moves them."""

    def __init__(self, objects: dict[str, tuple[int, bytes]]) -> None:
        super().__init__()
        self.objects = objects

    def write_cb(self, oid: pygit2.Oid, data: bytes, kind: int) -> None:
        self.objects[str(oid)] = (kind, data)

    def read_cb(self, oid: pygit2.Oid) -> tuple[int, bytes]:
        return self.objects[str(oid)]

    def read_prefix_cb(self, prefix: str) -> tuple[int, bytes, pygit2.Oid]:
        if len(prefix) == pygit2.GIT_OID_HEXSZ:
            found = [prefix] if prefix in self.objects else []
        else:
            found = [name for name in self.objects if name.startswith(prefix)]
        if len(found) != 1:
            raise KeyError(prefix)
        kind, data = self.objects[found[0]]
        return kind, data, pygit2.Oid(hex=found[0])

    def read_header_cb(self, oid: pygit2.Oid) -> tuple[int, int]:
        kind, data = self.objects[str(oid)]
        return kind, len(data)

    def exists_cb(self, oid: pygit2.Oid) -> bool:
        return str(oid) in self.objects

    def exists_prefix_cb(self, prefix: str) -> pygit2.Oid:
        found = [name for name in self.objects if name.startswith(prefix)]
        if len(found) != 1:
            raise KeyError(prefix)
        return pygit2.Oid(hex=found[0])

    def refresh_cb(self) -> None:
        return None

    def __iter__(self) -> Iterator[pygit2.Oid]:
        return iter([pygit2.Oid(hex=name) for name in self.objects])


def repository(path: Path | str) -> pygit2.Repository:
    """The mirror at `path`, opened once and kept. The least recently used ones are let go,
    not freed: a step may still hold one across an await, and it closes when nobody does."""
    key = _key(path)
    repo = _open.get(key)
    if repo is None:
        repo = pygit2.Repository(key)
        repo.odb.add_backend(_Pending(_pending.setdefault(key, {})), _PENDING_PRIORITY)
        _open[key] = repo
        while len(_open) > _OPEN_LIMIT:
            _open.popitem(last=False)
    else:
        _open.move_to_end(key)
    return repo


def root_tree(repo: pygit2.Repository, commit: str) -> pygit2.Tree:
    """The tree of `commit`."""
    return repo[commit].peel(pygit2.Tree)


def parents(mirror_path: Path | str, commit: str) -> list[str] | None:
    """The parents of `commit` in the mirror (None when it has no such commit)."""
    try:
        found = repository(mirror_path)[commit]
    except (KeyError, ValueError):
        return None
    if not isinstance(found, pygit2.Commit):
        return None
    return [str(p) for p in found.parent_ids]


def subtree(root: pygit2.Tree, relative: str) -> pygit2.Object | None:
    """The object at `relative` ("a/b") inside `root`, or None."""
    if relative in ("", "."):
        return root
    try:
        return root[relative]
    except KeyError:
        return None


@dataclass(frozen=True)
class FileEntry:
    """A non-directory tree entry to write into a checkout."""

    relative: str  # inside the checkout
    oid: pygit2.Oid
    mode: int


def files_in(
    tree: pygit2.Tree, prefix: str, *, recursive: bool, skip: Iterable[str] = ()
) -> Iterator[FileEntry]:
    """The blobs, links and submodules in `tree` (whose path is `prefix`); `recursive` walks
    into its subdirectories, except those under `skip`."""
    skipped = tuple(skip)
    for entry in tree:
        name = str(entry.name)
        relative = f"{prefix}/{name}" if prefix else name
        if entry.filemode != TREE:
            yield FileEntry(relative, entry.id, entry.filemode)
        elif recursive and not any(relative == s or relative.startswith(s + "/") for s in skipped):
            yield from files_in(entry.peel(pygit2.Tree), relative, recursive=True, skip=skipped)


async def write_files(
    repo: pygit2.Repository,
    mirror_path: Path,
    url: str,
    root: Path,
    entries: Iterable[FileEntry],
    credentials: cli.GitCredentials | None,
) -> None:
    """Write blobs as files (links as symlinks, submodules as empty directories) under `root`,
    never over a file that is already there (a step may have written it). Blobs a partial
    mirror does not hold yet are fetched first, in one request."""
    wanted = list(entries)
    absent = sorted({str(e.oid) for e in wanted if e.mode != GITLINK and e.oid not in repo})
    if absent:
        await fetch_objects(mirror_path, url, absent, credentials)
    made: set[Path] = set()
    for entry in wanted:
        target = root / entry.relative
        if os.path.lexists(target):
            continue
        if target.parent not in made:
            target.parent.mkdir(parents=True, exist_ok=True)
            made.add(target.parent)
        if entry.mode == GITLINK:
            target.mkdir()
            continue
        data = repo[entry.oid].read_raw()
        if entry.mode == LINK:
            os.symlink(data, target)
            continue
        permissions = 0o755 if entry.mode == EXECUTABLE else 0o644
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, permissions)
        with os.fdopen(fd, "wb") as out:
            out.write(data)


async def fetch_objects(
    mirror_path: Path, url: str, oids: list[str], credentials: cli.GitCredentials | None
) -> None:
    """Fetch objects a partial-clone mirror left on the server, in one request (the command
    git itself runs to fetch missing objects)."""
    await cli.run_git(
        [
            "-c",
            "fetch.negotiationAlgorithm=noop",
            "fetch",
            "--quiet",
            "--no-tags",
            "--no-write-fetch-head",
            "--recurse-submodules=no",
            "--filter=blob:none",
            "--stdin",
            "origin",
        ],
        cwd=mirror_path,
        credentials=credentials,
        url=url,
        stdin="".join(f"{oid}\n" for oid in oids).encode(),
    )


def disk_entry(
    repo: pygit2.Repository, path: Path, *, write: bool
) -> tuple[pygit2.Oid, int] | None:
    """(blob id, file mode) of a file on disk as git would record it; None for a directory
    or anything git does not track (sockets, fifos). `write` stores the blob too."""
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        data = os.fsencode(os.readlink(path))
        return (repo.create_blob(data) if write else pygit2.hash(data)), LINK
    if not stat.S_ISREG(info.st_mode):
        return None
    mode = EXECUTABLE if info.st_mode & stat.S_IXUSR else BLOB
    return (repo.create_blob_fromdisk(str(path)) if write else pygit2.hashfile(str(path))), mode


def build_tree(repo: pygit2.Repository, entries: dict[str, tuple[pygit2.Oid, int]]) -> pygit2.Oid:
    """Write one tree of `entries` (name -> (id, mode))."""
    builder = repo.TreeBuilder()
    for name, (oid, mode) in entries.items():
        builder.insert(name, oid, mode)
    return builder.write()


def create_commit(
    repo: pygit2.Repository,
    tree: pygit2.Oid,
    parents: list[str],
    message: str,
    *,
    author: tuple[str, str],
    committer: tuple[str, str],
) -> str:
    """A commit object (no ref moves); returns its sha."""
    oid = repo.create_commit(
        None,
        pygit2.Signature(*author),
        pygit2.Signature(*committer),
        message,
        tree,
        [pygit2.Oid(hex=p) for p in parents],
    )
    return str(oid)


# ---------------------------------------------------------------------------------------------
# objects held in memory until a git process needs them


def pending_count(mirror_path: Path | str) -> int:
    """How many new objects of the mirror are not on disk yet (for tests and diagnostics)."""
    return len(_pending.get(_key(mirror_path), {}))


def new_objects(repo: pygit2.Repository, commit: str) -> list[list[str]]:
    """The objects reachable from `commit` that are still pending, as (sha, type, base64 data):
    what a lazy checkout keeps in its state file so that its commit survives a restart."""
    objects = _pending.get(_key(repo.path), {})
    found: list[list[str]] = []
    todo = [commit]
    seen: set[str] = set()
    while todo:
        sha = todo.pop()
        if sha in seen or sha not in objects:
            continue
        seen.add(sha)
        kind, data = objects[sha]
        found.append([sha, _TYPE_NAMES[kind], base64.b64encode(data).decode()])
        if kind == pygit2.enums.ObjectType.COMMIT:
            todo.append(str(repo[sha].peel(pygit2.Tree).id))
        elif kind == pygit2.enums.ObjectType.TREE:
            todo.extend(str(entry.id) for entry in repo[sha].peel(pygit2.Tree))
    return found


def adopt(mirror_path: Path | str, kept: Sequence[Sequence[str]]) -> None:
    """Give the mirror back objects a lazy checkout kept (see `new_objects`) that it lacks: the
    process that wrote them stopped before they reached the disk."""
    repo = repository(mirror_path)
    objects = _pending.setdefault(_key(mirror_path), {})
    for sha, kind, data in kept:
        if sha not in objects and pygit2.Oid(hex=sha) not in repo:
            objects[sha] = (_TYPE_NUMBERS[kind], base64.b64decode(data))


def flush(mirror_path: Path | str) -> None:
    """Write the mirror's pending objects into its object store (loose, or one pack)."""
    key = _key(mirror_path)
    objects = _pending.get(key)
    if not objects:
        return
    repo = repository(key)
    store = Path(repo.path) / "objects"
    if len(objects) <= LOOSE_LIMIT:
        loose = pygit2.Odb()
        loose.add_backend(pygit2.OdbBackendLoose(str(store), -1, False), 1)
        for kind, data in objects.values():
            loose.write(kind, data)
    else:
        packer = pygit2.PackBuilder(repo)
        packer.set_threads(1)
        for sha in objects:
            packer.add(pygit2.Oid(hex=sha))
        packer.write(str(store / "pack"))
    log.debug("%s: wrote %d new objects", key, len(objects))
    objects.clear()


def flush_all() -> None:
    """Write every mirror's pending objects: a git process is about to run, and git reads only
    what is on disk. A mirror that is gone (a preview's throwaway copy) takes its objects with
    it; one that cannot be written keeps them for the next attempt and never stops git from
    running elsewhere (whatever needed them then fails on the missing object, with git's
    message)."""
    for key, objects in list(_pending.items()):
        if not objects:
            continue
        if not os.path.isdir(key):
            objects.clear()
            continue
        try:
            flush(key)
        except (OSError, pygit2.GitError) as err:
            log.warning("could not write %d new objects into %s: %s", len(objects), key, err)


cli.before_git(flush_all)
