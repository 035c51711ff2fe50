"""The archives step family: tar and untar.

Every path goes through kargo.promotion.workdir.resolve, so neither step reads or writes outside
the promotion's work directory; untar also refuses archive entries that would escape (`..`,
absolute names, symlinks or hard links pointing out) or land inside a `.git`, and checks the
whole archive before writing its first entry. Ignore rules use .gitignore syntax.

Neighbours: kargo.promotion.steps.file_rules (shared with the files family),
kargo.promotion.workdir (safe paths), kargo.promotion.registry (registration).
"""

from __future__ import annotations

import gzip
import os
import secrets
import shutil
import stat
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pathspec
from pydantic import Field

from kargo import errors
from kargo.promotion import registry as reg, workdir
from kargo.promotion.context import StepContext, StepResult
from kargo.promotion.steps.file_rules import FileStepConfig, ignore_spec, ignored, os_error, require


class TarConfig(FileStepConfig):
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


class UntarConfig(FileStepConfig):
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
                if (root_path / d).is_symlink() or ignored(spec, rel, True):
                    continue
                kept.append(d)
                entries.append((root_path / d, f"{src.name}/{rel}"))
            dirs[:] = kept
            for f in sorted(files):
                rel = (rel_root / f).as_posix()
                path = root_path / f
                if path.is_symlink() or not path.is_file() or ignored(spec, rel, False):
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
    require(src, cfg.in_path, "inPath")
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
        raise os_error(err, ctx.work_dir, f"error archiving {cfg.in_path!r}") from err
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
        if ignored(spec, rel, member.isdir()):
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
    require(src, cfg.in_path, "inPath")
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
        raise os_error(err, ctx.work_dir, f"error extracting {cfg.in_path!r}") from err
    return StepResult()


def register(registry: reg.StepRegistry) -> None:
    """Register tar and untar."""
    registry.step("tar", TarConfig, paths=lambda c: [c.in_path, c.out_path])(tar)
    registry.step("untar", UntarConfig, paths=lambda c: [c.in_path, c.out_path])(untar)


DOCS = {
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
