"""Git discovery: which commits a Warehouse's git subscription offers, newest/best first.

`discover_commits(sub, mirrors, credentials, previous)` reproduces Kargo's git selection
(kargo-model.md §1.4, §3.3):

- A cheap pre-check: one `git ls-remote` records the observed refs (the branch head, or the
  name-filtered tags and their commits). When they equal the previous poll's, nothing is
  fetched and the previous commits are returned: exactly one git command per unchanged poll.
- Otherwise the shared blobless mirror of the repository (one per URL, whichever Warehouses
  subscribe to it) is fetched, and commits are selected by strategy:
  NewestFromBranch (default branch = remote HEAD; `since`; include/exclude paths;
  `expressionFilter`), SemVer, Lexical and NewestTag (allow/ignore tag regexes, expression,
  paths of the tagged commit), capped at `discoveryLimit`.

Errors are `DiscoveryError`s that name the repository and say how to fix the problem. The
subscription's `blobless` flag is accepted but the shared mirror is always blobless when the
server allows it (commits and trees are all discovery reads). Neighbours: `kargo.git` (commands,
mirrors), `kargo.api.semver`, `kargo.expressions.lang`; the Warehouse reconciler calls this.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from wcmatch import glob

from kargo import clock, errors
from kargo.api import semver
from kargo.expressions import gotime, lang
from kargo.git import cli, mirror as mirrors

STRATEGIES = ("NewestFromBranch", "SemVer", "Lexical", "NewestTag")
DEFAULT_LIMIT = 20
MAX_COMMITS = 1000  # how deep NewestFromBranch walks history when filters are set
MAX_OBSERVED_TAGS = 1000  # beyond this the tag observation is not recorded (Kargo's cap)
SUBJECT_LIMIT = 80

_SEP = "\x1f"
_REC = "\x1e"
_LOG_FORMAT = _REC + _SEP.join(["%H", "%an <%ae>", "%cn <%ce>", "%cI", "%s"])
_TAG_FORMAT = _REC + _SEP.join(
    [
        "%(refname:strip=3)",
        "%(objecttype)",
        "%(objectname)",
        "%(*objecttype)",
        "%(*objectname)",
        "%(creatordate:iso-strict)",
        "%(if)%(*objectname)%(then)%(*authorname) %(*authoremail)%(else)"
        "%(authorname) %(authoremail)%(end)",
        "%(if)%(*objectname)%(then)%(*committername) %(*committeremail)%(else)"
        "%(committername) %(committeremail)%(end)",
        "%(if)%(*objectname)%(then)%(*subject)%(else)%(subject)%(end)",
        "%(if)%(*objectname)%(then)%(taggername) %(taggeremail)%(end)",
        "%(if)%(*objectname)%(then)%(contents)%(end)",
    ]
)


@dataclass
class _Settings:
    repo_url: str
    strategy: str
    branch: str
    semver_constraint: semver.Constraint | None
    strict_semvers: bool
    allow: list[re.Pattern[str]]
    ignore: list[re.Pattern[str]]
    expression: str
    include: list[Callable[[str], bool]] = field(default_factory=list)
    exclude: list[Callable[[str], bool]] = field(default_factory=list)
    since: datetime | None = None
    limit: int = DEFAULT_LIMIT
    insecure_skip_tls_verify: bool = False

    @property
    def filters_paths(self) -> bool:
        return bool(self.include or self.exclude)


def _fail(url: str, what: str) -> errors.DiscoveryError:
    return errors.DiscoveryError(f"error discovering commits from {url}: {what}")


def _compile_regexes(url: str, field_name: str, values: Sequence[str]) -> list[re.Pattern[str]]:
    out = []
    for value in values or []:
        try:
            out.append(re.compile(value))
        except re.error as err:
            raise _fail(url, f"{field_name}: invalid regular expression {value!r}: {err}") from err
    return out


def _path_selector(url: str, field_name: str, selector: str) -> Callable[[str], bool]:
    """Kargo's path selectors: `regex:`/`regexp:`, `glob:` (doublestar), else a prefix."""
    for prefix in ("regexp:", "regex:"):
        if selector.startswith(prefix):
            pattern = _compile_regexes(url, field_name, [selector[len(prefix) :]])[0]
            return lambda path: pattern.search(path) is not None
    if selector.startswith("glob:"):
        pattern_text = selector[len("glob:") :]
        flags = glob.GLOBSTAR | glob.DOTGLOB
        return lambda path: bool(glob.globmatch(path, pattern_text, flags=flags))
    return lambda path: path.startswith(selector)


def _settings(sub: dict[str, Any]) -> _Settings:
    spec = sub.get("git", sub)
    url = str(spec.get("repoURL") or "")
    if not url:
        raise errors.DiscoveryError(
            "error discovering commits: git subscription has no repoURL; set git.repoURL"
        )
    url = cli.strip_userinfo(url)
    for old, new in (("allowTags", "allowTagsRegexes"), ("ignoreTags", "ignoreTagsRegexes")):
        if spec.get(old):
            raise _fail(url, f"{old} is no longer supported; use {new} instead")
    strategy = spec.get("commitSelectionStrategy") or "NewestFromBranch"
    if strategy not in STRATEGIES:
        raise _fail(
            url, f"unknown commitSelectionStrategy {strategy!r}; use one of {', '.join(STRATEGIES)}"
        )
    constraint = None
    if strategy == "SemVer" and spec.get("semverConstraint"):
        try:
            constraint = semver.parse_constraint(str(spec["semverConstraint"]))
        except ValueError as err:
            raise _fail(url, f"semverConstraint: {err}") from err
    since = None
    if spec.get("since"):
        try:
            since = clock.parse_time(str(spec["since"]))
        except ValueError as err:
            raise _fail(url, f"since: {spec['since']!r} is not an RFC 3339 time") from err
    limit = int(spec.get("discoveryLimit") or DEFAULT_LIMIT)
    if not 1 <= limit <= 100:
        raise _fail(url, f"discoveryLimit {limit} is out of range; use 1 to 100")
    return _Settings(
        repo_url=url,
        strategy=strategy,
        branch=str(spec.get("branch") or ""),
        semver_constraint=constraint,
        strict_semvers=spec.get("strictSemvers", True) is not False,
        allow=_compile_regexes(url, "allowTagsRegexes", spec.get("allowTagsRegexes") or []),
        ignore=_compile_regexes(url, "ignoreTagsRegexes", spec.get("ignoreTagsRegexes") or []),
        expression=str(spec.get("expressionFilter") or ""),
        include=[_path_selector(url, "includePaths", p) for p in spec.get("includePaths") or []],
        exclude=[_path_selector(url, "excludePaths", p) for p in spec.get("excludePaths") or []],
        since=since,
        limit=limit,
        insecure_skip_tls_verify=spec.get("insecureSkipTLSVerify") is True,
    )


def shorten_subject(subject: str) -> str:
    """First line, at most 80 characters with a "..." suffix when cut."""
    line = subject.splitlines()[0] if subject else ""
    return line if len(line) <= SUBJECT_LIMIT else line[: SUBJECT_LIMIT - 3] + "..."


def _paths_qualify(s: _Settings, paths: Sequence[str]) -> bool:
    """Any changed path that is included (or includes empty) and not excluded."""
    return any(
        (not s.include or any(m(p) for m in s.include)) and not any(m(p) for m in s.exclude)
        for p in paths
    )


_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


class _Expression:
    """expressionFilter compiled once; results that are not bool go through Go's ParseBool."""

    def __init__(self, url: str, text: str) -> None:
        self.url, self.text = url, text
        try:
            self.program = lang.compile(text)
        except errors.KargoError as err:
            raise _fail(url, f"expressionFilter {text!r}: {err}") from err

    def __call__(self, env: dict[str, Any]) -> bool:
        try:
            value = self.program.run(env)
        except errors.KargoError as err:
            raise _fail(self.url, f"expressionFilter {self.text!r}: {err}") from err
        if isinstance(value, bool):
            return value
        text = str(value)
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
        raise _fail(
            self.url,
            f"expressionFilter {self.text!r} returned {text!r}, not a boolean; "
            "make the expression return true or false",
        )


def _tag_allowed(s: _Settings, name: str) -> bool:
    if any(p.search(name) for p in s.ignore):
        return False
    return not s.allow or any(p.search(name) for p in s.allow)


def _semver_of(s: _Settings, name: str) -> semver.Version | None:
    try:
        version = semver.parse_version(name, strict=s.strict_semvers)
    except ValueError:
        return None
    if s.semver_constraint is not None and not s.semver_constraint.check(version):
        return None
    return version


async def _observe(
    s: _Settings, mirror: mirrors.Mirror, credentials: cli.GitCredentials | None
) -> tuple[dict[str, Any], str]:
    """One ls-remote: (observedRefs, branch name for NewestFromBranch)."""
    if s.strategy == "NewestFromBranch":
        pattern = f"refs/heads/{s.branch}" if s.branch else "HEAD"
        remote = await mirror.ls_remote(credentials, [pattern])
        sha = remote.refs.get(pattern)
        if not sha:
            if s.branch:
                raise _fail(s.repo_url, f"branch {s.branch!r} not found; check git.branch")
            raise _fail(s.repo_url, "the repository has no commits yet (remote HEAD is unborn)")
        branch = s.branch or remote.default_branch or "main"
        return {"branchHead": sha}, branch
    remote = await mirror.ls_remote(credentials, ["refs/tags/*"])
    tags: dict[str, str] = {}
    for ref, sha in remote.refs.items():
        if not ref.startswith("refs/tags/"):
            continue
        name = ref[len("refs/tags/") :]
        peeled = name.endswith("^{}")
        name = name.removesuffix("^{}")
        if not _tag_allowed(s, name):
            continue
        if s.strategy == "SemVer" and _semver_of(s, name) is None:
            continue
        if peeled or name not in tags:
            tags[name] = sha
    if len(tags) > MAX_OBSERVED_TAGS:
        return {}, ""
    return {"tags": [{"name": n, "id": tags[n]} for n in sorted(tags)]}, ""


def _creator_date(text: str) -> str:
    try:
        return clock.format_time(clock.parse_time(text))
    except ValueError:
        return text


async def _branch_commits(
    s: _Settings,
    mirror: mirrors.Mirror,
    branch: str,
    credentials: cli.GitCredentials | None,
) -> list[dict[str, Any]]:
    expression = _Expression(s.repo_url, s.expression) if s.expression else None
    filtered = expression is not None or s.filters_paths
    ref = mirrors.HEADS + branch
    out: list[dict[str, Any]] = []
    skip, page = 0, s.limit
    while len(out) < s.limit and skip < (MAX_COMMITS if filtered else s.limit):
        args = ["-c", "core.quotePath=false", "log", f"--format={_LOG_FORMAT}", "--no-renames"]
        args += [f"--max-count={page}", f"--skip={skip}"]
        if s.since is not None:
            args.append(f"--since={clock.format_time(s.since)}")
        if s.filters_paths:
            args.append("--name-only")
        args += [ref, "--"]
        result = await mirror.git(args, credentials)
        records = [r for r in result.stdout.split(_REC) if r.strip()]
        for record in records:
            head, _, rest = record.partition("\n")
            sha, author, committer, date, subject = (head.split(_SEP) + [""] * 5)[:5]
            if s.filters_paths:
                paths = [p for p in rest.splitlines() if p]
                if not _paths_qualify(s, paths):
                    continue
            if expression is not None:
                env = {
                    "id": sha,
                    "commitDate": gotime.TimeValue(clock.parse_time(date)),
                    "author": author,
                    "committer": committer,
                    "subject": subject,
                }
                if not expression(env):
                    continue
            out.append(
                {
                    "id": sha,
                    "branch": branch,
                    "subject": shorten_subject(subject),
                    "author": author,
                    "committer": committer,
                    "creatorDate": _creator_date(date),
                }
            )
            if len(out) == s.limit:
                break
        if len(records) < page:
            break
        skip += page
        page = min(page * 2, MAX_COMMITS - skip) if filtered else page
        if page <= 0:
            break
    return out


async def _tag_commits(
    s: _Settings, mirror: mirrors.Mirror, credentials: cli.GitCredentials | None
) -> list[dict[str, Any]]:
    result = await mirror.git(
        ["for-each-ref", "--sort=-creatordate", f"--format={_TAG_FORMAT}", mirrors.TAGS],
        credentials,
    )
    candidates: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for record in result.stdout.split(_REC):
        if not record.strip():
            continue
        fields = (record.rstrip("\n").split(_SEP) + [""] * 11)[:11]
        name, otype, oid, ptype, pid, date, author, committer, subject, tagger, annotation = fields
        commit = pid if otype == "tag" else oid
        if (ptype if otype == "tag" else otype) != "commit" or not _tag_allowed(s, name):
            continue
        entry = {
            "id": commit,
            "tag": name,
            "subject": shorten_subject(subject),
            "author": author,
            "committer": committer,
            "creatorDate": _creator_date(date),
        }
        env = {
            "tag": name,
            "id": commit,
            "creatorDate": gotime.TimeValue(clock.parse_time(date)) if date else None,
            "author": author,
            "committer": committer,
            "subject": subject,
            "tagger": tagger.strip(),
            "annotation": annotation.strip(),
        }
        candidates.append((entry, env))
    if s.strategy == "SemVer":
        versioned = [(c, _semver_of(s, c[0]["tag"])) for c in candidates]
        kept = [(c, v) for c, v in versioned if v is not None]
        candidates = [c for c, _ in kept]
    if s.expression:
        expression = _Expression(s.repo_url, s.expression)
        candidates = [c for c in candidates if expression(c[1])]
    if s.strategy == "SemVer":
        candidates.sort(key=lambda c: c[0]["tag"], reverse=True)  # ties: string descending
        candidates.sort(
            key=lambda c: _SortableVersion(semver.parse_version(c[0]["tag"], s.strict_semvers)),
            reverse=True,
        )
    elif s.strategy == "Lexical":
        candidates.sort(key=lambda c: c[0]["tag"], reverse=True)
    out: list[dict[str, Any]] = []
    for entry, _ in candidates:
        if s.filters_paths:
            diff = await mirror.git(
                [
                    *("-c", "core.quotePath=false", "diff-tree", "--no-commit-id"),
                    *("--name-only", "-r", "--root", "--no-renames", entry["id"]),
                ],
                credentials,
            )
            if not _paths_qualify(s, [p for p in diff.stdout.splitlines() if p]):
                continue
        out.append(entry)
        if len(out) == s.limit:
            break
    return out


class _SortableVersion:
    """Wraps a semver.Version so `sort` uses its precedence."""

    def __init__(self, version: semver.Version) -> None:
        self.version = version

    def __lt__(self, other: _SortableVersion) -> bool:
        return self.version.compare(other.version) < 0


async def discover_commits(
    sub: dict[str, Any],
    mirrors_cache: mirrors.MirrorCache,
    credentials: cli.GitCredentials | None,
    previous: dict[str, Any] | None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Commits a git subscription offers, newest/best first, and the refs observed.

    `sub` is the subscription (`{"git": {...}}` or the inner dict, camelCase keys as in the
    manifest). `previous` is the previous poll's `status.discoveredArtifacts.git[]` entry for
    this subscription (`{"commits": [...], "observedRefs": {...}}`) or None; pass None when the
    subscription's spec changed, since then the previous selection no longer applies.
    """
    s = _settings(sub)
    # an insecure subscription reads its own mirror: it never turns verification off for others
    mirror = mirrors_cache.get(s.repo_url, insecure_skip_tls_verify=s.insecure_skip_tls_verify)
    try:
        observed, branch = await _observe(s, mirror, credentials)
        if (
            previous
            and observed
            and previous.get("observedRefs") == observed
            and previous.get("commits") is not None
        ):
            return list(previous["commits"]), observed
        if s.strategy == "NewestFromBranch":
            await mirror.fetch(
                credentials, [f"+refs/heads/{branch}:{mirrors.HEADS}{branch}"], prune=False
            )
            commits = await _branch_commits(s, mirror, branch, credentials)
        else:
            await mirror.fetch(credentials, [f"+refs/tags/*:{mirrors.TAGS}*"], prune=True)
            commits = await _tag_commits(s, mirror, credentials)
    except cli.GitError as err:
        raise _fail(s.repo_url, str(err)) from err
    return commits, observed
