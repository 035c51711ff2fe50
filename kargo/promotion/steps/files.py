"""The files step family: copy, delete, file-write, tar and untar.

Every path goes through kargo.promotion.workdir.resolve, so no step here reads or writes outside
the promotion's work directory; untar additionally refuses archive entries that would escape
(`..`, absolute names, symlinks or hard links pointing out). Ignore rules use .gitignore syntax
(pathspec's GitIgnoreSpec) and, as in Kargo's copy, always skip `.git`.

Neighbours: kargo.promotion.workdir (safe paths), kargo.promotion.registry (registration).
"""

from __future__ import annotations

import errno
import gzip
import os
import secrets
import shutil
import stat
import tarfile
import zlib
from dataclasses import dataclass
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
        raise errors.TerminalStepError(
            f"{what} {user!r} does not exist in the work directory; check the path (it is "
            f"relative to the work directory) and that an earlier step created it"
        )


# OS errors a retry may fix (a full disk, a busy file); anything else is terminal
_RETRYABLE = {
    errno.ENOSPC,
    errno.EDQUOT,
    errno.EIO,
    errno.EAGAIN,
    errno.EBUSY,
    errno.ENOMEM,
    errno.EMFILE,
    errno.ENFILE,
}


def _os_error(err: OSError, work_dir: Path, doing: str) -> errors.StepError:
    """An OSError the checks made up front could not foresee, naming the path involved (relative
    to the work directory, so temporary directories stay out of messages)."""
    where = ""
    if err.filename:
        where = f" ({workdir.display(work_dir, Path(os.fsdecode(err.filename)))})"
    message = f"{doing}: {err.strerror or err}{where}"
    if err.errno in _RETRYABLE:
        return errors.StepError(message)
    return errors.TerminalStepError(message)


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
            if (root_path / name).is_symlink() or _ignored(spec, rel, True):
                continue
            kept.append(name)
            dirs.append(dst / rel)
        subdirs[:] = kept
        for f in sorted(names):
            rel = (rel_root / f).as_posix()
            path = root_path / f
            if path.is_symlink() or not path.is_file() or _ignored(spec, rel, False):
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
        if _ignored(spec, src.name, False):
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
    _require(src, cfg.in_path, "inPath")
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
        raise _os_error(err, ctx.work_dir, f"error copying {cfg.in_path!r}") from err
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
            raise _os_error(err, ctx.work_dir, "error deleting") from err
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
        raise _os_error(err, ctx.work_dir, f"error writing {cfg.path!r}") from err
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
    """Archive `src` into `out`; entries are named under `src`'s own name. Returns the count.

    The archive is written to a temporary file beside `out` and renamed over it at the end, so
    a failure leaves neither a half-written archive nor the temporary file behind.
    """
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
    tmp = out.with_name(f".{out.name}.{secrets.token_hex(4)}.kargo-tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as raw:
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
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return len(entries)


async def tar(ctx: StepContext, cfg: TarConfig) -> StepResult:
    """Archives a file or directory into a (gzipped) tar file."""
    src = workdir.resolve(ctx.work_dir, cfg.in_path)
    out = workdir.resolve(ctx.work_dir, cfg.out_path)
    _require(src, cfg.in_path, "inPath")
    if out.is_dir():
        raise errors.TerminalStepError(
            f"outPath {cfg.out_path!r} is a directory; give the archive's file path, for "
            f"example {cfg.out_path.rstrip('/')}/{src.name}.tgz"
        )
    if os.path.realpath(out) == os.path.realpath(src):
        raise errors.TerminalStepError(
            f"outPath {cfg.out_path!r} is inPath {cfg.in_path!r}; the archive needs another path"
        )
    workdir.check_parents(ctx.work_dir, out, cfg.out_path)
    try:
        write_tar(src, out, ignore_spec(cfg.ignore, always_git=False), compress=cfg.gzip)
    except OSError as err:
        raise _os_error(err, ctx.work_dir, f"error archiving {cfg.in_path!r}") from err
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


@dataclass(frozen=True)
class _Entry:
    """An archive member to extract, with where it goes."""

    member: tarfile.TarInfo
    parts: list[str]
    target: Path
    link_source: Path | None = None  # for a hard link: the extracted file it copies


def _disk_kind(path: Path) -> str | None:
    if not os.path.lexists(path):
        return None
    if path.is_symlink():
        return "link"
    return "dir" if path.is_dir() else "file"


def _plan_untar(
    members: list[tarfile.TarInfo], root: Path, spec: pathspec.PathSpec[Any], strip: int
) -> list[_Entry]:
    """The members to extract, every one checked before the first is written: entries that
    would escape, write into a .git, or need a directory where a file is (or the reverse)."""
    planned: dict[tuple[str, ...], str] = {}  # what earlier entries put there

    def kind(parts: list[str]) -> str | None:
        return planned.get(tuple(parts)) or _disk_kind(root.joinpath(*parts))

    plan: list[_Entry] = []
    for member in members:
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
        if not (member.isdir() or member.isfile() or member.issym() or member.islnk()):
            continue  # devices, fifos: never extracted
        target = root.joinpath(*parts)
        for depth in range(1, len(parts)):
            above = kind(parts[:depth])
            if above == "link":
                break  # where it leads is checked as the entry is written
            if above == "file":
                raise errors.TerminalStepError(
                    f"archive entry {member.name!r} needs {'/'.join(parts[:depth])!r} to be a "
                    f"directory, but it is a file"
                )
        here = kind(parts)
        if member.isdir() and here == "file":
            raise errors.TerminalStepError(
                f"archive entry {member.name!r} is a directory, but {rel!r} is a file"
            )
        if not member.isdir() and here == "dir":
            raise errors.TerminalStepError(
                f"archive entry {member.name!r} is a file, but {rel!r} is a directory"
            )
        source: Path | None = None
        if member.issym() and not _link_inside(root, target.parent, member.linkname):
            raise errors.TerminalStepError(
                f"archive entry {member.name!r} is a symbolic link to "
                f"{member.linkname!r}, outside the output directory; refusing it"
            )
        if member.islnk():
            link_parts = _entry_parts(tarfile.TarInfo(member.linkname))
            if len(link_parts) <= strip:
                raise errors.TerminalStepError(
                    f"archive entry {member.name!r} is a hard link to {member.linkname!r}, "
                    f"outside the extracted tree; refusing it"
                )
            if planned.get(tuple(link_parts[strip:])) != "file":
                raise errors.TerminalStepError(
                    f"archive entry {member.name!r} is a hard link to {member.linkname!r}, "
                    f"which is not a file extracted before it"
                )
            source = root.joinpath(*link_parts[strip:])
        planned[tuple(parts)] = "dir" if member.isdir() else "link" if member.issym() else "file"
        plan.append(_Entry(member, parts, target, source))
    return plan


def extract_tar(archive: Path, out: Path, spec: pathspec.PathSpec[Any], strip: int) -> int:
    """Extract `archive` into `out`, refusing entries that would escape. Returns the count.

    Every entry is checked before the first is written, so a refused archive leaves nothing
    behind.
    """
    with archive.open("rb") as fh:
        compressed = fh.read(2) == b"\x1f\x8b"
    mode = "r:gz" if compressed else "r:"
    root = Path(os.path.realpath(out))
    try:
        tf = tarfile.open(archive, mode)  # noqa: SIM115 - closed below
    except (tarfile.TarError, OSError, EOFError, zlib.error) as err:
        raise errors.TerminalStepError(f"cannot read the archive: {err}") from err
    with tf:
        try:
            members = tf.getmembers()
        except (tarfile.TarError, OSError, EOFError, zlib.error) as err:
            raise errors.TerminalStepError(f"cannot read the archive: {err}") from err
        plan = _plan_untar(members, root, spec, strip)
        root.mkdir(parents=True, exist_ok=True)
        count = 0
        for entry in plan:
            member, target = entry.member, entry.target
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
                target.symlink_to(member.linkname)
            elif entry.link_source is not None:
                source = entry.link_source
                if not workdir.is_inside(root, source) or not source.is_file():
                    raise errors.TerminalStepError(
                        f"archive entry {member.name!r} is a hard link to {member.linkname!r}, "
                        f"which is not a file extracted inside the output directory"
                    )
                shutil.copy2(source, target)
            else:
                data = tf.extractfile(member)
                if data is None:
                    continue
                with data, target.open("wb") as dst:
                    shutil.copyfileobj(data, dst)
                target.chmod((member.mode & 0o777) | 0o600)
            count += 1
    return count


async def untar(ctx: StepContext, cfg: UntarConfig) -> StepResult:
    """Extracts a (gzipped) tar file into a directory."""
    src = workdir.resolve(ctx.work_dir, cfg.in_path)
    out = workdir.resolve(ctx.work_dir, cfg.out_path)
    _require(src, cfg.in_path, "inPath")
    if not src.is_file():
        raise errors.TerminalStepError(
            f"inPath {cfg.in_path!r} is {workdir.describe(src)}, not a tar file"
        )
    if os.path.lexists(out) and not out.is_dir():
        raise errors.TerminalStepError(
            f"outPath {cfg.out_path!r} is {workdir.describe(out)}; untar extracts into a "
            f"directory: delete it in an earlier step or choose another outPath"
        )
    workdir.check_parents(ctx.work_dir, out, cfg.out_path)
    try:
        extract_tar(src, out, ignore_spec(cfg.ignore, always_git=False), cfg.strip_components or 0)
    except errors.TerminalStepError as err:
        raise errors.TerminalStepError(f"error extracting {cfg.in_path!r}: {err.message}") from err
    except OSError as err:
        raise _os_error(err, ctx.work_dir, f"error extracting {cfg.in_path!r}") from err
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
