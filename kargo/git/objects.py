"""In-process reads and writes of a mirror's objects (pygit2, i.e. libgit2), without git processes.

A lazy checkout (`kargo.git.lazy`) holds a handful of files a promotion edits, and turning
them into a commit needs a few blobs, trees and one commit object. Starting `git` for each of
those costs more than the work itself (a process start is milliseconds; writing an object
through libgit2 is a tenth of one), and a hundred promotions at once would each start several.
So lazy checkouts read trees and blobs and write new objects here, straight into the mirror's
object store, which every worktree and every later git command (push, replay) shares.

Only object-level work happens here; fetches and pushes stay with git (`kargo.git.cli`).

Neighbours: `kargo.git.lazy` (what to check out and commit), `kargo.git.mirror` (the mirrors).
"""

from __future__ import annotations

import os
import stat
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pygit2

from kargo.git import cli

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


def repository(path: Path | str) -> pygit2.Repository:
    """The mirror at `path`, opened once and kept. The least recently used ones are let go,
    not freed: a step may still hold one across an await, and it closes when nobody does."""
    key = str(path)
    repo = _open.get(key)
    if repo is None:
        repo = pygit2.Repository(key)
        _open[key] = repo
        while len(_open) > _OPEN_LIMIT:
            _open.popitem(last=False)
    else:
        _open.move_to_end(key)
    return repo


def root_tree(repo: pygit2.Repository, commit: str) -> pygit2.Tree:
    """The tree of `commit`."""
    return repo[commit].peel(pygit2.Tree)


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
