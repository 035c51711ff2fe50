"""The files step family: copy, delete, file-write, tar and untar.

Every path goes through kargo.promotion.workdir.resolve, so no step here reads or writes outside
the promotion's work directory; untar additionally refuses archive entries that would escape
(`..`, absolute names, symlinks or hard links pointing out). Ignore rules use .gitignore syntax
(pathspec's GitIgnoreSpec) and, as in Kargo's copy, always skip `.git`.

Neighbours: kargo.promotion.workdir (safe paths), kargo.promotion.registry (registration).
"""

from __future__ import annotations

import gzip
import os
import shutil
import stat
import tarfile
from pathlib import Path, PurePosixPath
from typing import Any

import pathspec
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel
from wcmatch import glob as wcglob

from kargo import errors
from kargo.promotion import registry as reg, workdir
from kargo.promotion.context import StepContext, StepResult


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, alias_generator=to_camel)


class CopyConfig(_Config):
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


class DeleteConfig(_Config):
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


class FileWriteConfig(_Config):
    """Configuration of file-write."""

    path: str = Field(min_length=1, description="Path of the file to write.")
    contents: str = Field(description="The text to write.")
    permissions: str | None = Field(
        default=None,
        pattern=r"^0[0-7]{3}$",
        description="Octal file mode, e.g. `0644`. Defaults to `0600`.",
    )
    overwrite: bool = Field(default=False, description="Replace the file if it already exists.")


class TarConfig(_Config):
    """Configuration of tar."""

    in_path: str = Field(min_length=1, description="Path of the file or directory to archive.")
    out_path: str = Field(
        min_length=1, description="Path of the archive to create; an existing one is replaced."
    )
    ignore: str | None = Field(
        default=None,
        min_length=1,
        description="Patterns to leave out, one per line, in .gitignore syntax.",
    )
    gzip: bool = Field(default=True, description="Compress the archive with gzip.")


class UntarConfig(_Config):
    """Configuration of untar."""

    in_path: str = Field(
        min_length=1, description="Path of the tar file (gzip is detected) to extract."
    )
    out_path: str = Field(
        min_length=1,
        description="Directory to extract into; existing files there are overwritten.",
    )
    strip_components: int | None = Field(
        default=None,
        ge=0,
        description="Leading path components to strip from entry names, like tar "
        "--strip-components.",
    )
    ignore: str | None = Field(
        default=None,
        description="Patterns of entries to skip, one per line, in .gitignore syntax.",
    )


# ---------------------------------------------------------------------------------------------
# helpers


def ignore_spec(rules: str | None, *, always_git: bool) -> pathspec.PathSpec[Any]:
    """A .gitignore matcher from multiline `rules` (comments and blank lines allowed)."""
    lines = [".git"] if always_git else []
    lines += [
        line for line in (rules or "").splitlines() if line.strip() and not line.startswith("#")
    ]
    return pathspec.GitIgnoreSpec.from_lines(lines)


def _ignored(spec: pathspec.PathSpec[Any], rel: str, is_dir: bool) -> bool:
    return bool(spec.match_file(rel + "/" if is_dir else rel))


def _require(path: Path, user: str, what: str) -> None:
    if not os.path.lexists(path):
        raise errors.StepError(f"{what} {user!r} does not exist in the work directory")


# ---------------------------------------------------------------------------------------------
# copy


def copy_tree(src: Path, dst: Path, spec: pathspec.PathSpec[Any]) -> int:
    """Copy `src` (file or directory) to `dst`, skipping symlinks and ignored paths."""
    if src.is_file():
        if _ignored(spec, src.name, False):
            return 0
        if dst.is_dir():
            raise errors.StepError(f"cannot copy a file onto the directory {dst.name!r}")
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)
        return 1
    count = 0
    dst.mkdir(parents=True, exist_ok=True)
    for root, dirs, files in os.walk(src):
        root_path = Path(root)
        rel_root = root_path.relative_to(src)
        kept: list[str] = []
        for d in sorted(dirs):
            rel = (rel_root / d).as_posix()
            if (root_path / d).is_symlink() or _ignored(spec, rel, True):
                continue
            kept.append(d)
            (dst / rel).mkdir(parents=True, exist_ok=True)
        dirs[:] = kept
        for f in sorted(files):
            rel = (rel_root / f).as_posix()
            path = root_path / f
            if path.is_symlink() or not path.is_file() or _ignored(spec, rel, False):
                continue
            target = dst / rel
            if target.is_dir():
                raise errors.StepError(f"cannot copy file {rel!r} onto a directory")
            shutil.copy2(path, target)
            count += 1
    return count


async def copy(ctx: StepContext, cfg: CopyConfig) -> StepResult:
    """Copies a file or directory within the work directory."""
    src = workdir.resolve(ctx.work_dir, cfg.in_path)
    dst = workdir.resolve(ctx.work_dir, cfg.out_path)
    _require(src, cfg.in_path, "inPath")
    copy_tree(src, dst, ignore_spec(cfg.ignore, always_git=True))
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


async def delete(ctx: StepContext, cfg: DeleteConfig) -> StepResult:
    """Deletes files or directories (optionally by glob) in the work directory."""
    targets = [cfg.path] if cfg.path is not None else list(cfg.paths or [])
    for target in targets:
        if cfg.paths_are_globs:
            matches = _glob(ctx.work_dir, target)
            if not matches and cfg.strict:
                raise errors.StepError(f"pattern {target!r} matched nothing (strict is set)")
            # deepest first, so a directory and its contents can both match
            for rel in sorted(matches, key=lambda m: -len(PurePosixPath(m).parts)):
                path = workdir.resolve(ctx.work_dir, rel)
                if os.path.lexists(path):
                    _remove(path)
            continue
        path = workdir.resolve(ctx.work_dir, target)
        if not os.path.lexists(path):
            if cfg.strict:
                raise errors.StepError(f"path {target!r} does not exist (strict is set)")
            continue
        if path == Path(os.path.realpath(ctx.work_dir)):
            raise errors.TerminalStepError("refusing to delete the work directory itself")
        _remove(path)
    return StepResult()


# ---------------------------------------------------------------------------------------------
# file-write


async def file_write(ctx: StepContext, cfg: FileWriteConfig) -> StepResult:
    """Writes text to a file in the work directory."""
    path = workdir.resolve(ctx.work_dir, cfg.path)
    if path.is_dir():
        raise errors.TerminalStepError(f"path {cfg.path!r} is a directory")
    if os.path.lexists(path) and not cfg.overwrite:
        raise errors.TerminalStepError(
            f"file {cfg.path!r} already exists; set overwrite: true to replace it"
        )
    mode = int(cfg.permissions, 8) if cfg.permissions else 0o600
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write(cfg.contents)
    path.chmod(mode)
    return StepResult()


# ---------------------------------------------------------------------------------------------
# tar


def _tarinfo(path: Path, name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    st = path.stat()
    info.mode = stat.S_IMODE(st.st_mode)
    info.mtime = 0  # reproducible archives: same inputs, same bytes
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if path.is_dir():
        info.type = tarfile.DIRTYPE
    else:
        info.size = st.st_size
    return info


def write_tar(src: Path, out: Path, spec: pathspec.PathSpec[Any], *, compress: bool) -> int:
    """Archive `src` into `out`; entries are named under `src`'s own name. Returns the count."""
    entries: list[tuple[Path, str]] = []
    if src.is_file():
        entries.append((src, src.name))
    else:
        entries.append((src, src.name))
        for root, dirs, files in os.walk(src):
            root_path = Path(root)
            rel_root = root_path.relative_to(src)
            kept = []
            for d in sorted(dirs):
                rel = (rel_root / d).as_posix()
                if (root_path / d).is_symlink() or _ignored(spec, rel, True):
                    continue
                kept.append(d)
                entries.append((root_path / d, f"{src.name}/{rel}"))
            dirs[:] = kept
            for f in sorted(files):
                rel = (rel_root / f).as_posix()
                path = root_path / f
                if path.is_symlink() or not path.is_file() or _ignored(spec, rel, False):
                    continue
                if path.resolve() == out.resolve():
                    continue
                entries.append((path, f"{src.name}/{rel}"))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".kargo-tmp")
    with tmp.open("wb") as raw:
        stream: Any = (
            gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) if compress else raw
        )
        try:
            with tarfile.open(fileobj=stream, mode="w", format=tarfile.PAX_FORMAT) as tar:
                for path, name in entries:
                    info = _tarinfo(path, name)
                    if info.isdir():
                        tar.addfile(info)
                    else:
                        with path.open("rb") as fh:
                            tar.addfile(info, fh)
        finally:
            if compress:
                stream.close()
    tmp.replace(out)
    return len(entries)


async def tar(ctx: StepContext, cfg: TarConfig) -> StepResult:
    """Archives a file or directory into a (gzipped) tar file."""
    src = workdir.resolve(ctx.work_dir, cfg.in_path)
    out = workdir.resolve(ctx.work_dir, cfg.out_path)
    _require(src, cfg.in_path, "inPath")
    write_tar(src, out, ignore_spec(cfg.ignore, always_git=False), compress=cfg.gzip)
    return StepResult()


# ---------------------------------------------------------------------------------------------
# untar


def _entry_parts(member: tarfile.TarInfo) -> list[str]:
    name = member.name.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise errors.TerminalStepError(
            f"archive entry {member.name!r} has an absolute path; refusing to extract it"
        )
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise errors.TerminalStepError(
            f"archive entry {member.name!r} would escape the output directory ('..')"
        )
    return parts


def _link_inside(root: Path, link_dir: Path, target: str) -> bool:
    if os.path.isabs(target):
        return False
    joined = os.path.normpath(os.path.join(link_dir, target))
    return joined == str(root) or joined.startswith(str(root) + os.sep)


def extract_tar(archive: Path, out: Path, spec: pathspec.PathSpec[Any], strip: int) -> int:
    """Extract `archive` into `out`, refusing entries that would escape. Returns the count."""
    with archive.open("rb") as fh:
        compressed = fh.read(2) == b"\x1f\x8b"
    mode = "r:gz" if compressed else "r:"
    root = Path(os.path.realpath(out))
    count = 0
    try:
        tf = tarfile.open(archive, mode)  # noqa: SIM115 - closed below
    except (tarfile.TarError, OSError) as err:
        raise errors.TerminalStepError(f"cannot read the archive: {err}") from err
    with tf:
        root.mkdir(parents=True, exist_ok=True)
        for member in tf:
            parts = _entry_parts(member)
            if len(parts) <= strip:
                continue
            parts = parts[strip:]
            rel = "/".join(parts)
            if _ignored(spec, rel, member.isdir()):
                continue
            if workdir.GIT_METADATA in parts:
                raise errors.TerminalStepError(
                    f"archive entry {member.name!r} is inside a .git, which no step may write "
                    f"(it names where git writes); add `.git` to ignore to leave it out"
                )
            target = root.joinpath(*parts)
            if not workdir.is_inside(root, target.parent):
                raise errors.TerminalStepError(
                    f"archive entry {member.name!r} would be written through a symbolic link "
                    f"that leads outside the output directory"
                )
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            if os.path.lexists(target) and (target.is_symlink() or not target.is_dir()):
                target.unlink()
            if member.issym():
                if not _link_inside(root, target.parent, member.linkname):
                    raise errors.TerminalStepError(
                        f"archive entry {member.name!r} is a symbolic link to "
                        f"{member.linkname!r}, outside the output directory; refusing it"
                    )
                target.symlink_to(member.linkname)
            elif member.islnk():
                link_parts = _entry_parts(tarfile.TarInfo(member.linkname))
                if len(link_parts) <= strip:
                    raise errors.TerminalStepError(
                        f"archive entry {member.name!r} is a hard link to {member.linkname!r}, "
                        f"outside the extracted tree; refusing it"
                    )
                source = root.joinpath(*link_parts[strip:])
                if not workdir.is_inside(root, source) or not source.is_file():
                    raise errors.TerminalStepError(
                        f"archive entry {member.name!r} is a hard link to {member.linkname!r}, "
                        f"which is not a file extracted inside the output directory"
                    )
                shutil.copy2(source, target)
            elif member.isfile():
                data = tf.extractfile(member)
                if data is None:
                    continue
                with data, target.open("wb") as dst:
                    shutil.copyfileobj(data, dst)
                target.chmod((member.mode & 0o777) | 0o600)
            else:
                continue  # devices, fifos: never extracted
            count += 1
    return count


async def untar(ctx: StepContext, cfg: UntarConfig) -> StepResult:
    """Extracts a (gzipped) tar file into a directory."""
    src = workdir.resolve(ctx.work_dir, cfg.in_path)
    out = workdir.resolve(ctx.work_dir, cfg.out_path)
    _require(src, cfg.in_path, "inPath")
    try:
        extract_tar(src, out, ignore_spec(cfg.ignore, always_git=False), cfg.strip_components or 0)
    except errors.TerminalStepError as err:
        raise errors.TerminalStepError(f"error extracting {cfg.in_path!r}: {err.message}") from err
    return StepResult()


def register(registry: reg.StepRegistry) -> None:
    """Register copy, delete, file-write, tar and untar."""
    registry.step("copy", CopyConfig, paths=lambda c: [c.in_path, c.out_path])(copy)
    registry.step("delete", DeleteConfig, paths=_delete_paths)(delete)
    registry.step("file-write", FileWriteConfig, paths=lambda c: [c.path])(file_write)
    registry.step("tar", TarConfig, paths=lambda c: [c.in_path, c.out_path])(tar)
    registry.step("untar", UntarConfig, paths=lambda c: [c.in_path, c.out_path])(untar)


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
    "tar": {
        "about": "Archives a file or directory (entries are named under its own name). Archives "
        "are reproducible: entries are sorted and carry no timestamps or owners.",
        "example": {"inPath": "./out/chart", "outPath": "./dist/chart.tgz"},
    },
    "untar": {
        "about": "Extracts a tar file (gzip is detected) into a directory. Entries that would "
        "escape it (`..`, absolute names, symlinks or hard links pointing outside) make the step "
        "fail, as do entries inside a `.git` (add `.git` to `ignore` to leave them out); devices "
        "and FIFOs are never extracted.",
        "example": {"inPath": "./dist/chart.tgz", "outPath": "./charts", "stripComponents": 1},
    },
}
