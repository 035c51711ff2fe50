"""Lazy checkouts: a promotion's worktree holds only the files its steps touch.

Checking out a large repository is most of a promotion's cost (10,000 files take about a second
to write, and a blobless mirror must fetch every one of them first), while a promotion usually
edits one kustomization or values file. So `git-clone` makes each worktree a cone-mode sparse
checkout with a sparse index that starts with the repository's top-level files only, and before
every step the engine calls `materialize` with the paths that step declared (`StepSpec.paths`):
their directories join the cone, so git checks them out (fetching their blobs in one batch).
A step that cannot say which paths it reads (`kustomize-build` follows `../` references, Helm
charts pull `file://` dependencies) gets the whole checkout, exactly as without laziness.

What a step sees in the directories it named is the full checkout; what the commit records is
the same as with a full checkout, because files outside the cone keep git's skip-worktree bit
and are never mistaken for deletions. `KARGO_GIT_LAZY_CHECKOUT=false` turns laziness off.

Neighbours: `kargo.git.worktree` (creates the worktrees and records `Checkout.lazy`),
`kargo.promotion.engine` (calls `materialize` before each step).
"""

from __future__ import annotations

import glob
import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path, PurePosixPath

from kargo.git import cli, worktree as worktrees

log = logging.getLogger(__name__)

LAZY_ENV = "KARGO_GIT_LAZY_CHECKOUT"

CredentialsFor = Callable[[str], Awaitable[cli.GitCredentials | None]]


def enabled() -> bool:
    """Whether git-clone makes lazy checkouts (default yes; KARGO_GIT_LAZY_CHECKOUT=false)."""
    return os.environ.get(LAZY_ENV, "true").strip().lower() not in ("0", "false", "no", "off")


def _lazy_checkout_at(directory: Path) -> worktrees.Checkout | None:
    if not (directory / ".git").is_file():
        return None
    try:
        meta = worktrees.read_checkout(directory)
    except (FileNotFoundError, OSError, ValueError):
        return None
    return meta if meta.lazy else None


def lazy_checkouts(work_dir: Path) -> list[Path]:
    """Every lazy checkout under `work_dir` (the walk stops at any checkout it meets)."""
    found: list[Path] = []
    for current, dirs, _files in os.walk(work_dir):
        here = Path(current)
        if (here / ".git").exists():
            if _lazy_checkout_at(here) is not None:
                found.append(here)
            dirs[:] = []
            continue
        dirs[:] = [d for d in dirs if not (here / d).is_symlink()]
    return found


def _owning_checkout(work_dir: Path, target: Path) -> Path | None:
    """The lazy checkout `target` lies in (or is), walking up to `work_dir`."""
    current = target
    while True:
        if _lazy_checkout_at(current) is not None:
            return current
        if current == work_dir or work_dir not in current.parents:
            return None
        current = current.parent


def _literal_prefix(relative: PurePosixPath) -> PurePosixPath:
    """The part of a path before its first glob component (`a/*/c` -> `a`)."""
    parts: list[str] = []
    for part in relative.parts:
        if glob.has_magic(part):
            break
        parts.append(part)
    return PurePosixPath(*parts) if parts else PurePosixPath(".")


def _parent(relative: str) -> str | None:
    parent = str(PurePosixPath(relative).parent)
    return None if parent == "." else parent


async def materialize(
    work_dir: Path, paths: Sequence[str] | None, credentials_for: CredentialsFor
) -> None:
    """Check out what a step is about to touch: `paths` (relative to `work_dir`), or, when the
    step cannot say (`None`), every lazy checkout in full."""
    work_dir = Path(os.path.abspath(work_dir))
    wanted: dict[Path, set[str] | None] = {}
    if paths is None:
        for checkout in lazy_checkouts(work_dir):
            wanted[checkout] = None
    else:
        for raw in paths:
            if not raw or os.path.isabs(raw):
                continue  # the step itself reports bad paths
            normalised = os.path.normpath(raw)
            if normalised == ".." or normalised.startswith(".." + os.sep):
                continue
            target = work_dir if normalised == "." else work_dir / normalised
            if target == work_dir:
                for checkout in lazy_checkouts(work_dir):
                    wanted[checkout] = None
                continue
            owner = _owning_checkout(work_dir, target)
            if owner is None:
                continue
            literal = str(_literal_prefix(PurePosixPath(target.relative_to(owner).as_posix())))
            if literal == "." or wanted.get(owner, set()) is None:
                wanted[owner] = None
            else:
                wanted.setdefault(owner, set()).add(literal)  # type: ignore[union-attr]
    for checkout, relatives in wanted.items():
        await _expand(checkout, relatives, credentials_for)


async def _expand(
    checkout: Path, relatives: set[str] | None, credentials_for: CredentialsFor
) -> None:
    meta = worktrees.read_checkout(checkout)
    if not meta.lazy:
        return
    credentials = await credentials_for(meta.repo_url)
    if relatives is None:
        await worktrees.run(
            checkout, ["sparse-checkout", "disable"], credentials, url=meta.repo_url
        )
        meta.lazy, meta.cone = False, []
        worktrees.write_checkout(checkout, meta)
        log.debug("lazy checkout %s: checked out in full", checkout)
        return
    pending = sorted(r for r in relatives if not _covered(r, meta.cone))
    if not pending:
        return
    # A name with a suffix (values.yaml) is taken for a file: its directory joins the cone.
    # Anything else is taken for a directory first; if nothing appears there, it was a file
    # (or a path still to be written) and its directory joins too. No `ls-tree` needed.
    guessed_dirs = [r for r in pending if not PurePosixPath(r).suffix]
    wanted = {d for r in pending if PurePosixPath(r).suffix and (d := _parent(r))}
    wanted.update(guessed_dirs)
    added = await _add_to_cone(checkout, meta, wanted, credentials)
    missing = {
        d
        for r in guessed_dirs
        if not (checkout / r).exists() and (d := _parent(r)) and not _covered(d, added)
    }
    await _add_to_cone(checkout, meta, missing, credentials)


async def _add_to_cone(
    checkout: Path,
    meta: worktrees.Checkout,
    dirs: set[str],
    credentials: cli.GitCredentials | None,
) -> list[str]:
    """`git sparse-checkout add` the directories not yet covered; returns the cone."""
    new = sorted(d for d in dirs if not _covered(d, meta.cone))
    if new:
        await worktrees.run(
            checkout,
            ["sparse-checkout", "add", "--skip-checks", "--", *new],
            credentials,
            url=meta.repo_url,
        )
        meta.cone = sorted({*meta.cone, *new})
        worktrees.write_checkout(checkout, meta)
    return meta.cone


def _covered(directory: str, cone: Sequence[str]) -> bool:
    """Whether `directory` is already inside one of the cone's directories."""
    return any(directory == c or directory.startswith(c + "/") for c in cone)
