"""A cache of local bare mirrors, one per normalised repository URL (and TLS setting), updated
by `git fetch`.

Discovery and promotion share one `MirrorCache` per process: the first user of a URL creates
its mirror (`git init --bare` plus a remote, no network), every later use only fetches what
changed, and a mirror is never re-cloned. Remote branches land in `refs/mirror/heads/*` and
remote tags in `refs/mirror/tags/*`, so nothing a promotion does locally (commits in worktrees,
a `git-tag`) can be confused with, or pruned by, what the server has.

A mirror first needed by discovery is blobless (`--filter=blob:none`): a fetch carries commits
and trees, and blobs arrive on demand. When the server refuses filtering the mirror falls back
to full fetches by itself and remembers it. A mirror first needed by a promotion starts
shallow instead (`--depth 1`, with the files of each branch tip): what a promotion needs is
the tip, and that costs no more than the cheapest `git clone` would; later fetches add only
new commits, and the first discovery of the repository deepens it to full history once.

A clone or subscription with `insecureSkipTLSVerify` gets a mirror of its own (the cache is
keyed by URL and that setting), whose config has `http.sslVerify false` so its worktrees (lazy
blob fetches, tag pushes) follow it; the normal mirror of the URL always verifies, so one
insecure user never switches verification off for anyone else. Both share `key` (the URL), so
pushes to one branch are serialised across them (`kargo.git.push` leases by `key`).

Each mirror has an asyncio lock: fetches and worktree bookkeeping on one URL run one at a time,
while different URLs proceed in parallel.

A crash can leave a mirror damaged. When this process first opens a mirror it rebuilds one that
is not a repository any more (no `HEAD`, or git says so; a warning is logged), and removes the
`*.lock` files a killed git process left in it, which would otherwise make every later command
on it fail. That is safe because a mirror is used by one process only (see `Mirror._claim`). Neighbours: `kargo.git.cli` runs the commands;
`kargo.discovery.git` and `kargo.promotion.steps.git` are the users.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import itertools
import logging
import os
import re
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kargo.api import urls
from kargo.git import cli

log = logging.getLogger(__name__)

#: Lock files older than this process were left by another one (see `Mirror._claim`).
_PROCESS_START = time.time()
_aside = itertools.count()

HEADS = "refs/mirror/heads/"
TAGS = "refs/mirror/tags/"
_USERINFO = re.compile(
    r"^(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^/@:\s]*)(:(?P<pw>[^/@\s]*))?@"
)


def normalize_url(url: str) -> str:
    """The mirror key of a repository URL: Kargo's NormalizeGit (case, `.git`, `/`, scp form)."""
    return urls.normalize_git(url)


@dataclass(frozen=True)
class _UrlCredentials:
    username: str
    password: str = field(repr=False)


def split_userinfo(url: str) -> tuple[str, cli.GitCredentials | None]:
    """Remove `user:pass@` from a URL; return the clean URL and those credentials, if any."""
    match = _USERINFO.match(url)
    if not match:
        return url, None
    clean = match.group("scheme") + url[match.end() :]
    return clean, _UrlCredentials(match.group("user") or "", match.group("pw") or "")


@dataclass(frozen=True)
class RemoteRefs:
    """What `git ls-remote --symref` reported: ref -> sha, and symbolic refs (HEAD -> branch)."""

    refs: dict[str, str]
    symrefs: dict[str, str]

    @property
    def default_branch(self) -> str | None:
        """The branch the remote HEAD points at (`main`), when the server says."""
        target = self.symrefs.get("HEAD", "")
        return target.removeprefix("refs/heads/") if target.startswith("refs/heads/") else None


def _parse_ls_remote(text: str) -> RemoteRefs:
    refs: dict[str, str] = {}
    symrefs: dict[str, str] = {}
    for line in text.splitlines():
        left, _, name = line.partition("\t")
        if not name:
            continue
        if left.startswith("ref: "):
            symrefs[name] = left[5:].strip()
        else:
            refs[name] = left.strip()
    return RemoteRefs(refs, symrefs)


async def ls_remote_refs(
    url: str,
    credentials: cli.GitCredentials | None = None,
    patterns: Sequence[str] = (),
    *,
    timeout: float = 60.0,
    insecure_skip_tls_verify: bool = False,
) -> RemoteRefs:
    """One `git ls-remote --symref` against `url` (patterns narrow it server-side)."""
    clean, from_url = split_userinfo(url)
    result = await cli.run_git(
        ["ls-remote", "--symref", clean, *patterns],
        cwd=None,
        credentials=credentials or from_url,
        env={"GIT_SSL_NO_VERIFY": "true"} if insecure_skip_tls_verify else None,
        timeout=timeout,
        url=clean,
    )
    return _parse_ls_remote(result.stdout)


async def ls_remote(url: str, credentials: cli.GitCredentials | None = None) -> dict[str, str]:
    """ref -> sha for every ref of the remote (`HEAD`, `refs/heads/*`, `refs/tags/*`...)."""
    return (await ls_remote_refs(url, credentials)).refs


def _config_quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _write_worktree_defaults(repo: Path) -> None:
    """The mirror's own per-worktree config: `core.bare` lives here, not in the shared config,
    which every worktree reads too once per-worktree configs are on."""
    (repo / "config.worktree").write_text("[core]\n\tbare = true\n")
    stale = repo / "info" / "sparse-checkout"  # `git worktree add` would copy it
    stale.unlink(missing_ok=True)


class Mirror:
    """One local bare mirror of a remote repository."""

    def __init__(
        self,
        url: str,
        key: str,
        path: Path,
        *,
        blobless: bool,
        shallow_start: bool = False,
        insecure_skip_tls_verify: bool = False,
    ) -> None:
        self.url, self._url_credentials = split_userinfo(url)
        self.key = key
        self.path = path
        if (path / "config").exists():  # an existing mirror keeps the mode it was made with
            blobless = "partialclonefilter" in (path / "config").read_text().lower()
        # a promotion's first fetch may be shallow (fetch(history=False))
        self.shallow_start = shallow_start
        self.lock = asyncio.Lock()
        # `git worktree add/prune` read every worktree's metadata, so one being created at the
        # same moment makes them fail ("failed to read worktrees/x/commondir"): one at a time.
        self.worktree_lock = asyncio.Lock()
        self.blobless = blobless
        self.fetches = 0
        self.default_branch: str | None = None  # remote HEAD's branch, learnt once
        self._requests: dict[tuple[str, ...], int] = {}  # single flight, per refspec list
        self._covered: dict[tuple[str, ...], int] = {}
        # fixed for the mirror's life: an insecure mirror is a separate directory (see get())
        self.insecure_skip_tls_verify = insecure_skip_tls_verify
        self._worktree_config = False
        self._tls_checked = False
        self._opened = False
        self._owner_fd: int | None = None  # holds the flock of `_claim` for the process's life

    async def enable_worktree_config(self) -> None:
        """Per-worktree configs (each worktree keeps its own sparse settings), set up once.

        Set here, under the lock, so that concurrent `git sparse-checkout` runs in different
        worktrees never race to write the shared config themselves (mirrors made by `ensure`
        have it from the start)."""
        if self._worktree_config:
            return
        async with self.lock:
            await self.ensure()
            current = await self.git(["config", "--get", "extensions.worktreeConfig"], check=False)
            if current.stdout.strip() != "true":  # a mirror made before worktree configs
                await self.git(["config", "core.repositoryformatversion", "1"])
                await self.git(["config", "extensions.worktreeConfig", "true"])
                await self.git(["config", "--unset", "core.bare"], check=False)
            _write_worktree_defaults(self.path)
        self._worktree_config = True

    def credentials(self, given: cli.GitCredentials | None) -> cli.GitCredentials | None:
        """Credentials to use: those given, else any that came in the URL's userinfo."""
        return given or self._url_credentials

    async def git(
        self,
        args: Sequence[str],
        credentials: cli.GitCredentials | None = None,
        *,
        check: bool = True,
        timeout: float = cli.DEFAULT_TIMEOUT,
    ) -> cli.GitResult:
        """Run git inside the mirror (credentials for lazy blob fetches)."""
        return await cli.run_git(
            args,
            cwd=self.path,
            credentials=self.credentials(credentials),
            env={"GIT_SSL_NO_VERIFY": "true"} if self.insecure_skip_tls_verify else None,
            check=check,
            timeout=timeout,
            url=self.url,
        )

    def _write_config(self, repo: Path) -> None:
        lines = [
            '[remote "origin"]',
            f"\turl = {_config_quote(self.url)}",
            f"\tfetch = +refs/heads/*:{HEADS}*",
            f"\tfetch = +refs/tags/*:{TAGS}*",
            "\ttagOpt = --no-tags",
        ]
        if self.blobless:
            lines += ["\tpromisor = true", "\tpartialclonefilter = blob:none"]
            lines += ["[extensions]", "\tpartialClone = origin"]
        if self.insecure_skip_tls_verify:
            lines += ["[http]", "\tsslVerify = false"]
        lines += ["[core]", "\trepositoryformatversion = 1"]
        lines += ["[extensions]", "\tworktreeConfig = true"]
        lines += ["[gc]", "\tauto = 0", "[advice]", "\tdetachedHead = false"]
        # With per-worktree configs, a `core.bare` in the shared config would make every
        # worktree bare too: it lives in the mirror's own config.worktree instead.
        config = repo / "config"
        kept = [ln for ln in config.read_text().splitlines() if ln.strip() != "bare = true"]
        config.write_text("\n".join([*kept, *lines]) + "\n")
        _write_worktree_defaults(repo)
        self._worktree_config = True

    async def ensure(self) -> None:
        """Create the mirror if it does not exist yet, without a network round trip.

        The caller holds `lock`. The repository is built under a temporary name and renamed,
        so a crash never leaves a half-configured mirror behind; one broken otherwise (an older
        version, a full disk, a hand edit) is rebuilt when this process first opens it.
        """
        if not self._opened:
            await self._open()
        if (self.path / "HEAD").exists():
            if not self._tls_checked:
                await self._correct_tls()
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():  # a broken mirror appeared since we opened it
            await self._set_aside("it has no HEAD")
        tmp = self.path.with_name(self.path.name + ".init")
        if tmp.exists():
            await asyncio.to_thread(shutil.rmtree, tmp)
        await cli.run_git(["init", "--quiet", "--bare", str(tmp)], cwd=self.path.parent)
        self._write_config(tmp)
        tmp.rename(self.path)
        self._tls_checked = True

    async def _open(self) -> None:
        """First use in this process: claim the mirror, rebuild it when broken, remove the lock
        files a killed process left."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        owned = await asyncio.to_thread(self._claim)
        if self.path.exists():
            problem = await self._broken()
            if problem is not None:
                await self._set_aside(problem)
            elif owned:
                await asyncio.to_thread(self._remove_stale_locks)
        self._opened = True

    def _claim(self) -> bool:
        """Take `<mirror>.owner`'s flock for the process's life; True when we got it.

        Mirrors are per process: each `MirrorCache` lives under its process's work root
        (`<work root>/.git-mirrors`; replicas and the preview engine have their own), and only
        that process runs git in them. This flock checks it rather than assuming it: the
        kernel drops it when the process dies, however it dies, so a lock file in a mirror we
        hold is either ours or a dead process's. A second process (or a second cache in this
        one) on the same directory does not get it and then never removes lock files there."""
        if self._owner_fd is not None:
            return True
        fd = os.open(self.path.with_name(self.path.name + ".owner"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            log.warning(
                "the git mirror %s is in use by another process: mirrors should not be shared "
                "(give each replica its own work root); its stale lock files are not removed",
                self.path,
            )
            return False
        self._owner_fd = fd
        cli.own_repository(self.path)
        return True

    def close(self) -> None:
        """Give up the claim on the mirror (another process, or cache, may then own it)."""
        if self._owner_fd is not None:
            cli.disown_repository(self.path)
            os.close(self._owner_fd)
            self._owner_fd = None
        self._opened = False

    async def _broken(self) -> str | None:
        """Why the mirror directory is not a usable repository, or None when it is.

        Git's own test (setup.c `is_git_directory`: a valid HEAD, `objects/` and `refs/`),
        made without a process: git would say "not a git repository" for exactly these."""
        head = self.path / "HEAD"
        if not head.is_file():
            return "it has no HEAD"
        text = await asyncio.to_thread(head.read_text, errors="replace")
        if not (text.startswith("ref: refs/") or re.match(r"[0-9a-f]{40}", text)):
            return "its HEAD is not valid: git says it is not a repository"
        for needed in ("objects", "refs"):
            if not (self.path / needed).is_dir():
                return f"it has no {needed}/: git says it is not a repository"
        return None

    async def _set_aside(self, problem: str) -> None:
        """Move a broken mirror out of the way and delete it; the next use builds it anew."""
        aside = self.path.with_name(f"{self.path.name}.broken-{os.getpid()}-{next(_aside)}")
        log.warning(
            "the git mirror %s of %s is broken (%s), probably by an interrupted process: "
            "rebuilding it",
            self.path,
            self.url,
            problem,
        )
        self.path.rename(aside)
        await asyncio.to_thread(shutil.rmtree, aside, True)
        self._tls_checked = False
        self._worktree_config = False

    def _remove_stale_locks(self) -> None:
        """Delete the `*.lock` files older than this process (refs, packed-refs, shallow,
        config, worktrees' index and HEAD): only a killed git process leaves them, and git
        refuses to work while they exist."""
        for current, dirs, files in os.walk(self.path):
            if current == str(self.path):
                dirs[:] = [d for d in dirs if d != "objects"]  # no lock files among the objects
            for name in files:
                if not name.endswith(".lock"):
                    continue
                lock = Path(current, name)
                with contextlib.suppress(OSError):
                    if lock.stat().st_mtime < _PROCESS_START:
                        lock.unlink()
                        log.warning(
                            "removed the stale lock file %s in the mirror %s (left by an "
                            "interrupted git process)",
                            lock.relative_to(self.path).as_posix(),
                            self.path,
                        )

    async def _correct_tls(self) -> None:
        """Make an existing mirror's `http.sslVerify` match what it is for, once per process.

        Older versions wrote `http.sslVerify false` into the one shared mirror of a URL after a
        single insecure clone, which then skipped verification for every later user: a normal
        mirror drops it here, and an insecure one gets it if it lacks it."""
        current = await self.git(["config", "--get-all", "http.sslVerify"], check=False)
        values = current.stdout.split()
        if self.insecure_skip_tls_verify:
            if values != ["false"]:
                await self.git(["config", "--replace-all", "http.sslVerify", "false"])
        elif values:
            await self.git(["config", "--unset-all", "http.sslVerify"])
        self._tls_checked = True

    async def _disable_blobless(self) -> None:
        self.blobless = False
        for key in ("remote.origin.promisor", "remote.origin.partialclonefilter"):
            await self.git(["config", "--unset", key], check=False)

    @property
    def shallow(self) -> bool:
        """True while the mirror holds only the newest commits (see `fetch(history=False)`)."""
        return (self.path / "shallow").exists()

    def _empty(self) -> bool:
        return (
            not (self.path / "refs" / "mirror").exists()
            and not (self.path / "packed-refs").exists()
        )

    async def fetch(
        self,
        credentials: cli.GitCredentials | None = None,
        refspecs: Sequence[str] = (),
        *,
        prune: bool | None = None,
        timeout: float = cli.DEFAULT_TIMEOUT,
        history: bool = True,
    ) -> None:
        """Bring the mirror up to date (all heads and tags, or just `refspecs`). Takes the lock.

        `prune` (default: only when fetching everything) drops refs the remote deleted, within
        the namespaces the refspecs name. `history=False` (promotions) lets the first fetch of
        a new mirror take only the newest commit of each ref (`--depth 1`): a promotion needs
        the tip, and later fetches add new commits on top. A caller that needs history
        (discovery: `history=True`, the default) deepens a shallow mirror in full once.

        Single flight: a fetch of the same refspecs that STARTED after this call arrived
        covers it, so callers queued behind one fetch share the next one."""
        key = tuple(refspecs)
        requested = self._requests.get(key, 0) + 1
        self._requests[key] = requested
        async with self.lock:
            if self._covered.get(key, 0) >= requested and not (history and self.shallow):
                return
            covered = self._requests[key]
            await self.fetch_locked(
                credentials, refspecs, prune=prune, timeout=timeout, history=history
            )
            self._covered[key] = covered

    async def fetch_locked(
        self,
        credentials: cli.GitCredentials | None = None,
        refspecs: Sequence[str] = (),
        *,
        prune: bool | None = None,
        timeout: float = cli.DEFAULT_TIMEOUT,
        history: bool = True,
    ) -> None:
        """`fetch` for a caller that already holds `lock`."""
        await self.ensure()
        base = ["fetch", "--quiet", "--no-tags", "--no-write-fetch-head"]
        if prune or (prune is None and not refspecs):
            base.append("--prune")
        if not history and self.shallow_start and self._empty():
            base += ["--depth", "1"]
        elif history and self.shallow:
            base.append("--unshallow")
        args = [*base, *(["--filter=blob:none"] if self.blobless else []), "origin", *refspecs]
        try:
            result = await self.git(args, credentials, timeout=timeout)
        except cli.GitError as err:
            if not self.blobless or "filter" not in err.stderr.lower():
                raise
            await self._disable_blobless()
            result = await self.git([*base, "origin", *refspecs], credentials, timeout=timeout)
        if self.blobless and "filtering not recognized by server" in result.stderr:
            await self._disable_blobless()  # git fell back to a full fetch; keep it that way
        self.fetches += 1

    async def fetch_commit(self, sha: str, credentials: cli.GitCredentials | None = None) -> None:
        """Fetch one commit by id (for checkouts of commits no branch or tag points at)."""
        async with self.lock:
            await self.ensure()
            filt = ["--filter=blob:none"] if self.blobless else []
            depth = ["--depth", "1"] if self.shallow else []  # the commit, not its history
            args = ["fetch", "--quiet", "--no-tags", "--no-write-fetch-head", *filt, *depth]
            await self.git(
                [*args, "origin", sha],
                credentials,
            )

    async def fetch_ref(self, refspec: str, credentials: cli.GitCredentials | None) -> bool:
        """Fetch one ref for a promotion (its tip only on a new mirror); False when the remote
        has no such ref, which the caller reports in its own words."""
        try:
            await self.fetch(credentials, [refspec], prune=False, history=False)
        except cli.GitError as err:
            if err.failure is not cli.GitFailure.NOT_FOUND:
                raise
            return False
        return True

    async def has_commit(self, rev: str) -> bool:
        """True when `rev` names a commit present in the mirror."""
        result = await self.git(["cat-file", "-e", f"{rev}^{{commit}}"], check=False)
        return result.ok

    async def rev_parse(self, rev: str) -> str | None:
        """The sha `rev` resolves to in the mirror, or None.

        A plain ref that git stored as a loose file (as fetch and update-ref write them) is
        read directly, without a process; anything else asks git."""
        if rev.startswith("refs/") and not any(c in rev for c in "^~:@\\") and ".." not in rev:
            try:
                text = (self.path / rev).read_text().strip()
            except (OSError, ValueError):
                text = ""
            if re.fullmatch(r"[0-9a-f]{40}([0-9a-f]{24})?", text):
                return text
        result = await self.git(["rev-parse", "--verify", "--quiet", rev], check=False)
        return result.stdout.strip() or None if result.ok else None

    async def ls_remote(
        self, credentials: cli.GitCredentials | None = None, patterns: Sequence[str] = ()
    ) -> RemoteRefs:
        """`git ls-remote --symref` of this mirror's remote."""
        return await ls_remote_refs(
            self.url,
            self.credentials(credentials),
            patterns,
            insecure_skip_tls_verify=self.insecure_skip_tls_verify,
        )


class MirrorCache:
    """One `Mirror` per normalised URL (and TLS setting) under `root`; one instance per process."""

    def __init__(self, root: Path | str, *, blobless: bool = True) -> None:
        self.root = Path(root)
        self.blobless = blobless
        self._mirrors: dict[tuple[str, bool], Mirror] = {}

    def get(
        self,
        url: str,
        *,
        blobless: bool | None = None,
        for_promotion: bool = False,
        insecure_skip_tls_verify: bool = False,
    ) -> Mirror:
        """The mirror for `url` (created lazily on first fetch; no I/O here).

        A mirror first needed by a promotion (`for_promotion`) starts as a shallow copy of the
        branch tips with their files (no blob filter: a checkout then never waits for blobs);
        one first needed by discovery starts blobless with full history.

        `insecure_skip_tls_verify` selects a separate mirror of the URL that accepts any
        certificate, so that setting applies to its own users only."""
        clean, _ = split_userinfo(url)
        key = normalize_url(clean)
        mirror = self._mirrors.get((key, insecure_skip_tls_verify))
        if mirror is None:
            digest = hashlib.sha256(key.encode()).hexdigest()[:24]
            slug = re.sub(r"[^a-zA-Z0-9._-]+", "-", key.rsplit("/", 1)[-1])[:40] or "repo"
            suffix = "-insecure" if insecure_skip_tls_verify else ""
            mirror = Mirror(
                url,
                key,
                self.root / f"{slug}-{digest}{suffix}.git",
                blobless=False
                if for_promotion
                else self.blobless
                if blobless is None
                else blobless,
                shallow_start=for_promotion,
                insecure_skip_tls_verify=insecure_skip_tls_verify,
            )
            self._mirrors[(key, insecure_skip_tls_verify)] = mirror
        elif mirror._url_credentials is None:
            mirror._url_credentials = split_userinfo(url)[1]
        return mirror

    async def ls_remote(
        self,
        url: str,
        credentials: cli.GitCredentials | None = None,
        *,
        insecure_skip_tls_verify: bool = False,
    ) -> dict[str, str]:
        """ref -> sha of the remote at `url` (one `git ls-remote`)."""
        mirror = self.get(url, insecure_skip_tls_verify=insecure_skip_tls_verify)
        return (await mirror.ls_remote(credentials)).refs

    def close(self) -> None:
        """Release every mirror's claim (a process's caches otherwise hold them until exit)."""
        for mirror in self._mirrors.values():
            mirror.close()

    def __len__(self) -> int:
        return len(self._mirrors)
