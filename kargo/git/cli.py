"""Run the `git` CLI as an asyncio subprocess, with credentials kept out of argv and URLs.

Credentials reach git only through GIT_ASKPASS: one small shell script, written once per process
into a private 0700 directory, prints the username or the password from environment variables
that only the child git process receives. The script holds no secret. Git never prompts
(GIT_TERMINAL_PROMPT=0), other credential helpers are switched off for the call, and every
message built from git's output is redacted of the secret and of `user:pass@` in URLs.

Failures raise `GitError`, whose message says what failed and how to fix it, e.g.
`authentication failed for https://host/repo.git: check the git credentials for this repoURL`.
Neighbours: `kargo.git.mirror` (the mirror cache) builds on this; discovery and promotion steps
turn `GitError` into `DiscoveryError` / `StepError`.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import re
import shutil
import stat
import sys
import tempfile
import threading
import warnings
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from kargo import errors

DEFAULT_TIMEOUT = 300.0

_ASKPASS_SCRIPT = """#!/bin/sh
# Kargo's GIT_ASKPASS helper: answers git's prompts from variables set for this git process only.
case "$1" in
  Username*|username*) printf '%s\\n' "$KARGO_GIT_USERNAME" ;;
  *) printf '%s\\n' "$KARGO_GIT_PASSWORD" ;;
esac
"""

_askpass_lock = threading.Lock()
_askpass_path: Path | None = None

#: How many git commands of each kind this process ran (benchmarks and tests read it).
COMMAND_COUNTS: Counter[str] = Counter()


class GitCredentials(Protocol):
    """What git needs of a credential (kargo.credentials.interface.Credentials fits)."""

    @property
    def username(self) -> str:
        """The user name, may be empty for token-only servers."""
        ...

    @property
    def password(self) -> str:
        """The password or token."""
        ...


class GitFailure(StrEnum):
    """Why a git command failed, as far as its output tells."""

    AUTHENTICATION = "authentication"
    NOT_FOUND = "not-found"
    UNREACHABLE = "unreachable"
    REJECTED = "rejected"  # a push the remote refused because it moved (non-fast-forward)
    CONFLICT = "conflict"
    TIMEOUT = "timeout"
    OTHER = "other"


class GitError(errors.KargoError):
    """A git command failed; `failure` classifies it, `stderr` is already redacted."""

    reason = "GitFailed"
    http_status = 502

    def __init__(
        self, message: str, *, failure: GitFailure, stderr: str = "", returncode: int = -1
    ) -> None:
        super().__init__(message)
        self.failure = failure
        self.stderr = stderr
        self.returncode = returncode


@dataclass(frozen=True)
class GitResult:
    """A finished git command: redacted output and its exit code."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        """True when git exited 0."""
        return self.returncode == 0


_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+@")


def redact(text: str, secrets: Sequence[str] = ()) -> str:
    """Remove every secret and the userinfo of every URL from `text`."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    return _USERINFO.sub(lambda m: m.group("scheme"), text)


def strip_userinfo(url: str) -> str:
    """`https://user:pw@host/x` -> `https://host/x` (URLs we show or store never carry it)."""
    return _USERINFO.sub(lambda m: m.group("scheme"), url)


def askpass_script() -> Path:
    """The GIT_ASKPASS helper, created once per process in a private 0700 directory."""
    global _askpass_path
    with _askpass_lock:
        if _askpass_path is not None and _askpass_path.exists():
            return _askpass_path
        directory = Path(tempfile.mkdtemp(prefix="kargo-askpass-"))
        directory.chmod(stat.S_IRWXU)
        path = directory / "askpass.sh"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o700)
        with os.fdopen(fd, "w") as out:
            out.write(_ASKPASS_SCRIPT)
        _askpass_path = path
        atexit.register(shutil.rmtree, directory, True)  # leave no helper dir behind
        return path


class _PidfdWatcher(asyncio.AbstractChildWatcher):
    """Python 3.12's child watcher for 3.11: each child's pidfd is polled by the event loop
    that started it (any loop, any thread) instead of a thread per child calling waitpid."""

    def __init__(self) -> None:
        self._callbacks: dict[int, tuple[asyncio.AbstractEventLoop, int, Any, tuple[Any, ...]]]
        self._callbacks = {}

    def __enter__(self) -> _PidfdWatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def is_active(self) -> bool:
        return True

    def close(self) -> None:
        return None

    def attach_loop(self, loop: asyncio.AbstractEventLoop | None) -> None:
        del loop  # each child is watched by the loop that started it

    def add_child_handler(self, pid: int, callback: Any, *args: Any) -> None:  # type: ignore[override]
        loop = asyncio.get_running_loop()
        pidfd = os.pidfd_open(pid)
        self._callbacks[pid] = (loop, pidfd, callback, args)
        loop.add_reader(pidfd, self._reap, pid)

    def remove_child_handler(self, pid: int) -> bool:
        entry = self._callbacks.pop(pid, None)
        if entry is None:
            return False
        loop, pidfd, _, _ = entry
        loop.remove_reader(pidfd)
        os.close(pidfd)
        return True

    def _reap(self, pid: int) -> None:
        loop, pidfd, callback, args = self._callbacks.pop(pid)
        loop.remove_reader(pidfd)
        os.close(pidfd)
        try:
            _, status = os.waitpid(pid, 0)
            code = os.waitstatus_to_exitcode(status)
        except ChildProcessError:
            code = 255  # reaped elsewhere
        callback(pid, code, *args)


_watcher_checked = False


def use_pidfd_child_watcher() -> None:
    """On Python 3.11, wait for child processes with pidfds instead of a thread per child.

    asyncio's default watcher there starts one thread per subprocess to `waitpid` it; with
    hundreds of git commands in flight that thread churn costs more than the commands. Set
    once, when the kernel supports pidfds and no other watcher was chosen explicitly (Python
    3.12 does the same by itself)."""
    global _watcher_checked
    if _watcher_checked:
        return
    _watcher_checked = True
    if sys.version_info >= (3, 12) or not hasattr(os, "pidfd_open"):
        return
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError:
        return
    policy = asyncio.get_event_loop_policy()
    if not isinstance(policy, asyncio.DefaultEventLoopPolicy):
        return  # another loop implementation (uvloop) watches its children itself
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        current = getattr(policy, "_watcher", None)
        if current is None or type(current).__name__ == "ThreadedChildWatcher":
            with contextlib.suppress(NotImplementedError):
                asyncio.set_child_watcher(_PidfdWatcher())


def git_environment(
    credentials: GitCredentials | None, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment of one git process: never prompt, credentials only via askpass."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "KARGO_GIT_"))}
    env.update(
        {
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_CONFIG_NOSYSTEM": "1",
            "LC_ALL": "C",
            # no helper of the user or system may answer (or store) for us
            "GIT_CONFIG_COUNT": "2",
            "GIT_CONFIG_KEY_0": "credential.helper",
            "GIT_CONFIG_VALUE_0": "",
            "GIT_CONFIG_KEY_1": "core.askPass",
            "GIT_CONFIG_VALUE_1": "",
        }
    )
    env.pop("SSH_ASKPASS", None)
    if credentials is not None and (credentials.username or credentials.password):
        env["GIT_ASKPASS"] = str(askpass_script())
        env["KARGO_GIT_USERNAME"] = credentials.username
        env["KARGO_GIT_PASSWORD"] = credentials.password
    else:
        env["GIT_ASKPASS"] = "/bin/false"
    env.update(extra or {})
    return env


def _subcommand(args: Sequence[str]) -> str:
    skip_next = False
    for arg in args:
        if skip_next:
            skip_next = False
            continue
        if arg in ("-c", "-C"):
            skip_next = True
            continue
        if not arg.startswith("-"):
            return arg
    return "git"


def classify(stderr: str) -> GitFailure:
    """Guess why git failed from its (English, LC_ALL=C) error output."""
    low = stderr.lower()
    if any(
        s in low
        for s in (
            "authentication failed",
            "could not read username",
            "could not read password",
            "terminal prompts disabled",
            "http basic: access denied",
            "the requested url returned error: 401",
            "the requested url returned error: 403",
        )
    ):
        return GitFailure.AUTHENTICATION
    if any(
        s in low
        for s in (
            "could not resolve host",
            "failed to connect",
            "connection refused",
            "couldn't connect",
            "connection timed out",
            "network is unreachable",
            "empty reply from server",
        )
    ):
        return GitFailure.UNREACHABLE
    if any(
        s in low
        for s in (
            "[rejected]",
            "non-fast-forward",
            "fetch first",
            "stale info",
            "failed to update ref",
            "cannot lock ref",
        )
    ):
        return GitFailure.REJECTED
    if "conflict" in low:
        return GitFailure.CONFLICT
    if any(
        s in low
        for s in (
            "not found",
            "does not appear to be a git repository",
            "returned error: 404",
            "couldn't find remote ref",
        )
    ):
        return GitFailure.NOT_FOUND
    return GitFailure.OTHER


def describe_failure(failure: GitFailure, url: str, detail: str) -> str:
    """The user-facing message: what failed, for which (redacted) URL, how to fix it."""
    where = strip_userinfo(url) if url else "the repository"
    if failure is GitFailure.AUTHENTICATION:
        return f"authentication failed for {where}: check the git credentials for this repoURL"
    if failure is GitFailure.UNREACHABLE:
        return f"cannot reach {where}: check the repoURL and that the git server is up ({detail})"
    if failure is GitFailure.NOT_FOUND:
        return f"not found at {where}: check the repoURL, branch, tag or commit ({detail})"
    if failure is GitFailure.TIMEOUT:
        return f"git timed out talking to {where}: the server is slow or unreachable; retry later"
    if failure is GitFailure.REJECTED:
        return f"push to {where} was rejected because the remote changed ({detail})"
    if failure is GitFailure.CONFLICT:
        return f"git found conflicting changes in {where} ({detail})"
    return f"git failed for {where}: {detail}"


def _last_lines(text: str, n: int = 3) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return "; ".join(lines[-n:]) if lines else "no output"


_before_git: list[Callable[[], None]] = []


def before_git(hook: Callable[[], None]) -> None:
    """Call `hook` before every git process (`kargo.git.objects` writes out the objects it
    holds in memory, since git reads only what is on disk)."""
    _before_git.append(hook)


async def run_git(
    args: Sequence[str],
    *,
    cwd: Path | str | None,
    credentials: GitCredentials | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    check: bool = True,
    url: str = "",
    stdin: bytes | None = None,
) -> GitResult:
    """Run `git <args>` in `cwd`; raise GitError (redacted, with a fix) unless `check=False`.

    `url` names the repository in error messages (userinfo is stripped).
    """
    secrets = [credentials.password] if credentials is not None and credentials.password else []
    for arg in args:  # the contract: a secret never travels in argv
        if any(s and s in arg for s in secrets):
            raise ValueError("refusing to pass a credential in git's argv; use `credentials=`")
    COMMAND_COUNTS[_subcommand(args)] += 1
    for hook in _before_git:
        hook()
    use_pidfd_child_watcher()
    proc = await asyncio.create_subprocess_exec(
        "git",
        *args,
        cwd=str(cwd) if cwd is not None else None,
        env=git_environment(credentials, env),
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin), timeout)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise GitError(
            describe_failure(GitFailure.TIMEOUT, url, ""), failure=GitFailure.TIMEOUT
        ) from None
    except asyncio.CancelledError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        raise
    result = GitResult(
        args=tuple(args),
        returncode=proc.returncode if proc.returncode is not None else -1,
        stdout=redact(out.decode(errors="replace"), secrets),
        stderr=redact(err.decode(errors="replace"), secrets),
    )
    if check and not result.ok:
        failure = classify(result.stderr)
        detail = f"git {_subcommand(args)}: {_last_lines(result.stderr or result.stdout)}"
        raise GitError(
            describe_failure(failure, url, detail),
            failure=failure,
            stderr=result.stderr,
            returncode=result.returncode,
        )
    return result
