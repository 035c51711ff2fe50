"""Replaying many promotions' commits onto a moved branch, in-process.

When promotions wait on one branch, each one's commit was made on the branch as it was when it
cloned; the push must put them one after the other on top of the branch as it is now. Doing
that with a rebase per promotion costs a few git processes and a worktree update each, which
for a hundred promotions is seconds spent under the branch's lock. Most of these commits are
trivially replayable: each changes its own files (one Stage's kustomization), so the result of
a rebase is known from paths alone: take the new base's tree and set this commit's changed
paths to this commit's blobs. This module does exactly that for every commit whose paths
touch nothing that changed since its parent (upstream or earlier in the batch), keeping each
commit's author, date and message and making the pusher the committer, as `git rebase` would.

All of it runs in-process through libgit2 (`kargo.git.objects`): reading a commit's changes
is a tree comparison, and a replayed commit is a few new trees and one commit object, each a
few microseconds, where a `git log` and a `git fast-import` cost tens of milliseconds of the
time the branch is locked. The new objects are written as one pack (with the batch's commits,
which are still in memory: `kargo.git.objects`), which the push needs on disk anyway.

A commit that touches a path that also changed (or is signed, or a merge) is not replayed here:
`kargo.git.push` integrates it the slow way (rebase or merge in its worktree, by policy).

Neighbours: `kargo.git.push` (the caller), `kargo.git.objects` (the mirror's objects).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pygit2

from kargo.git import objects

_DELETED = 0  # the mode a deleted path gets in a `Change` (as git writes 000000)


@dataclass(frozen=True)
class Change:
    """One path a commit changed: new mode and blob, or a deletion (mode 0)."""

    path: str
    mode: int
    oid: pygit2.Oid | None

    @property
    def deleted(self) -> bool:
        """True when the commit removed the path."""
        return self.oid is None


@dataclass(frozen=True)
class CommitInfo:
    """What replaying a commit needs: its parents and changes (authorship is read at replay)."""

    sha: str
    parents: tuple[str, ...]
    changes: tuple[Change, ...]

    @property
    def paths(self) -> list[str]:
        """The paths the commit changed."""
        return [c.path for c in self.changes]


_Entries = dict[str, tuple[pygit2.Oid, int]]


class _TreeReader:
    """A tree's entries by name, read once per tree: the commits of a batch mostly share
    their parent, whose trees are then read once for all of them."""

    def __init__(self, repo: pygit2.Repository) -> None:
        self.repo = repo
        self._read: dict[pygit2.Oid, _Entries] = {}

    def entries(self, tree: pygit2.Oid | None) -> _Entries:
        if tree is None:
            return {}
        found = self._read.get(tree)
        if found is None:
            found = {str(e.name): (e.id, e.filemode) for e in self.repo[tree].peel(pygit2.Tree)}
            self._read[tree] = found
        return found

    def diff(
        self,
        old: pygit2.Oid | None,
        new: pygit2.Oid | None,
        prefix: str = "",
        *,
        recursive: bool = True,
    ) -> list[Change]:
        """Every file that differs between two trees, as `git diff-tree -r --no-renames` lists
        them (a file turned into a directory is a deletion and additions). Subtrees with the
        same id are skipped unread: a promotion's commit differs from its parent in one
        directory. Without `recursive`, only the files directly in the trees."""
        olds, news = self.entries(old), self.entries(new)
        changes: list[Change] = []
        for name in sorted(olds.keys() | news.keys()):
            before, after = olds.get(name), news.get(name)
            if before == after:
                continue
            path = f"{prefix}{name}"
            old_tree = before[0] if before is not None and before[1] == objects.TREE else None
            new_tree = after[0] if after is not None and after[1] == objects.TREE else None
            if recursive and (old_tree is not None or new_tree is not None):
                changes += self.diff(old_tree, new_tree, f"{path}/")
            if after is not None and new_tree is None:
                changes.append(Change(path, after[1], after[0]))
            elif before is not None and old_tree is None:
                changes.append(Change(path, _DELETED, None))
        return changes


def describe(repo_path: Path, shas: Sequence[str]) -> dict[str, CommitInfo]:
    """What `replay` needs of each commit: its parents and, for a commit with one parent, the
    files it changed. Commits the mirror does not hold are left out."""
    repo = objects.repository(repo_path)
    reader = _TreeReader(repo)
    found: dict[str, CommitInfo] = {}
    for sha in dict.fromkeys(shas):
        try:
            commit = repo[sha]
        except (KeyError, ValueError):
            continue
        if not isinstance(commit, pygit2.Commit):
            continue
        parents = tuple(str(p) for p in commit.parent_ids)
        changes: tuple[Change, ...] = ()
        if len(parents) == 1:
            changes = tuple(reader.diff(commit.parents[0].tree_id, commit.tree_id))
        found[sha] = CommitInfo(sha, parents, changes)
    return found


def changed_paths(repo_path: Path, old: str, new: str) -> set[str]:
    """Files that differ between two commits."""
    if old == new:
        return set()
    repo = objects.repository(repo_path)
    trees = objects.root_tree(repo, old).id, objects.root_tree(repo, new).id
    return {c.path for c in _TreeReader(repo).diff(*trees)}


def changes_within(
    repo_path: Path | str, old: str, new: str, directories: Sequence[str], files_of: Sequence[str]
) -> list[Change]:
    """What differs between two commits inside `directories` (recursively) and among the files
    directly in `files_of` ("" is the top): the parts of a tree a lazy checkout holds, compared
    without reading the rest."""
    repo = objects.repository(repo_path)
    before, after = objects.root_tree(repo, old), objects.root_tree(repo, new)
    reader = _TreeReader(repo)
    found: list[Change] = []
    for directory, recursive in [(d, False) for d in files_of] + [(d, True) for d in directories]:
        trees = [objects.subtree(tree, directory) for tree in (before, after)]
        ids = [t.id if isinstance(t, pygit2.Tree) else None for t in trees]
        if ids[0] != ids[1]:
            prefix = f"{directory}/" if directory else ""
            found += reader.diff(ids[0], ids[1], prefix, recursive=recursive)
    return found


def is_ancestor(repo_path: Path, older: str, newer: str) -> bool:
    """Whether `older` is `newer` or one of its ancestors."""
    if older == newer:
        return True
    repo = objects.repository(repo_path)
    try:
        return bool(repo.descendant_of(pygit2.Oid(hex=newer), pygit2.Oid(hex=older)))
    except (KeyError, ValueError, pygit2.GitError):
        return False  # a commit the mirror does not hold is no ancestor it knows of


def commits_between(repo_path: Path, older: str, newer: str) -> set[str]:
    """The commits reachable from `newer` and not from `older` (`git rev-list newer ^older`)."""
    repo = objects.repository(repo_path)
    walker = repo.walk(pygit2.Oid(hex=newer), pygit2.enums.SortMode.NONE)
    walker.hide(pygit2.Oid(hex=older))
    return {str(commit.id) for commit in walker}


@dataclass
class PathSet:
    """Paths changed so far, answering "does this path collide?" for files and directories."""

    files: set[str] = field(default_factory=set)
    dirs: set[str] = field(default_factory=set)

    def add(self, paths: Iterable[str]) -> None:
        """Record changed paths (and every directory above them)."""
        for path in paths:
            self.files.add(path)
            self.dirs.update(str(p) for p in PurePosixPath(path).parents if str(p) != ".")

    def collides(self, paths: Iterable[str]) -> bool:
        """True when any path was changed, or is a directory of (or inside) a changed path."""
        for path in paths:
            if path in self.files or path in self.dirs:
                return True
            if any(str(p) in self.files for p in PurePosixPath(path).parents):
                return True
        return False


@dataclass(frozen=True)
class Replay:
    """One commit to rewrite on top of the previous one (the first on `onto`)."""

    commit: CommitInfo
    committer_name: str
    committer_email: str


_Edits = dict[str, tuple[pygit2.Oid, int] | None]


def _edit_tree(
    repo: pygit2.Repository, tree: pygit2.Tree | None, edits: _Edits
) -> pygit2.Oid | None:
    """`tree` with each path of `edits` set to (blob, mode) or removed; None when nothing is
    left (git stores no empty directories). Deletions go first, then directories, then files,
    so that a file that became a directory (or the reverse) ends up as the commit has it."""
    builder = repo.TreeBuilder(tree) if tree is not None else repo.TreeBuilder()
    here: _Edits = {}
    below: dict[str, _Edits] = {}
    for path, value in edits.items():
        name, slash, rest = path.partition("/")
        if slash:
            below.setdefault(name, {})[rest] = value
        else:
            here[name] = value
    for name, value in here.items():
        if value is None and builder.get(name) is not None:
            builder.remove(name)
    for name, inner in below.items():
        existing = builder.get(name)
        subtree = existing if isinstance(existing, pygit2.Tree) else None
        built = _edit_tree(repo, subtree, inner)
        if built is not None:
            builder.insert(name, built, objects.TREE)
        elif existing is not None:
            builder.remove(name)
    for name, value in here.items():
        if value is not None:
            builder.insert(name, *value)
    return builder.write() if len(builder) else None


def replay(
    repo_path: Path, ref: str, onto: str, replays: Sequence[Replay], *, now: float | None = None
) -> list[str]:
    """Write `replays` as a chain of new commits starting on `onto`; return their shas.

    `ref` (a private ref of the caller) ends up on the last one; the caller pushes by sha."""
    if not replays:
        return []
    repo = objects.repository(repo_path)
    committed = int(time.time() if now is None else now)
    shas: list[str] = []
    previous = pygit2.Oid(hex=onto)
    tree = objects.root_tree(repo, onto)
    for item in replays:
        original = repo[item.commit.sha].peel(pygit2.Commit)
        edits: _Edits = {
            c.path: None if c.oid is None else (c.oid, c.mode) for c in item.commit.changes
        }
        built = _edit_tree(repo, tree, edits)
        tree_id = built if built is not None else repo.TreeBuilder().write()
        committer = pygit2.Signature(item.committer_name, item.committer_email, committed, 0)
        encoding = [original.message_encoding] if original.message_encoding else []
        previous = repo.create_commit(
            None, original.author, committer, original.raw_message, tree_id, [previous], *encoding
        )
        tree = repo[tree_id].peel(pygit2.Tree)
        shas.append(str(previous))
    objects.flush(repo_path)  # on disk before a ref names them (the push needs them anyway)
    repo.references.create(ref, previous, force=True)
    return shas
