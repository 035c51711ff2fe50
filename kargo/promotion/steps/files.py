"""The files step family: copy, delete and file-write (tar and untar: archives.py).

Every path goes through kargo.promotion.workdir.resolve, so no step here reads or writes outside
the promotion's work directory, and each step checks everything before it writes anything.
Ignore rules use .gitignore syntax (pathspec's GitIgnoreSpec) and, as in Kargo's copy, always
skip `.git`.

Neighbours: kargo.promotion.steps.file_rules (shared with the archives family),
kargo.promotion.workdir (safe paths), kargo.promotion.registry (registration).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path, PurePosixPath
from typing import Any

import pathspec
from pydantic import Field, model_validator
from wcmatch import glob as wcglob

from kargo import errors
from kargo.promotion import registry as reg, workdir
from kargo.promotion.context import StepContext, StepResult
from kargo.promotion.steps.file_rules import FileStepConfig, ignore_spec, ignored, os_error, require


class CopyConfig(FileStepConfig):
    """Configuration of copy."""

    in_path: str = Field(min_length=1, description="Path of the file or directory to copy.")
    out_path: str = Field(
        min_length=1,
        description="Destination path. A directory is merged into an existing one; an existing "
        "file is overwritten.",
    )
    ignore: str | None = Field(
        default=None,
        description="Patterns to skip, one per line, in .gitignore syntax; `.git` is always "
        "skipped.",
    )


class DeleteConfig(FileStepConfig):
    """Configuration of delete."""

    path: str | None = Field(
        default=None,
        min_length=1,
        description="Path of the file or directory to delete. Mutually exclusive with `paths`.",
    )
    paths: list[str] | None = Field(
        default=None,
        min_length=1,
        description="Paths of files or directories to delete. Mutually exclusive with `path`.",
    )
    paths_are_globs: bool = Field(
        default=False, description="Treat `path` and `paths` as glob patterns (`**` allowed)."
    )
    strict: bool = Field(
        default=False,
        description="Fail when a path does not exist or a pattern matches nothing.",
    )

    @model_validator(mode="after")
    def _one_of_path_or_paths(self) -> DeleteConfig:
        if (self.path is None) == (self.paths is None):
            raise ValueError("exactly one of path or paths must be set")
        if self.paths is not None and any(not p for p in self.paths):
            raise ValueError("paths must not contain empty strings")
        return self


class FileWriteConfig(FileStepConfig):
    """Configuration of file-write."""

    path: str = Field(min_length=1, description="Path of the file to write.")
    contents: str = Field(description="The text to write.")
    permissions: str | None = Field(
        default=None,
        pattern=r"^0[0-7]{3}$",
        description="Octal file mode, e.g. `0644`. Defaults to `0600`.",
    )
    overwrite: bool = Field(default=False, description="Replace the file if it already exists.")


# ---------------------------------------------------------------------------------------------
# copy


def _plan_copy(
    work_dir: Path, src: Path, dst: Path, spec: pathspec.PathSpec[Any], out: str
) -> tuple[list[Path], list[tuple[Path, Path]]]:
    """The directories to create and the (source, target) files to copy for a directory `src`.

    Everything that would stop the copy half-way (a file where a directory goes, a directory
    where a file goes, a symlink leading out of the work directory) is refused here, before
    anything is written.
    """
    dirs: list[Path] = [dst]
    copies: list[tuple[Path, Path]] = []
    for root, subdirs, names in os.walk(src):
        root_path = Path(root)
        rel_root = root_path.relative_to(src)
        kept: list[str] = []
        for name in sorted(subdirs):
            rel = (rel_root / name).as_posix()
            if (root_path / name).is_symlink() or ignored(spec, rel, True):
                continue
            kept.append(name)
            dirs.append(dst / rel)
        subdirs[:] = kept
        for f in sorted(names):
            rel = (rel_root / f).as_posix()
            path = root_path / f
            if path.is_symlink() or not path.is_file() or ignored(spec, rel, False):
                continue
            copies.append((path, dst / rel))
    for d in dirs:
        where = workdir.display(work_dir, d)
        if os.path.lexists(d) and not d.is_dir():
            raise errors.TerminalStepError(
                f"cannot copy into outPath {out!r}: {where!r} is {workdir.describe(d)}, where "
                f"the copy needs a directory; delete it in an earlier step or choose another "
                f"outPath"
            )
        if d.is_symlink() and not workdir.is_inside(work_dir, d):
            raise errors.TerminalStepError(
                f"cannot copy into outPath {out!r}: {where!r} is a symbolic link leading "
                f"outside the work directory"
            )
    for _, target in copies:
        where = workdir.display(work_dir, target)
        if target.is_dir():
            raise errors.TerminalStepError(
                f"cannot copy into outPath {out!r}: {where!r} is a directory, where the copy "
                f"writes a file; delete it in an earlier step or choose another outPath"
            )
        if target.is_symlink() and not workdir.is_inside(work_dir, target):
            raise errors.TerminalStepError(
                f"cannot copy into outPath {out!r}: {where!r} is a symbolic link leading "
                f"outside the work directory"
            )
    return dirs, copies


def copy_tree(
    work_dir: Path, src: Path, dst: Path, spec: pathspec.PathSpec[Any], out: str = ""
) -> int:
    """Copy `src` (file or directory) to `dst`, skipping symlinks and ignored paths.

    Conflicts are found before the first write; returns the number of files copied.
    """
    out = out or workdir.display(work_dir, dst)
    workdir.check_parents(work_dir, dst, out)
    if src.is_file():
        if ignored(spec, src.name, False):
            return 0
        if dst.is_dir():
            raise errors.TerminalStepError(
                f"cannot copy a file onto the directory {out!r}; to copy it into that "
                f"directory, give its path there ({out.rstrip('/')}/{src.name})"
            )
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)
        return 1
    dirs, copies = _plan_copy(work_dir, src, dst, spec, out)
    for d in dirs:
        d.mkdir(parents=True, exist_ok=True)
    for path, target in copies:
        shutil.copy2(path, target)
    return len(copies)


async def copy(ctx: StepContext, cfg: CopyConfig) -> StepResult:
    """Copies a file or directory within the work directory."""
    src = workdir.resolve(ctx.work_dir, cfg.in_path)
    dst = workdir.resolve(ctx.work_dir, cfg.out_path)
    require(src, cfg.in_path, "inPath")
    real_src = Path(os.path.realpath(src))
    real_dst = Path(os.path.realpath(dst))
    if real_dst == real_src:
        raise errors.TerminalStepError(
            f"inPath {cfg.in_path!r} and outPath {cfg.out_path!r} are the same; a copy needs "
            f"another destination"
        )
    if src.is_dir() and real_src in real_dst.parents:
        # copying a directory into itself would copy the copy, again and again
        raise errors.TerminalStepError(
            f"outPath {cfg.out_path!r} is inside inPath {cfg.in_path!r}: a directory cannot be "
            f"copied into itself; choose an outPath outside {cfg.in_path!r}"
        )
    try:
        copy_tree(ctx.work_dir, src, dst, ignore_spec(cfg.ignore, always_git=True), cfg.out_path)
    except OSError as err:
        raise os_error(err, ctx.work_dir, f"error copying {cfg.in_path!r}") from err
    return StepResult()


# ---------------------------------------------------------------------------------------------
# delete


def _glob(work_dir: Path, pattern: str) -> list[str]:
    workdir.resolve(work_dir, pattern.replace("*", "_").replace("?", "_"))  # refuses escapes
    flags = wcglob.GLOBSTAR | wcglob.DOTGLOB | wcglob.BRACE
    found = wcglob.glob(pattern, flags=flags, root_dir=str(work_dir))
    # as copy skips it: a checkout's .git is never a step's to delete
    return sorted(m for m in found if workdir.GIT_METADATA not in PurePosixPath(m).parts)


def _remove(path: Path) -> None:
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path)


def _refuse_root(work_dir: Path, path: Path, target: str) -> None:
    if path == Path(os.path.realpath(work_dir)):
        raise errors.TerminalStepError(
            f"refusing to delete the work directory itself ({target!r} names it); "
            f"name what is inside it instead"
        )


async def delete(ctx: StepContext, cfg: DeleteConfig) -> StepResult:
    """Deletes files or directories (optionally by glob) in the work directory.

    Every path is checked (strict, the work directory itself) before the first is deleted.
    """
    targets = [cfg.path] if cfg.path is not None else list(cfg.paths or [])
    doomed: list[Path] = []
    for target in targets:
        if cfg.paths_are_globs:
            matches = _glob(ctx.work_dir, target)
            if not matches and cfg.strict:
                raise errors.TerminalStepError(
                    f"pattern {target!r} matched nothing (strict is set); fix the pattern or "
                    f"unset strict"
                )
            # deepest first, so a directory and its contents can both match
            for rel in sorted(matches, key=lambda m: -len(PurePosixPath(m).parts)):
                path = workdir.resolve(ctx.work_dir, rel)
                _refuse_root(ctx.work_dir, path, target)
                doomed.append(path)
            continue
        path = workdir.resolve(ctx.work_dir, target)
        if not os.path.lexists(path):
            if cfg.strict:
                raise errors.TerminalStepError(
                    f"path {target!r} does not exist (strict is set); fix the path or unset strict"
                )
            continue
        _refuse_root(ctx.work_dir, path, target)
        doomed.append(path)
    for path in doomed:
        try:
            if os.path.lexists(path):
                _remove(path)
        except OSError as err:
            raise os_error(err, ctx.work_dir, "error deleting") from err
    return StepResult()


# ---------------------------------------------------------------------------------------------
# file-write


async def file_write(ctx: StepContext, cfg: FileWriteConfig) -> StepResult:
    """Writes text to a file in the work directory."""
    path = workdir.resolve(ctx.work_dir, cfg.path)
    if path.is_dir():
        raise errors.TerminalStepError(
            f"path {cfg.path!r} is a directory; give the path of a file (inside it, or elsewhere)"
        )
    workdir.check_parents(ctx.work_dir, path, cfg.path)
    if os.path.lexists(path) and not cfg.overwrite:
        raise errors.TerminalStepError(
            f"file {cfg.path!r} already exists; set overwrite: true to replace it"
        )
    mode = int(cfg.permissions, 8) if cfg.permissions else 0o600
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8", newline="") as fh:
            fh.write(cfg.contents)
        path.chmod(mode)
    except OSError as err:
        raise os_error(err, ctx.work_dir, f"error writing {cfg.path!r}") from err
    return StepResult()


def register(registry: reg.StepRegistry) -> None:
    """Register copy, delete and file-write."""
    registry.step("copy", CopyConfig, paths=lambda c: [c.in_path, c.out_path])(copy)
    registry.step("delete", DeleteConfig, paths=_delete_paths)(delete)
    registry.step("file-write", FileWriteConfig, paths=lambda c: [c.path])(file_write)


def _delete_paths(cfg: DeleteConfig) -> list[str]:
    return [p for p in [cfg.path, *(cfg.paths or [])] if p]


DOCS = {
    "copy": {
        "about": "Copies a file or directory inside the work directory. Directories are merged "
        "into an existing destination; existing files are overwritten; symlinks and `.git` are "
        "skipped.",
        "example": {"inPath": "./src/manifests", "outPath": "./out", "ignore": "*.md\n"},
    },
    "delete": {
        "about": "Deletes files or directories. Missing paths are fine unless `strict` is set. "
        "With `pathsAreGlobs`, `**` matches across directories and dotfiles match too. A symlink "
        "is removed, never its target.",
        "example": {"paths": ["./out/**/*.bak"], "pathsAreGlobs": True},
    },
    "file-write": {
        "about": "Writes text (usually rendered from expressions) to a file, creating parent "
        "directories. An existing file is an error unless `overwrite` is set.",
        "example": {
            "path": "./out/VERSION",
            "contents": "${{ imageFrom(vars.imageRepo).Tag }}\n",
            "permissions": "0644",
        },
    },
}
