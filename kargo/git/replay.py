"""Replaying many promotions' commits onto a moved branch, in-process.

When promotions wait on one branch, each one's commit was made on the branch as it was when it
cloned; the push must put them one after the other on top of the branch as it is now. Doing
that with a rebase per promotion costs a few git processes and a worktree update each, which
for a hundred promotions is seconds spent under the branch's lock. Most of these commits are
trivially replayable: each changes its own files (one Stage's kustomization), so the result of
a rebase is known from paths alone: take the new base's tree and set this commit's changed
paths to this commit's blobs. This module does exactly that for every commit whose paths
touch nothing that changed since its parent (upstream or earlier in the batch), keeping each
commit's author, date and message and making the pusher the committer, as `git rebase`
would. It reads commits and writes the new trees and commits through libgit2
(`kargo.git.objects`), so the new objects stay in memory until the push's git process (one
pack for the whole batch) and no git process runs for the replay itself.

A commit that touches a path that also changed (or is signed, or a merge) is not replayed here:
`kargo.git.push` integrates it the slow way (rebase or merge in its worktree, by policy).

Neighbours: `kargo.git.push` (the caller), `kargo.git.objects` (reads and writes objects).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pygit2

from kargo.git import objects


@dataclass(frozen=True)
class Change:
    """One path a commit changed: new mode and blob, or a deletion (mode "000000")."""

    path: str
    mode: str
    sha: str

    @property
    def deleted(self) -> bool:
        """True when the commit removed the path."""
        return self.mode == "000000"


@dataclass(frozen=True)
class CommitInfo:
    """What replaying a commit needs: its parent, authorship, message and changes."""

    sha: str
    parents: tuple[str, ...]
    author_name: str
    author_email: str
    author_date: str  # git's raw form: "<seconds> <+hhmm>"
    message: str
    changes: tuple[Change, ...]

    @property
    def paths(self) -> list[str]:
        """The paths the commit changed."""
        return [c.path for c in self.changes]


def _date(signature: pygit2.Signature) -> str:
    """git's raw date of a signature: "<seconds> <+hhmm>"."""
    sign = "-" if signature.offset < 0 else "+"
    hours, minutes = divmod(abs(signature.offset), 60)
    return f"{signature.time} {sign}{hours:02d}{minutes:02d}"


def _changes(old: pygit2.Tree, new: pygit2.Tree) -> tuple[Change, ...]:
    """What `git diff-tree -r --no-renames --raw` lists: every file whose blob, mode or type
    changed, with its new mode and blob."""
    return tuple(
        Change(path, "000000", "0" * 40)
        if now is None
        else Change(path, f"{int(now[1]):06o}", str(now[0]))
        for path, now in objects.diff_trees(old, new)
    )


def describe(repo_path: Path, shas: Sequence[str]) -> dict[str, CommitInfo]:
    """Everything `replay` needs of each commit (a merge or a root commit lists no changes)."""
    repo = objects.repository(repo_path)
    found: dict[str, CommitInfo] = {}
    for sha in dict.fromkeys(shas):
        try:
            commit = repo[sha].peel(pygit2.Commit)
        except (KeyError, ValueError):
            continue
        parents = tuple(str(p) for p in commit.parent_ids)
        changes: tuple[Change, ...] = ()
        if len(parents) == 1:
            changes = _changes(commit.parents[0].tree, commit.tree)
        author = commit.author
        found[sha] = CommitInfo(
            sha=sha,
            parents=parents,
            author_name=author.name,
            author_email=author.email,
            author_date=_date(author),
            message=commit.message,
            changes=changes,
        )
    return found


def changed_paths(repo_path: Path, old: str, new: str) -> set[str]:
    """Paths that differ between two commits."""
    if old == new:
        return set()
    repo = objects.repository(repo_path)
    old_tree, new_tree = (repo[sha].peel(pygit2.Tree) for sha in (old, new))
    return {change.path for change in _changes(old_tree, new_tree)}


def is_ancestor(repo_path: Path, older: str, newer: str) -> bool:
    """Whether `older` is `newer` or one of its ancestors."""
    repo = objects.repository(repo_path)
    return older == newer or repo.descendant_of(newer, older)


def commits_between(repo_path: Path, older: str, newer: str) -> set[str]:
    """The commits reachable from `newer` but not from `older` (`git rev-list newer ^older`)."""
    repo = objects.repository(repo_path)
    walker = repo.walk(pygit2.Oid(hex=newer))
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


def replay(
    repo_path: Path, onto: str, replays: Sequence[Replay], *, now: float | None = None
) -> list[str]:
    """Write `replays` as a chain of new commits starting on `onto`; return their shas (no ref
    moves: the caller pushes the last one by sha)."""
    if not replays:
        return []
    repo = objects.repository(repo_path)
    committed = int(time.time() if now is None else now)
    made: list[str] = []
    previous = onto
    tree: pygit2.Oid | None = repo[onto].peel(pygit2.Tree).id
    for item in replays:
        c = item.commit
        source = repo[c.sha].peel(pygit2.Commit)
        changes: dict[str, tuple[pygit2.Oid, int] | None] = {}
        for change in c.changes:
            if change.deleted:
                changes.setdefault(change.path, None)  # a type change also adds the path
            else:
                changes[change.path] = (pygit2.Oid(hex=change.sha), int(change.mode, 8))
        tree = objects.apply_changes(repo, tree, changes)
        sha = objects.create_commit(
            repo,
            tree if tree is not None else objects.build_tree(repo, {}),
            [previous],
            source.raw_message,
            author=source.author,
            committer=pygit2.Signature(item.committer_name, item.committer_email, committed, 0),
            encoding=source.message_encoding,
        )
        made.append(sha)
        previous = sha
    return made
