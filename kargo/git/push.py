"""Pushes to one repository branch, serialised and coalesced, with Kargo's integration policies.

Every push to a (mirror, branch) goes through one `_Lane`: an asyncio lock in this process and,
when a store is given, a lease (`Store.try_acquire_lease`) shared by every replica. Requests
that arrive while a push is in flight wait together and are then carried by ONE push: the
lane fetches the branch once, integrates each waiting promotion's commits on top of the
previous one's (all worktrees share the mirror's object store, so this moves no data), pushes
the final tip once, and hands each promotion its own commit sha. A request whose commits
cannot be integrated fails alone; the others still land.

When the remote moved, commits are integrated by policy (Kargo's GIT_PUSH_INTEGRATION_POLICY):
`None` (fail), `AlwaysRebase`, `RebaseOrMerge` (default), `RebaseOrFail`, `AlwaysMerge`. The
two "RebaseOr" policies rebase only when it is safe: every commit to rebase is signed by the
checkout's signing key and signing is on, or every one is unsigned and signing is off; a rebase
of signed commits re-signs them with that key. A rebase or merge that conflicts fails the push
(a conflict needs a person, as in Kargo). A push the remote rejects because it moved again is
retried, up to the request's `max_attempts`. Force pushes, tag pushes and the first commit of
a branch git-clone creates (`create_branch`) take the same lock but are never coalesced. The cross-replica lease is renewed every third of its time-to-live while
the push runs, so that a slow push keeps it.

Group commit: git-clone tells the coordinator which checkouts will probably push to a lane soon
(`PushCoordinator.expect`). A lane about to push while some of those have not asked yet lingers
a little, as a database's group commit does, so that a wave of promotions started together is
carried by (nearly) one push instead of the first one pushing alone. It stops lingering as soon
as every expected checkout has asked (or is gone: its directory was removed, or it is older
than `expectation_ttl`), when no request arrived for `gap` seconds, or after `max_linger`. With
nothing expected (a single promotion) there is no delay at all; force and tag pushes never
linger.

Neighbours: `kargo.git.worktree` (the checkouts), `kargo.promotion.steps.git` (git-push).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

import pygit2

from kargo import clock as clocks
from kargo.git import (
    cli,
    lazy,
    mirror as mirrors,
    objects,
    replay as replays,
    worktree as worktrees,
)

log = logging.getLogger(__name__)


class IntegrationPolicy(StrEnum):
    """How a push integrates commits when the remote branch has moved."""

    NONE = "None"
    ALWAYS_REBASE = "AlwaysRebase"
    REBASE_OR_MERGE = "RebaseOrMerge"
    REBASE_OR_FAIL = "RebaseOrFail"
    ALWAYS_MERGE = "AlwaysMerge"


POLICY_ENV = "GIT_PUSH_INTEGRATION_POLICY"  # Kargo's name for the operator's setting


def parse_policy(value: str, *, where: str = POLICY_ENV) -> IntegrationPolicy:
    """The policy named `value`; a ValueError naming `where` and the allowed values if none is.

    Shared by the server's settings and the controllers, so both refuse the same values with
    the same words."""
    try:
        return IntegrationPolicy(value.strip())
    except ValueError:
        allowed = ", ".join(p.value for p in IntegrationPolicy)
        raise ValueError(
            f"{where}={value!r} is not a git push integration policy; use one of {allowed} "
            f"(default {IntegrationPolicy.REBASE_OR_MERGE.value})"
        ) from None


class LeaseStore(Protocol):
    """What a push needs of `kargo.store.interface.Store`: a lease shared by all replicas."""

    async def try_acquire_lease(self, name: str, holder: str, ttl_seconds: float) -> bool:
        """Take or renew the lease; True when `holder` holds it."""
        ...

    async def release_lease(self, name: str, holder: str) -> None:
        """Give the lease up."""
        ...


class PushRejected(cli.GitError):
    """This request's commits could not be integrated (conflict, or policy None)."""


@dataclass
class PushRequest:
    """One promotion's push of its worktree's HEAD to `branch`."""

    worktree: Path
    mirror: mirrors.Mirror
    branch: str
    credentials: cli.GitCredentials | None = None
    identity: worktrees.Identity = field(
        default_factory=lambda: worktrees.Identity("Kargo", "no-reply@kargo.local")
    )
    policy: IntegrationPolicy = IntegrationPolicy.REBASE_OR_MERGE
    max_attempts: int = 10
    force: bool = False
    leases: LeaseStore | None = None
    future: asyncio.Future[str] | None = None
    commit: replays.CommitInfo | None = None  # read before queueing, for the batch replay


@dataclass
class _Expectation:
    since: float  # when git-clone announced it, in clock seconds
    alive: Path  # the expectation ends when this directory is gone


@dataclass
class _Lane:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    pending: list[PushRequest] = field(default_factory=list)
    # checkouts expected to push here soon, oldest first
    expected: dict[Path, _Expectation] = field(default_factory=dict)
    arrival: asyncio.Event = field(default_factory=asyncio.Event)  # set by every request
    last_arrival: float = 0.0
    last_liveness_check: float = float("-inf")


@dataclass
class PushStats:
    """Counters for tests and benchmarks: pushes done vs requests carried."""

    pushes: int = 0
    requests: int = 0
    batches: list[int] = field(default_factory=list)


class PushCoordinator:
    """Serialises and coalesces pushes per (mirror, branch). One per process (per event loop).

    `gap`, `max_linger` and `expectation_ttl` (seconds) tune group commit (see `expect`);
    `clock` is what lingering reads and sleeps on (a `ManualClock` in tests)."""

    def __init__(
        self,
        *,
        lease_ttl: float = 120.0,
        holder: str | None = None,
        gap: float = 0.05,
        max_linger: float = 1.0,
        expectation_ttl: float = 60.0,
        clock: clocks.Clock | None = None,
    ) -> None:
        self._lanes: dict[tuple[str, str], _Lane] = {}
        self.lease_ttl = lease_ttl
        self.holder = holder or f"{os.uname().nodename}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.gap = gap
        self.max_linger = max_linger
        self.expectation_ttl = expectation_ttl
        self.clock: clocks.Clock = clock or clocks.SystemClock()
        self.stats = PushStats()

    def _lane(self, key: tuple[str, str]) -> _Lane:
        return self._lanes.setdefault(key, _Lane())

    def _now(self) -> float:
        return self.clock.now().timestamp()

    def expect(
        self, mirror: mirrors.Mirror, branch: str, worktree: Path, *, work_dir: Path | None = None
    ) -> None:
        """Note that the checkout `worktree` of `branch` will probably push to that branch soon.

        Called by git-clone for each branch it checks out. A push to the branch lingers (up to
        `max_linger`, while requests keep arriving less than `gap` apart) until every expected
        checkout has asked, so that they share one push. The expectation ends when a push
        request for `worktree` arrives on the branch, when `work_dir` (default: `worktree`)
        no longer exists (the promotion ended and its work dir was removed), or after
        `expectation_ttl`; an expected promotion that never pushes there costs at most `gap`.
        Pass the promotion's work dir as `work_dir` to announce a checkout before it exists
        (at the start of git-clone, while the mirror is still fetching)."""
        if not branch:
            return
        lane = self._lane((str(mirror.path), "branch:" + branch))
        now = self._now()
        path = _normal(worktree)
        lane.expected.pop(path, None)  # keep the dict in time order
        lane.expected[path] = _Expectation(now, _normal(work_dir) if work_dir else path)
        for old, known in list(lane.expected.items()):  # forget stale ones, oldest first
            if now - known.since <= self.expectation_ttl:
                break
            del lane.expected[old]

    def expected(self, mirror: mirrors.Mirror, branch: str) -> list[Path]:
        """The checkouts still expected to push to `branch` (for tests and diagnostics)."""
        lane = self._lanes.get((str(mirror.path), "branch:" + branch))
        return list(lane.expected) if lane else []

    async def push(self, request: PushRequest) -> str:
        """Push the request's HEAD to its branch; returns the commit now on the branch for it."""
        lane = self._lane((str(request.mirror.path), "branch:" + request.branch))
        request.future = asyncio.get_running_loop().create_future()
        lane.pending.append(request)  # first come, first served
        self.stats.requests += 1
        lane.expected.pop(_normal(request.worktree), None)
        lane.last_arrival = self._now()
        lane.arrival.set()
        try:
            async with lane.lock:
                if not request.future.done():
                    if not request.force:
                        await self._linger(lane)
                    await self._carry(lane, request)
        except BaseException:
            # cancelled (or the lease timed out) before any push took this request
            lane.pending = [r for r in lane.pending if r is not request]
            raise
        return await request.future

    async def _linger(self, lane: _Lane) -> None:
        """Group commit: wait while expected checkouts keep arriving (see `expect`)."""
        start = self._now()
        first = True
        while lane.expected:
            now = self._now()
            self._forget_gone(lane, now, look=first)
            first = False
            deadline = min(lane.last_arrival + self.gap, start + self.max_linger)
            if not lane.expected or now >= deadline:
                return
            lane.arrival.clear()
            await self._wait(lane.arrival, deadline - now)

    def _forget_gone(self, lane: _Lane, now: float, *, look: bool = False) -> None:
        """Drop expectations that can no longer arrive: asked already, removed, or too old.

        Looked at when a linger starts and then once per `gap`, not at every arrival (each
        arrival removes its own expectation): a wave of N promotions would otherwise go over
        N expectations, and stat N work dirs, N times."""
        look = look or now - lane.last_liveness_check >= self.gap
        if not look:
            return  # an arrival already took its own expectation away (see `push`)
        lane.last_liveness_check = now
        asked = {_normal(r.worktree) for r in lane.pending}
        for path, known in list(lane.expected.items()):
            stale = now - known.since > self.expectation_ttl
            if path in asked or stale or not known.alive.exists():
                del lane.expected[path]

    async def _wait(self, event: asyncio.Event, seconds: float) -> None:
        """Until `event` is set or `seconds` of the coordinator's clock have passed."""
        waiter = asyncio.ensure_future(event.wait())
        sleeper = asyncio.ensure_future(self.clock.sleep(seconds))
        try:
            await asyncio.wait({waiter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            sleeper.cancel()

    async def _carry(self, lane: _Lane, request: PushRequest) -> None:
        """Take the waiting requests (once the lease is held) and push them as one batch."""
        batch: list[PushRequest] = []

        async def work() -> None:
            if request.force:
                batch.append(request)
            else:
                batch.extend(r for r in lane.pending if not r.force)
            taken = {id(r) for r in batch}
            lane.pending = [r for r in lane.pending if id(r) not in taken]
            await self._process(batch)

        try:
            await self._with_lease(request, work)
        except BaseException as err:  # every other promotion of the batch learns why
            failure = (
                err
                if isinstance(err, Exception)
                else cli.GitError(
                    f"the push carrying this promotion to {request.mirror.url} branch "
                    f"{request.branch} was interrupted; retry the promotion",
                    failure=cli.GitFailure.OTHER,
                )
            )
            for r in batch:
                if r is not request and r.future is not None and not r.future.done():
                    r.future.set_exception(failure)
            own = request.future
            if own is not None and own.done() and not own.cancelled():
                own.exception()  # mark it retrieved: the caller gets `err` instead
            raise

    async def push_tag(self, request: PushRequest, tag: str) -> None:
        """Push a tag made by `git-tag` (never coalesced, never forced unless asked)."""
        lane = self._lane((str(request.mirror.path), "tag:" + tag))

        async def _push() -> None:
            force = ["--force"] if request.force else []
            await worktrees.run(
                request.worktree,
                [
                    "push",
                    "--quiet",
                    *force,
                    "origin",
                    f"{worktrees.TAG_NAMESPACE}{tag}:refs/tags/{tag}",
                ],
                request.credentials,
                url=request.mirror.url,
            )
            self.stats.pushes += 1

        async with lane.lock:
            await self._with_lease(request, _push)

    async def create_branch(
        self,
        mirror: mirrors.Mirror,
        branch: str,
        commit: str,
        credentials: cli.GitCredentials | None = None,
    ) -> str:
        """Push `commit` as the new `branch` (git-clone's `create`); returns the commit the
        branch starts with: `commit`, or the one another promotion or replica created it with
        first (Kargo fails then; its first commit is as good as ours).

        Taken under the branch's lock, so that no push of this process to the branch races
        it; the remote refusing a push of a branch that appeared meanwhile covers the others.
        """
        lane = self._lane((str(mirror.path), "branch:" + branch))
        async with lane.lock:
            existing = await mirror.rev_parse(mirrors.HEADS + branch)
            if existing is not None:  # another promotion of this process created it
                return existing
            pushed = await mirror.git(
                ["push", "--quiet", "origin", f"{commit}:refs/heads/{branch}"],
                credentials,
                check=False,
            )
            if pushed.ok:
                self.stats.pushes += 1
                await mirror.git(["update-ref", mirrors.HEADS + branch, commit])
                return commit
            failure = cli.classify(pushed.stderr)
            theirs = None
            if failure is cli.GitFailure.REJECTED:
                theirs = await _fetch_tip(mirror, branch, credentials)
            if theirs is None:
                raise cli.GitError(
                    cli.describe_failure(failure, mirror.url, pushed.stderr.strip()),
                    failure=failure,
                    stderr=pushed.stderr,
                )
            return theirs

    @staticmethod
    def lease_name(mirror: mirrors.Mirror, branch: str) -> str:
        """The store lease every replica takes to push to `branch` of `mirror`'s repository."""
        return "git-push:" + hashlib.sha256(f"{mirror.key}\x00{branch}".encode()).hexdigest()[:32]

    async def _with_lease(self, request: PushRequest, work: Any) -> None:
        if request.leases is None:
            await work()
            return
        name = self.lease_name(request.mirror, request.branch)
        delay = 0.02
        for _ in range(6000):
            if await request.leases.try_acquire_lease(name, self.holder, self.lease_ttl):
                break
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)
        else:
            raise cli.GitError(
                f"timed out waiting for another replica's push to {request.mirror.url} "
                f"branch {request.branch}: retry the promotion",
                failure=cli.GitFailure.TIMEOUT,
            )
        renewer = asyncio.ensure_future(self._renew(request.leases, name, request))
        try:
            await work()
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
            await request.leases.release_lease(name, self.holder)

    async def _renew(self, leases: LeaseStore, name: str, request: PushRequest) -> None:
        """Renew the lease every third of its ttl while the push runs (cancelled when done).

        A push that outlives the ttl would otherwise let another replica take the lease and
        push to the same branch at the same time. A failed renewal is only logged: the remote
        still refuses a push that is not a fast-forward, and the next renewal may succeed."""
        while True:
            await self.clock.sleep(self.lease_ttl / 3)
            try:
                held = await leases.try_acquire_lease(name, self.holder, self.lease_ttl)
            except Exception as err:  # the database may be briefly unreachable
                held = False
                log.warning("renewing the push lease for %s failed: %s", request.branch, err)
            if not held:
                log.warning(
                    "lost the push lease for %s branch %s to another replica",
                    request.mirror.url,
                    request.branch,
                )

    async def _process(self, batch: list[PushRequest]) -> None:
        try:
            await self._process_batch(batch)
        except Exception as err:  # every waiting promotion learns why
            for r in batch:
                if r.future is not None and not r.future.done():
                    r.future.set_exception(err)
        for r in batch:
            if r.future is not None and not r.future.done():
                r.future.set_exception(RuntimeError("push finished without a result"))

    async def _remote_tip(self, req: PushRequest, *, fetch: bool) -> str | None:
        """The branch's commit on the remote; without `fetch`, as the mirror last saw it."""
        if not fetch:
            return await req.mirror.rev_parse(mirrors.HEADS + req.branch)
        return await _fetch_tip(req.mirror, req.branch, req.credentials)

    async def _process_batch(self, batch: list[PushRequest]) -> None:
        lead = batch[0]
        self.stats.batches.append(len(batch))
        live = list(batch)
        attempts = max(r.max_attempts for r in batch)
        for attempt in range(1, attempts + 1):
            # optimistic first attempt: git-clone has just fetched, so the mirror's view of the
            # branch is usually current; a rejected push fetches and integrates again
            remote = await self._remote_tip(lead, fetch=attempt > 1)
            for req in list(live):
                if attempt > req.max_attempts:
                    live.remove(req)
                    _fail(req, _gave_up(req, req.max_attempts))
            results: dict[int, str] = {}
            tip = await _Integration(lead.mirror, lead.branch, remote, results).run(live)
            if not live:
                return
            if tip != remote and tip is not None:
                force = ["--force"] if lead.force else []
                pushed = await lead.mirror.git(
                    ["push", "--quiet", *force, "origin", f"{tip}:refs/heads/{lead.branch}"],
                    lead.credentials,
                    check=False,
                )
                if not pushed.ok:
                    failure = cli.classify(pushed.stderr)
                    if failure is cli.GitFailure.REJECTED and not lead.force:
                        continue  # the remote moved under us: integrate again
                    raise cli.GitError(
                        cli.describe_failure(failure, lead.mirror.url, pushed.stderr.strip()),
                        failure=failure,
                        stderr=pushed.stderr,
                    )
                self.stats.pushes += 1
                await lead.mirror.git(["update-ref", mirrors.HEADS + lead.branch, tip])
            for req in live:
                if req.future is not None and not req.future.done():
                    req.future.set_result(results[id(req)])
            return
        for req in live:
            _fail(req, _gave_up(req, attempts))


async def _fetch_tip(
    mirror: mirrors.Mirror, branch: str, credentials: cli.GitCredentials | None
) -> str | None:
    """Fetch `branch` into the mirror; its commit, or None when the remote has no such branch."""
    if not await mirror.fetch_ref(f"+refs/heads/{branch}:{mirrors.HEADS}{branch}", credentials):
        return None
    return await mirror.rev_parse(mirrors.HEADS + branch)


def _gave_up(req: PushRequest, attempts: int) -> str:
    return (
        f"push to {req.mirror.url} branch {req.branch} gave up after {attempts} attempt(s) "
        f"(maxAttempts {req.max_attempts}): each time, other commits landed on the branch "
        "before this push did; retry the promotion later, or raise git-push's maxAttempts"
    )


_REPLAY_POLICIES = (
    IntegrationPolicy.ALWAYS_REBASE,
    IntegrationPolicy.REBASE_OR_MERGE,
    IntegrationPolicy.REBASE_OR_FAIL,
)


def _replayable(req: PushRequest) -> bool:
    """Whether the batch may replay this request's commit instead of rebasing its worktree.

    A replay is a rebase without conflicts, so only rebase policies allow it; fast-import
    writes no signature, so a checkout that signs never replays (its commits are rebased and
    re-signed in its worktree) and neither does a signed commit (see `_try_replay`)."""
    return not req.force and not req.identity.signing_key and req.policy in _REPLAY_POLICIES


def _signed(repo: Path, sha: str) -> bool:
    """Whether the commit carries a signature (a `gpgsig` header), without verifying it.

    A commit that cannot be read counts as signed: the caller then takes the careful path."""
    try:
        found = objects.repository(repo)[sha]
    except (KeyError, ValueError):
        return True
    return not isinstance(found, pygit2.Commit) or found.gpg_signature[0] is not None


class _Integration:
    """Puts a batch's commits one after the other on top of the remote branch.

    Commits that change only paths nobody else changed since their parent are replayed
    in-process (`kargo.git.replay`); the others are rebased or merged in
    their worktree by policy (`_integrate`). `results` gets each request's commit."""

    def __init__(
        self, mirror: mirrors.Mirror, branch: str, remote: str | None, results: dict[int, str]
    ) -> None:
        self.mirror, self.branch, self.remote, self.results = mirror, branch, remote, results
        self.tip = remote
        self.changed = replays.PathSet()  # paths changed on top of `remote` by this batch
        self.pending: list[tuple[PushRequest, replays.Replay]] = []
        self._upstream: dict[str, tuple[bool, set[str], replays.PathSet]] = {}

    async def run(self, live: list[PushRequest]) -> str | None:
        """Integrate every request (failing ones leave `live`); return the tip to push."""
        if len(live) == 1 and self.remote is not None and not live[0].force:
            # a lone commit made on the branch as it is (the usual single promotion): pushed
            # as it is (signature and all), without reading its changes
            sha = await worktrees.head(live[0].worktree)
            if objects.parents(self.mirror.path, sha) == [self.remote]:
                self.tip = self.results[id(live[0])] = sha
                return sha
        if self.remote is not None:  # every request's commit of the batch, read in-process
            heads = {id(r): await worktrees.head(r.worktree) for r in live if not r.force}
            infos = replays.describe(self.mirror.path, list(heads.values()))
            for req in live:
                req.commit = infos.get(heads.get(id(req), ""))
        for req in list(live):
            try:
                if not self._try_replay(req):
                    self._flush()
                    before = self.tip
                    self.tip = await _integrate(req, self.tip)
                    self.results[id(req)] = self.tip
                    if before is not None and self.tip != before:
                        self.changed.add(replays.changed_paths(self.mirror.path, before, self.tip))
            except PushRejected as err:
                live.remove(req)
                _fail(req, err)
        self._flush()
        return self.tip

    def _upstream_of(self, parent: str) -> tuple[bool, set[str], replays.PathSet]:
        """(parent is an ancestor of the remote tip, commits since, paths changed since)."""
        assert self.remote is not None
        known = self._upstream.get(parent)
        if known is not None:
            return known
        if parent == self.remote:
            known = (True, set(), replays.PathSet())
        else:
            repo = self.mirror.path
            ancestor = replays.is_ancestor(repo, parent, self.remote)
            commits: set[str] = set()
            paths = replays.PathSet()
            if ancestor:
                commits = replays.commits_between(repo, parent, self.remote)
                paths.add(replays.changed_paths(repo, parent, self.remote))
            known = (ancestor, commits, paths)
        self._upstream[parent] = known
        return known

    def _try_replay(self, req: PushRequest) -> bool:
        info = req.commit
        if info is None or self.remote is None or len(info.parents) != 1:
            return False
        parent = info.parents[0]
        if parent == self.tip and not self.pending:  # nothing moved under this commit
            self.tip = self.results[id(req)] = info.sha
            self.changed.add(info.paths)
            return True
        ancestor, upstream_commits, upstream_paths = self._upstream_of(parent)
        if not ancestor:
            return False
        if info.sha in upstream_commits or info.sha == self.remote:
            self.results[id(req)] = self.tip or info.sha  # already on the remote
            return True
        if not _replayable(req) or _signed(self.mirror.path, info.sha):
            return False  # by policy, or for a signature, integrated in its worktree
        if self.changed.collides(info.paths) or upstream_paths.collides(info.paths):
            return False
        self.pending.append((req, replays.Replay(info, req.identity.name, req.identity.email)))
        self.changed.add(info.paths)
        return True

    def _flush(self) -> None:
        if not self.pending or self.tip is None:
            return
        shas = replays.replay(
            self.mirror.path,
            f"refs/kargo/integrate/{self.branch}",
            self.tip,
            [item for _, item in self.pending],
        )
        for (req, _), sha in zip(self.pending, shas, strict=True):
            self.results[id(req)] = sha
        self.tip = shas[-1]
        self.pending.clear()


def _normal(path: Path) -> Path:
    """One spelling per checkout path, as git-clone and git-push may write it differently."""
    return Path(os.path.abspath(path))


def _fail(req: PushRequest, err: str | Exception) -> None:
    if req.future is not None and not req.future.done():
        req.future.set_exception(
            err
            if isinstance(err, Exception)
            else PushRejected(err, failure=cli.GitFailure.REJECTED)
        )


async def _is_ancestor(worktree: Path, older: str, newer: str) -> bool:
    result = await worktrees.run(
        worktree, ["merge-base", "--is-ancestor", older, newer], check=False
    )
    return result.returncode == 0


async def _integrate(req: PushRequest, tip: str | None) -> str:
    """Put the request's HEAD on top of `tip`; return the commit to push for it."""
    if req.force:
        return await worktrees.head(req.worktree)
    current = await worktrees.head(req.worktree)
    if tip is None or tip == current or await _is_ancestor(req.worktree, tip, current):
        return current
    if await _is_ancestor(req.worktree, current, tip):
        return tip  # already on the remote (e.g. a commit that changed nothing)
    where = f"{req.mirror.url} branch {req.branch}"
    if req.policy is IntegrationPolicy.NONE:
        raise PushRejected(
            f"push to {where} rejected: the branch moved and the integration policy is None; "
            "retry the promotion or choose another policy",
            failure=cli.GitFailure.REJECTED,
        )
    async with lazy.handed_to_git(req.worktree, req.credentials):
        return await _rebase_or_merge(req, tip, where)


async def _rebase_or_merge(req: PushRequest, tip: str, where: str) -> str:
    """Rebase or merge the request's HEAD onto `tip` in its worktree, by its policy.

    Signing happens here with the checkout's key (a rebase re-signs, a merge commit is
    signed), in a private GNUPGHOME that also serves to check who signed the commits."""
    async with worktrees.signing_env(req.identity) as (sign_args, sign_env):
        env: dict[str, str] = {**req.identity.env(), **sign_env}
        policy = req.policy
        rebase = policy is IntegrationPolicy.ALWAYS_REBASE
        if policy in (IntegrationPolicy.REBASE_OR_MERGE, IntegrationPolicy.REBASE_OR_FAIL):
            unsafe = await _unsafe_to_rebase(req, tip, sign_args, env)
            rebase = unsafe is None
            if unsafe is not None and policy is IntegrationPolicy.REBASE_OR_FAIL:
                raise PushRejected(
                    f"push to {where} failed: the branch moved and policy RebaseOrFail rebases "
                    f"only when that keeps the commits' signatures meaningful, but {unsafe}; "
                    "sign every commit with git-clone's author.signingKey (or none of them), "
                    "or have the operator choose RebaseOrMerge or AlwaysMerge "
                    f"({POLICY_ENV})",
                    failure=cli.GitFailure.REJECTED,
                )
        if rebase:
            return await _rebase(req, tip, where, sign_args, env)
        return await _merge(req, tip, where, sign_args, env)


async def _unsafe_to_rebase(
    req: PushRequest, tip: str, sign_args: list[str], env: Mapping[str, str]
) -> str | None:
    """Why rebasing the commits not on `tip` would be unsafe, or None when it is safe.

    Safe (Kargo's rule): signing is on and every commit is signed by the checkout's key, or
    signing is off and no commit is signed. A rebase rewrites the commits, so it must not drop
    a signature it cannot make again, nor sign in the key's name what someone else wrote."""
    if not req.identity.signing_key:  # read the headers only: no gpg needed
        listed = await worktrees.run(req.worktree, ["rev-list", "HEAD", f"^{tip}"])
        signed = [sha[:12] for sha in listed.stdout.split() if _signed(req.mirror.path, sha)]
        if signed:
            return (
                f"signing is not enabled for this checkout and commit(s) {', '.join(signed)} "
                "are signed"
            )
        return None
    listed = await worktrees.run(
        req.worktree, ["log", "--format=%H %G? %GF %GP", "HEAD", f"^{tip}"], env=env
    )
    commits = [line.split(" ") for line in listed.stdout.splitlines() if line.strip()]
    fingerprint = sign_args[0].removeprefix("-S") if sign_args else ""
    foreign = [
        c[0][:12] for c in commits if c[1] not in ("G", "U") or fingerprint not in (c[2:] or [""])
    ]
    if foreign:
        return (
            f"commit(s) {', '.join(foreign)} are not signed by the checkout's signing key "
            "(git-clone's author.signingKey)"
        )
    return None


async def _rebase(
    req: PushRequest, tip: str, where: str, sign_args: list[str], env: Mapping[str, str]
) -> str:
    """Rebase onto `tip` (re-signing when `sign_args`); a conflict fails, never merges."""
    creds, url = req.credentials, req.mirror.url
    sign = sign_args or ["--no-gpg-sign"]
    rebased = await worktrees.run(
        req.worktree, ["rebase", "--quiet", *sign, tip], creds, env=env, check=False, url=url
    )
    if rebased.ok:
        return await worktrees.head(req.worktree)
    await worktrees.run(req.worktree, ["rebase", "--abort"], creds, env=env, check=False)
    raise PushRejected(
        f"push to {where} failed: rebasing this promotion's commits onto the branch's new "
        f"commits conflicts (policy {req.policy.value}); a conflict needs manual resolution, "
        "so no further attempt is made: resolve it on the branch (or stop other writers from "
        "changing the same files) and retry the promotion",
        failure=cli.GitFailure.CONFLICT,
    )


async def _merge(
    req: PushRequest, tip: str, where: str, sign_args: list[str], env: Mapping[str, str]
) -> str:
    """Merge `tip` in (a signed merge commit when `sign_args`); a conflict fails."""
    creds, url = req.credentials, req.mirror.url
    sign = sign_args or ["--no-gpg-sign"]
    message = f"Merge {req.branch} into promotion"
    merged = await worktrees.run(
        req.worktree,
        ["merge", "--quiet", "--no-edit", *sign, "-m", message, tip],
        creds,
        env=env,
        check=False,
        url=url,
    )
    if not merged.ok:
        await worktrees.run(req.worktree, ["merge", "--abort"], creds, env=env, check=False)
        raise PushRejected(
            f"push to {where} failed: merging the branch's new commits into this promotion's "
            f"commits conflicts (policy {req.policy.value}); a conflict needs manual resolution, so no "
            "further attempt is made: resolve it on the branch (or stop other writers from "
            "changing the same files) and retry the promotion",
            failure=cli.GitFailure.CONFLICT,
        )
    return await worktrees.head(req.worktree)
