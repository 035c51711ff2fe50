"""Run the `git` CLI as an asyncio subprocess, with credentials kept out of argv and URLs.

Credentials reach git only through GIT_ASKPASS: a small shell script, written for each git
command that has credentials into a private 0700 directory (`kargo-askpass-<pid>-*`) and removed
when the command ends however it ends (success, failure, timeout, cancellation), prints the
username or the password from environment variables that only the child git process receives.
The script holds no secret. Directories left by a process that was killed are removed by the
next process that needs one. Git never prompts (GIT_TERMINAL_PROMPT=0), other credential helpers
are switched off for the call, and every message built from git's output is redacted of the
secret and of `user:pass@` in URLs.

A lock file (`*.lock`) that a killed git process left in a repository makes every later git
command touching it fail; such a failure is reported as `GitFailure.LOCKED`, naming the file.
In a repository this process owns (`own_repository`: a mirror, see `kargo.git.mirror`) a lock
file older than a minute that no running git command of ours can hold is removed and the
command run once more.

Failures raise `GitError`, whose message says what failed and how to fix it, e.g.
`authentication failed for https://host/repo.git: check the git credentials for this repoURL`.
Neighbours: `kargo.git.mirror` (the mirror cache) builds on this; discovery and promotion steps
turn `GitError` into `DiscoveryError` / `StepError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shutil
import signal
import stat
import sys
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
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

log = logging.getLogger(__name__)

ASKPASS_PREFIX = "kargo-askpass-"
#: A lock file at least this old, in a repository we own, is stale once no git of ours runs there.
STALE_LOCK_AGE = 60.0
_askpass_swept = False

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
    LOCKED = "locked"  # a `*.lock` file in the local repository, left by an interrupted git
    CERTIFICATE = "certificate"  # the server's TLS certificate is not trusted
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


@contextlib.contextmanager
def askpass_helper() -> Iterator[Path]:
    """A GIT_ASKPASS helper for one git command, in a private 0700 directory removed on exit.

    One per command rather than one per process: a process killed with SIGKILL runs no exit
    handler, so a per-process directory would outlive it; per command, only the commands
    running at that moment leave one, and `_sweep_askpass_dirs` removes those later."""
    _sweep_askpass_dirs()
    directory = Path(tempfile.mkdtemp(prefix=f"{ASKPASS_PREFIX}{os.getpid()}-"))
    try:
        directory.chmod(stat.S_IRWXU)
        path = directory / "askpass.sh"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o700)
        with os.fdopen(fd, "w") as out:
            out.write(_ASKPASS_SCRIPT)
        yield path
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _sweep_askpass_dirs() -> None:
    """Once per process: remove the helper directories of our processes that are gone (a kill
    leaves the directories of the commands then running; they hold no secret, only clutter)."""
    global _askpass_swept
    if _askpass_swept:
        return
    _askpass_swept = True
    root = Path(tempfile.gettempdir())
    limit = time.time() - STALE_LOCK_AGE
    with contextlib.suppress(OSError):
        for entry in os.scandir(root):
            pid_text = entry.name.removeprefix(ASKPASS_PREFIX).partition("-")[0]
            if not entry.name.startswith(ASKPASS_PREFIX) or not pid_text.isdigit():
                continue
            with contextlib.suppress(OSError):
                info = entry.stat(follow_symlinks=False)
                if info.st_uid != os.getuid() or info.st_mtime > limit:
                    continue
                if _alive(int(pid_text)):
                    continue
                shutil.rmtree(entry.path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
    credentials: GitCredentials | None,
    extra: Mapping[str, str] | None = None,
    *,
    askpass: Path | None = None,
) -> dict[str, str]:
    """The environment of one git process: never prompt, credentials only via `askpass`
    (an `askpass_helper()`, required when there are credentials)."""
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
    if credentials is not None and needs_askpass(credentials):
        if askpass is None:
            raise ValueError("credentials need an askpass helper: pass askpass=askpass_helper()")
        env["GIT_ASKPASS"] = str(askpass)
        env["KARGO_GIT_USERNAME"] = credentials.username
        env["KARGO_GIT_PASSWORD"] = credentials.password
    else:
        env["GIT_ASKPASS"] = "/bin/false"
    env.update(extra or {})
    return env


def needs_askpass(credentials: GitCredentials | None) -> bool:
    """Whether git gets these credentials through an askpass helper (there is something to say)."""
    return credentials is not None and bool(credentials.username or credentials.password)


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


_LOCK_PATTERNS = (
    re.compile(r"unable to create '(?P<path>[^']+\.lock)': file exists", re.IGNORECASE),
    re.compile(r"could not lock config file (?P<path>.+?): file exists", re.IGNORECASE),
)


def lock_file(stderr: str) -> str | None:
    """The lock file a local git command found already there, when that is why it failed.

    A remote's own lock trouble (`remote: ...`, `! [remote rejected] ...`) is the server's."""
    for line in stderr.splitlines():
        low = line.lstrip().lower()
        if low.startswith("remote:") or "[remote rejected]" in low:
            continue
        for pattern in _LOCK_PATTERNS:
            match = pattern.search(line)
            if match:
                path = match.group("path")
                return path if path.endswith(".lock") else path + ".lock"
    return None


def classify(stderr: str) -> GitFailure:
    """Guess why git failed from its (English, LC_ALL=C) error output."""
    if lock_file(stderr) is not None:  # before REJECTED: "cannot lock ref" is no remote change
        return GitFailure.LOCKED
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
            "ssl certificate problem",
            "server certificate verification failed",
            "certificate verify failed",
            "self-signed certificate",
            "self signed certificate",
        )
    ):
        return GitFailure.CERTIFICATE
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
    if failure is GitFailure.LOCKED:
        return f"git found a lock file in the local copy of {where} ({detail})"
    if failure is GitFailure.CERTIFICATE:
        return (
            f"the TLS certificate of {where} is not trusted ({detail}): give the git server a "
            "certificate from a CA this host trusts, or set insecureSkipTLSVerify: true on the "
            "git-clone step or Warehouse subscription that uses it (it then applies to that "
            "clone or subscription only)"
        )
    return f"git failed for {where}: {detail}"


def describe_lock(url: str, lock: Path, repository: Path | None) -> str:
    """The user-facing message of a LOCKED failure: which lock file, why it is there, what to do."""
    where = strip_userinfo(url) if url else "the repository"
    name = lock.relative_to(repository).as_posix() if repository is not None else lock.name
    place = f"in the mirror {repository}" if repository is not None else f"at {lock}"
    return (
        f"git cannot lock {where}: the lock file {name} {place} already exists, left by an "
        "interrupted git process (killed or crashed); Kargo removes it once it is more than "
        f"{int(STALE_LOCK_AGE)} seconds old and no git command of its own runs there, so retry "
        "in a minute, or delete that file if no git process is running"
    )


def _last_lines(text: str, n: int = 3) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return "; ".join(lines[-n:]) if lines else "no output"


_before_git: list[Callable[[], None]] = []


def before_git(hook: Callable[[], None]) -> None:
    """Call `hook` before every git process (`kargo.git.objects` writes out the objects it
    holds in memory, since git reads only what is on disk)."""
    _before_git.append(hook)


_owned: set[Path] = set()
_running: Counter[Path] = Counter()  # cwd -> git commands of ours running there now


def own_repository(path: Path) -> None:
    """Declare that only this process runs git in the repository at `path` (its mirror), so a
    stale lock file there can only be a dead process's (see `kargo.git.mirror`)."""
    _owned.add(path.absolute())


def disown_repository(path: Path) -> None:
    """Undo `own_repository` (the repository is being removed)."""
    _owned.discard(path.absolute())


def repository_root(start: Path) -> Path | None:
    """The repository (common git dir) `start` lies in: the nearest directory with `HEAD` and
    `objects/`; a worktree's `.git` file leads to its mirror."""
    dotgit = start / ".git"
    with contextlib.suppress(OSError, ValueError):
        if dotgit.is_file():
            text = dotgit.read_text().strip()
            if text.startswith("gitdir:"):
                private = Path(text[len("gitdir:") :].strip())
                common = (private / "commondir").read_text().strip()
                return Path(os.path.normpath(private / common))
    for directory in (start, *start.parents):
        if (directory / "objects").is_dir() and (directory / "HEAD").is_file():
            return directory
    return None


def _remove_stale_lock(lock: Path) -> bool:
    """Remove `lock` when it is surely stale: in a repository we own, older than a minute, and
    no git command of ours is running in that repository now."""
    root = repository_root(lock.parent)
    if root is None or root.absolute() not in _owned:
        return False
    try:
        age = time.time() - lock.stat().st_mtime
    except OSError:
        return False
    if age < STALE_LOCK_AGE:
        return False
    if any(n and repository_root(cwd) == root for cwd, n in _running.items()):
        return False
    with contextlib.suppress(FileNotFoundError):
        lock.unlink()
    log.warning(
        "removed the stale lock file %s in the mirror %s (left by an interrupted git process)",
        lock.relative_to(root).as_posix(),
        root,
    )
    return True


def _lock_path(stderr: str, cwd: Path | str | None) -> Path | None:
    found = lock_file(stderr)
    if found is None:
        return None
    path = Path(found)
    if not path.is_absolute():
        path = Path(cwd or ".").absolute() / path
    return path


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
    result = await _run_once(args, cwd, credentials, env, timeout, url, stdin, secrets)
    lock = None if result.ok else _lock_path(result.stderr, cwd)
    if lock is not None and await asyncio.to_thread(_remove_stale_lock, lock):
        result = await _run_once(args, cwd, credentials, env, timeout, url, stdin, secrets)
        lock = None if result.ok else _lock_path(result.stderr, cwd)
    if check and not result.ok:
        failure = classify(result.stderr)
        detail = f"git {_subcommand(args)}: {_last_lines(result.stderr or result.stdout)}"
        message = describe_failure(failure, url, detail)
        if lock is not None:
            message = describe_lock(url, lock, repository_root(lock.parent))
        raise GitError(message, failure=failure, stderr=result.stderr, returncode=result.returncode)
    return result


async def _run_once(
    args: Sequence[str],
    cwd: Path | str | None,
    credentials: GitCredentials | None,
    env: Mapping[str, str] | None,
    timeout: float,
    url: str,
    stdin: bytes | None,
    secrets: Sequence[str],
) -> GitResult:
    """One git process; its askpass helper (if any) is removed whatever happens to it."""
    COMMAND_COUNTS[_subcommand(args)] += 1
    for hook in _before_git:
        hook()
    use_pidfd_child_watcher()
    where = Path(cwd).absolute() if cwd is not None else Path.cwd()
    with contextlib.ExitStack() as stack:
        askpass = stack.enter_context(askpass_helper()) if needs_askpass(credentials) else None
        _running[where] += 1
        stack.callback(_done_running, where)
        proc = await asyncio.create_subprocess_exec(
            "git",
            *args,
            cwd=str(cwd) if cwd is not None else None,
            env=git_environment(credentials, env, askpass=askpass),
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            # its own process group: a timeout kills git's helpers too (git-remote-http holds
            # the pipes open, so killing git alone would leave us waiting for a stalled server)
            start_new_session=True,
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(stdin), timeout)
        except TimeoutError:
            _kill_group(proc.pid)
            await _reap(proc)
            raise GitError(
                describe_failure(GitFailure.TIMEOUT, url, ""), failure=GitFailure.TIMEOUT
            ) from None
        except asyncio.CancelledError:
            _kill_group(proc.pid)
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(_reap(proc))
            raise
    return GitResult(
        args=tuple(args),
        returncode=proc.returncode if proc.returncode is not None else -1,
        stdout=redact(out.decode(errors="replace"), secrets),
        stderr=redact(err.decode(errors="replace"), secrets),
    )


async def _reap(proc: asyncio.subprocess.Process) -> None:
    """Wait for a killed git to exit and its pipes to close, so that no subprocess transport
    outlives it (one left to the garbage collector fails once its event loop is closed)."""
    with contextlib.suppress(Exception):
        await asyncio.wait_for(proc.communicate(), 10)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _done_running(where: Path) -> None:
    _running[where] -= 1
    if _running[where] <= 0:
        del _running[where]
