"""Replaying many promotions' commits onto a moved branch with one `git fast-import`.

When promotions wait on one branch, each one's commit was made on the branch as it was when it
cloned; the push must put them one after the other on top of the branch as it is now. Doing
that with a rebase per promotion costs a few git processes and a worktree update each, which
for a hundred promotions is seconds spent under the branch's lock. Most of these commits are
trivially replayable: each changes its own files (one Stage's kustomization), so the result of
a rebase is known from paths alone: take the new base's tree and set this commit's changed
paths to this commit's blobs. This module does exactly that for every commit whose paths
touch nothing that changed since its parent (upstream or earlier in the batch), and writes all
the rewritten commits with ONE `git fast-import`, keeping each commit's author, date and
message and making the pusher the committer, as `git rebase` would.

A commit that touches a path that also changed (or is signed, or a merge) is not replayed here:
`kargo.git.push` integrates it the slow way (rebase or merge in its worktree, by policy).

Neighbours: `kargo.git.push` (the caller), `kargo.git.cli` (commands).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from kargo.git import cli

_FORMAT = "%H%x00%P%x00%an%x00%ae%x00%ad%x00%B"
ZERO = "0" * 40


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


def parse_log(output: str) -> CommitInfo:
    """Parse `git log -1 -z --raw` output in the `_FORMAT` layout."""
    sha, parents, name, email, date, rest = output.split("\0", 5)
    message, sep, raw = rest.partition("\0\n")
    if not sep:
        message, raw = rest.rstrip("\0"), ""
    fields = raw.split("\0")
    changes: list[Change] = []
    for meta, path in zip(fields[0::2], fields[1::2], strict=False):
        if not meta.startswith(":"):
            continue
        _old_mode, new_mode, _old_sha, new_sha, _status = meta[1:].split()
        changes.append(Change(path, new_mode, new_sha))
    return CommitInfo(
        sha=sha,
        parents=tuple(parents.split()),
        author_name=name,
        author_email=email,
        author_date=date,
        message=message,
        changes=tuple(changes),
    )


_RECORD = "\x01kargo-commit\x01"


async def describe(repo: Path, shas: Sequence[str]) -> dict[str, CommitInfo]:
    """One `git log --no-walk` reading everything `replay` needs of each commit."""
    if not shas:
        return {}
    result = await cli.run_git(
        [
            "log",
            "--no-walk=unsorted",
            "-z",
            "--raw",
            "-r",
            "--no-renames",
            "--no-abbrev",
            "--date=raw",
            f"--format={_RECORD}{_FORMAT}",
            *dict.fromkeys(shas),
        ],
        cwd=repo,
    )
    infos = (parse_log(r.strip("\0")) for r in result.stdout.split(_RECORD) if r.strip("\0"))
    return {info.sha: info for info in infos}


async def changed_paths(repo: Path, old: str, new: str) -> set[str]:
    """Paths that differ between two commits (one `git diff-tree`)."""
    if old == new:
        return set()
    result = await cli.run_git(
        ["diff-tree", "-r", "-z", "--no-renames", "--name-only", old, new], cwd=repo
    )
    return {p for p in result.stdout.split("\0") if p}


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


def _quote(path: str) -> str:
    """A fast-import path in C-style quotes (always valid, whatever the characters)."""
    escaped = (
        path.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    )
    return f'"{escaped}"'


def _ident(name: str, email: str, date: str) -> str:
    return f"{name} <{email}> {date}"


@dataclass(frozen=True)
class Replay:
    """One commit to rewrite on top of the previous one (the first on `onto`)."""

    commit: CommitInfo
    committer_name: str
    committer_email: str


async def replay(
    repo: Path, ref: str, onto: str, replays: Sequence[Replay], *, now: float | None = None
) -> list[str]:
    """Write `replays` as a chain of new commits starting on `onto`; return their shas.

    `ref` (a private ref of the caller) ends up on the last one; the caller pushes by sha."""
    if not replays:
        return []
    committed = int(time.time() if now is None else now)
    lines: list[bytes] = []
    previous = onto
    for index, item in enumerate(replays, start=1):
        c = item.commit
        message = c.message.encode()
        head = [
            f"commit {ref}",
            f"mark :{index}",
            f"author {_ident(c.author_name, c.author_email, c.author_date)}",
            f"committer {_ident(item.committer_name, item.committer_email, f'{committed} +0000')}",
            f"data {len(message)}",
        ]
        lines.append("\n".join(head).encode() + b"\n" + message + b"\n")
        body = [f"from {previous}"]
        for change in c.changes:
            if change.deleted:
                body.append(f"D {_quote(change.path)}")
            else:
                body.append(f"M {change.mode} {change.sha} {_quote(change.path)}")
        lines.append(("\n".join(body) + "\n\n").encode())
        previous = f":{index}"
    lines.append(b"done\n")
    with tempfile.TemporaryDirectory(prefix="kargo-replay-") as tmp:
        marks = Path(tmp) / "marks"
        await cli.run_git(
            ["fast-import", "--quiet", "--done", "--force", f"--export-marks={marks}"],
            cwd=repo,
            stdin=b"".join(lines),
        )
        table = dict(line.split() for line in marks.read_text().splitlines() if line.strip())
    return [table[f":{i}"] for i in range(1, len(replays) + 1)]
