"""What the files and archives step families share: their config base, .gitignore-style
ignore rules, the check that a path exists, and the mapping of OS errors to step errors.

Not a family itself (the families stay independent of each other; see .importlinter).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pathspec
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from kargo import errors
from kargo.promotion import workdir


class FileStepConfig(BaseModel):
    """Config base of the file steps: Kargo's camelCase field names, unknown fields refused."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, alias_generator=to_camel)


def ignore_spec(rules: str | None, *, always_git: bool) -> pathspec.PathSpec[Any]:
    """A .gitignore matcher from multiline `rules` (comments and blank lines allowed)."""
    lines = [".git"] if always_git else []
    lines += [
        line for line in (rules or "").splitlines() if line.strip() and not line.startswith("#")
    ]
    return pathspec.GitIgnoreSpec.from_lines(lines)


def ignored(spec: pathspec.PathSpec[Any], rel: str, is_dir: bool) -> bool:
    """Whether `rel` (a directory when `is_dir`) matches the ignore rules."""
    return bool(spec.match_file(rel + "/" if is_dir else rel))


def require(path: Path, user: str, what: str) -> None:
    """Refuse a path the step needs that does not exist, naming it as the user wrote it."""
    if not os.path.lexists(path):
        raise errors.TerminalStepError(
            f"{what} {user!r} does not exist in the work directory; check the path (it is "
            f"relative to the work directory) and that an earlier step created it"
        )


# OS errors a retry may fix (a full disk, a busy file); anything else is terminal
RETRYABLE = {
    errno.ENOSPC,
    errno.EDQUOT,
    errno.EIO,
    errno.EAGAIN,
    errno.EBUSY,
    errno.ENOMEM,
    errno.EMFILE,
    errno.ENFILE,
}


def os_error(err: OSError, work_dir: Path, doing: str) -> errors.StepError:
    """An OSError the checks made up front could not foresee, naming the path involved (relative
    to the work directory, so temporary directories stay out of messages)."""
    where = ""
    if err.filename:
        where = f" ({workdir.display(work_dir, Path(os.fsdecode(err.filename)))})"
    message = f"{doing}: {err.strerror or err}{where}"
    if err.errno in RETRYABLE:
        return errors.StepError(message)
    return errors.TerminalStepError(message)
