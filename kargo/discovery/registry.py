"""An async client for OCI distribution / Docker Registry v2 APIs (what discovery needs of it).

It lists tags (following `Link` pagination), HEADs and GETs manifests of every kind (Docker
schema 2, OCI manifest, Docker manifest list, OCI index) and reads config blobs. It handles:

- auth: anonymous or credentialed bearer tokens (`WWW-Authenticate: Bearer realm=...` challenge,
  tokens cached per scope until they expire) and HTTP basic auth;
- transport: https, except for loopback hosts and the configured plain-http registries;
- politeness: a token bucket per registry host (`ratelimit.shared_bucket`), `429` answers with
  `Retry-After` honoured;
- faults: 5xx, timeouts, dropped connections and truncated or corrupt bodies are retried with
  jittered exponential backoff, then raised as `kargo.errors.DiscoveryError` with a clear message.

Request counts per kind (`tag-list`, `manifest-head`, `manifest-get`, `blob-get`, `token`) are
kept in `RegistryClient.counters` for tests and benchmarks. Credentials never appear in errors.

Neighbours: `images.py` and `charts.py` call it; `cache.py` keeps what it fetched.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import json
import random
import re
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from kargo import errors
from kargo.credentials import interface as creds
from kargo.discovery import ratelimit

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
MANIFEST_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
ACCEPT = ", ".join((OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST))

DOCKER_HUB = "registry-1.docker.io"
_DOCKER_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})

KIND_TAG_LIST = "tag-list"
KIND_MANIFEST_HEAD = "manifest-head"
KIND_MANIFEST_GET = "manifest-get"
KIND_BLOB_GET = "blob-get"
KIND_TOKEN = "token"  # noqa: S105 - a counter name, not a secret

_RETRY_STATUSES = frozenset({500, 502, 503, 504})
_MAX_RETRY_AFTER = 60.0


@dataclass(frozen=True)
class ImageRef:
    """A repository split into registry host and repository path (`library/` added for Hub)."""

    host: str
    repository: str

    def __str__(self) -> str:
        return f"{self.host}/{self.repository}"


def parse_repo_url(repo_url: str) -> ImageRef:
    """Split an image repoURL (`ghcr.io/acme/api`, `127.0.0.1:5000/app`, `nginx`) or an
    `oci://host/path` chart URL. Docker Hub names get their default host and `library/`."""
    url = repo_url.removeprefix("oci://")
    first, _, rest = url.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        host, repository = first, rest
    else:
        host, repository = "docker.io", url
    if host in _DOCKER_HUB_ALIASES:
        host = DOCKER_HUB
        if "/" not in repository:
            repository = f"library/{repository}"
    if not repository:
        raise errors.DiscoveryError(f"invalid repository {repo_url!r}: no repository path")
    return ImageRef(host, repository)


def client_for(
    repo_url: str, credentials: creds.Credentials | None = None, **kwargs: Any
) -> RegistryClient:
    """A client for the registry host of an image or `oci://` chart repoURL (keyword arguments
    as for `RegistryClient`)."""
    return RegistryClient(parse_repo_url(repo_url).host, credentials, **kwargs)


@dataclass(frozen=True)
class Descriptor:
    """What a manifest HEAD tells: digest, media type and size."""

    digest: str
    media_type: str
    size: int


@dataclass(frozen=True)
class Manifest:
    """A fetched manifest: its digest, media type and parsed JSON body."""

    digest: str
    media_type: str
    body: dict[str, Any]


def _is_loopback(host: str) -> bool:
    name = host
    if name.startswith("["):
        name = name[1 : name.find("]")]
    elif name.count(":") == 1:
        name = name.split(":", 1)[0]
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


_CHALLENGE_PARAM = re.compile(r'(\w+)\s*=\s*(?:"([^"]*)"|([^\s,]+))')


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """Parse `WWW-Authenticate` into (scheme lowercased, params)."""
    scheme, _, rest = header.strip().partition(" ")
    params = {
        m.group(1).lower(): m.group(2) or m.group(3) or "" for m in _CHALLENGE_PARAM.finditer(rest)
    }
    return scheme.lower(), params


def _retry_after(value: str | None, default: float) -> float:
    if not value:
        return default
    try:
        return min(_MAX_RETRY_AFTER, max(0.0, float(value)))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    return min(_MAX_RETRY_AFTER, max(0.0, when.timestamp() - time.time()))


class _Retryable(Exception):
    """A transient failure worth another attempt (with a description for the final error)."""

    def __init__(self, what: str, wait: float | None = None) -> None:
        super().__init__(what)
        self.what = what
        self.wait = wait


def _next_link(link: str | None, base: httpx.URL) -> httpx.URL | None:
    if not link:
        return None
    for part in link.split(","):
        m = re.match(r"\s*<([^>]*)>\s*;(.*)", part)
        if m and re.search(r'rel\s*=\s*"?next"?', m.group(2)):
            return base.join(m.group(1))
    return None


class RegistryClient:
    """A client for one registry host. Use as an async context manager or call `aclose()`."""

    def __init__(
        self,
        host: str,
        credentials: creds.Credentials | None = None,
        *,
        plain_http_registries: set[str] | frozenset[str] = frozenset(),
        rate_limit_per_s: float = 20,
        transport: httpx.AsyncBaseTransport | None = None,
        insecure_skip_tls_verify: bool = False,
        timeout: float = 30.0,
        max_attempts: int = 4,
        backoff_base: float = 0.2,
        backoff_max: float = 10.0,
        sleep: ratelimit.Sleep = asyncio.sleep,
        rate_limiter: ratelimit.TokenBucket | None = None,
    ) -> None:
        if "://" in host:
            parsed = urllib.parse.urlsplit(host)
            self.host = parsed.netloc
            scheme = parsed.scheme
        else:
            self.host = host
            plain = _is_loopback(host) or host in plain_http_registries
            scheme = "http" if plain else "https"
        if self.host in _DOCKER_HUB_ALIASES:
            self.host = DOCKER_HUB
        self.base_url = f"{scheme}://{self.host}"
        self._credentials = credentials
        self._http = httpx.AsyncClient(
            transport=transport,
            timeout=httpx.Timeout(timeout),
            verify=not insecure_skip_tls_verify,
            follow_redirects=True,
            # NewestBuild resolves up to 32 tags at once: keep those connections alive
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
        )
        self._limiter = rate_limiter or ratelimit.shared_bucket(self.host, rate_limit_per_s)
        self._max_attempts = max(1, max_attempts)
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._sleep = sleep
        self._tokens: dict[str, tuple[str, float]] = {}
        self._basic = False  # the registry asked for basic auth once: send it up front
        self._auth_lock = asyncio.Lock()
        self.counters: Counter[str] = Counter()
        self.retries = 0
        self.slept: list[float] = []

    async def __aenter__(self) -> RegistryClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    def reset_counters(self) -> None:
        """Start counting requests from zero."""
        self.counters.clear()
        self.retries = 0
        self.slept.clear()

    def _where(self, repository: str) -> str:
        return f"{self.host}/{repository}"

    # -- auth --------------------------------------------------------------------------------

    def _auth_header(self, scope: str) -> dict[str, str]:
        token = self._tokens.get(scope)
        if token is not None and token[1] > time.monotonic():
            return {"Authorization": f"Bearer {token[0]}"}
        if self._basic and self._credentials is not None:
            basic = httpx.BasicAuth(self._credentials.username, self._credentials.password)
            request = basic.auth_flow(httpx.Request("GET", self.base_url))
            return {"Authorization": next(request).headers["Authorization"]}
        return {}

    async def _authenticate(self, challenge: str, scope: str, what: str) -> None:
        scheme, params = parse_challenge(challenge)
        if scheme == "basic":
            if self._credentials is None:
                raise errors.DiscoveryError(
                    f"{what}: the registry requires authentication; add image credentials "
                    f"for this repository"
                )
            if self._basic:
                raise errors.DiscoveryError(
                    f"{what}: authentication failed (check the image credentials for this "
                    "repository)"
                )
            self._basic = True
            return
        if scheme != "bearer" or not params.get("realm"):
            raise errors.DiscoveryError(
                f"{what}: unsupported authentication challenge {scheme!r} from the registry"
            )
        query = {"service": params.get("service", "")}
        query["scope"] = params.get("scope") or scope
        auth = None
        if self._credentials is not None:
            auth = httpx.BasicAuth(self._credentials.username, self._credentials.password)
        realm = params["realm"]
        try:
            await self._limiter.acquire()
            self.counters[KIND_TOKEN] += 1
            resp = await self._http.get(realm, params=query, auth=auth)
        except httpx.HTTPError as err:
            raise errors.DiscoveryError(
                f"{what}: error getting a token from {urllib.parse.urlsplit(realm).netloc}: "
                f"{type(err).__name__}"
            ) from None
        if resp.status_code in (401, 403):
            raise errors.DiscoveryError(
                f"{what}: the token service refused the "
                f"{'credentials' if auth else 'anonymous request'} (HTTP {resp.status_code}); "
                "check the image credentials for this repository"
            )
        if resp.status_code != 200:
            raise errors.DiscoveryError(
                f"{what}: the token service answered HTTP {resp.status_code}"
            )
        try:
            body = resp.json()
            token = body.get("token") or body.get("access_token")
            expires = float(body.get("expires_in") or 60)
        except (ValueError, AttributeError):
            token = None
            expires = 0.0
        if not isinstance(token, str) or not token:
            raise errors.DiscoveryError(f"{what}: the token service returned no token")
        # refresh a little early so a token never expires in flight
        self._tokens[scope] = (token, time.monotonic() + max(1.0, expires - 5))

    # -- the request loop ----------------------------------------------------------------------

    def _backoff(self, attempt: int) -> float:
        base: float = min(self._backoff_max, self._backoff_base * (2**attempt))
        return base * random.uniform(0.5, 1.5)  # jitter, not crypto

    async def _request(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        kind: str,
        repository: str,
        what: str,
        headers: dict[str, str] | None = None,
        allow_404: bool = False,
    ) -> httpx.Response | None:
        """Send with auth, rate limit and retries; the body is fully read. None on an allowed 404."""
        scope = f"repository:{repository}:pull"
        auth_tries = 0
        attempt = 0
        last = ""
        while True:
            await self._limiter.acquire()
            self.counters[kind] += 1
            wait: float | None = None
            try:
                send_headers = {**(headers or {}), **self._auth_header(scope)}
                resp = await self._http.request(method, url, headers=send_headers)
                status = resp.status_code
                if status == 401 and auth_tries < 2:
                    auth_tries += 1
                    challenge = resp.headers.get("WWW-Authenticate", "")
                    if not challenge:
                        raise errors.DiscoveryError(
                            f"{what}: the registry answered 401 without an auth challenge"
                        )
                    sent = send_headers.get("Authorization")
                    if sent is not None and sent.startswith("Bearer ") and auth_tries > 1:
                        raise errors.DiscoveryError(
                            f"{what}: the registry refused the token (check the image "
                            "credentials for this repository)"
                        )
                    async with self._auth_lock:
                        # another request may have authenticated while this one waited
                        if self._auth_header(scope).get("Authorization") in (None, sent):
                            self._tokens.pop(scope, None)
                            await self._authenticate(challenge, scope, what)
                    continue
                if status in (401, 403):
                    raise errors.DiscoveryError(
                        f"{what}: access denied (HTTP {status}); check the image credentials "
                        "for this repository"
                    )
                if status == 404 and allow_404:
                    return None
                if status == 429:
                    wait = _retry_after(resp.headers.get("Retry-After"), self._backoff(attempt))
                    raise _Retryable("rate limited by the registry (HTTP 429)", wait)
                if status in _RETRY_STATUSES:
                    raise _Retryable(f"the registry answered HTTP {status}")
                if status == 404:
                    raise errors.DiscoveryError(
                        f"{what}: not found (HTTP 404); check that the repository exists"
                    )
                if status >= 400:
                    raise errors.DiscoveryError(f"{what}: the registry answered HTTP {status}")
                return resp
            except _Retryable as err:
                last, wait = err.what, err.wait
            except httpx.TimeoutException:
                last = "the request timed out"
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as err:
                last = f"the connection broke ({type(err).__name__}: incomplete response)"
            except httpx.ConnectError:
                last = "could not connect to the registry"
            attempt += 1
            if attempt >= self._max_attempts:
                raise errors.DiscoveryError(f"{what}: {last}; gave up after {attempt} attempts")
            self.retries += 1
            delay = wait if wait is not None else self._backoff(attempt - 1)
            self.slept.append(delay)
            await self._sleep(delay)

    # -- API ------------------------------------------------------------------------------------

    async def list_tags(self, repository: str) -> list[str]:
        """Every tag of a repository, following `Link: <...>; rel="next"` pages."""
        what = f"error listing tags of {self._where(repository)}"
        url: httpx.URL | None = httpx.URL(f"{self.base_url}/v2/{repository}/tags/list")
        tags: list[str] = []
        seen: set[str] = set()
        pages = 0
        while url is not None:
            pages += 1
            if pages > 10_000:
                raise errors.DiscoveryError(f"{what}: more than 10000 pages of tags")
            got = await self._json_with_retry("GET", url, KIND_TAG_LIST, repository, what)
            assert got is not None
            body, resp = got
            page = body.get("tags") or []
            if not isinstance(page, list):
                raise errors.DiscoveryError(f"{what}: the tag list is not a list")
            for tag in page:
                if isinstance(tag, str) and tag not in seen:
                    seen.add(tag)
                    tags.append(tag)
            url = _next_link(resp.headers.get("Link"), resp.url)
        return tags

    async def _json_with_retry(
        self,
        method: str,
        url: httpx.URL,
        kind: str,
        repository: str,
        what: str,
        *,
        headers: dict[str, str] | None = None,
        allow_404: bool = False,
        expect_digest: str | None = None,
    ) -> tuple[dict[str, Any], httpx.Response] | None:
        """GET JSON; a body that does not parse or match its digest is retried like a fault."""
        for attempt in range(self._max_attempts):
            resp = await self._request(
                method,
                url,
                kind=kind,
                repository=repository,
                what=what,
                headers=headers,
                allow_404=allow_404,
            )
            if resp is None:
                return None
            content = resp.content
            problem = ""
            digest = expect_digest or resp.headers.get("Docker-Content-Digest", "")
            if digest.startswith("sha256:") and kind != KIND_TAG_LIST:
                actual = "sha256:" + hashlib.sha256(content).hexdigest()
                if actual != digest:
                    problem = "the response body does not match its digest (truncated?)"
            if not problem:
                try:
                    body = json.loads(content)
                except ValueError:
                    problem = "the response body is not valid JSON (truncated?)"
                else:
                    if isinstance(body, dict):
                        return body, resp
                    problem = "the response body is not a JSON object"
            if attempt + 1 >= self._max_attempts:
                raise errors.DiscoveryError(
                    f"{what}: {problem}; gave up after {attempt + 1} attempts"
                )
            self.retries += 1
            delay = self._backoff(attempt)
            self.slept.append(delay)
            await self._sleep(delay)
        raise AssertionError("unreachable")

    async def head_manifest(self, repository: str, reference: str) -> Descriptor | None:
        """The descriptor of a tag or digest, or None when it does not exist."""
        what = f"error resolving {self._where(repository)}:{reference}"
        resp = await self._request(
            "HEAD",
            f"{self.base_url}/v2/{repository}/manifests/{reference}",
            kind=KIND_MANIFEST_HEAD,
            repository=repository,
            what=what,
            headers={"Accept": ACCEPT},
            allow_404=True,
        )
        if resp is None:
            return None
        digest = resp.headers.get("Docker-Content-Digest", "")
        if not digest:
            return None  # the registry did not say; the caller GETs the manifest instead
        media_type = resp.headers.get("Content-Type", "").split(";", 1)[0].strip()
        size = int(resp.headers.get("Content-Length", "0") or 0)
        return Descriptor(digest, media_type, size)

    async def get_manifest(self, repository: str, reference: str) -> Manifest | None:
        """A manifest by tag or digest, or None when it does not exist."""
        what = f"error fetching manifest {self._where(repository)}:{reference}"
        expect = reference if reference.startswith("sha256:") else None
        got = await self._json_with_retry(
            "GET",
            httpx.URL(f"{self.base_url}/v2/{repository}/manifests/{reference}"),
            KIND_MANIFEST_GET,
            repository,
            what,
            headers={"Accept": ACCEPT},
            allow_404=True,
            expect_digest=expect,
        )
        if got is None:
            return None
        body, resp = got
        headers = resp.headers
        media_type = str(body.get("mediaType") or "") or (
            headers.get("Content-Type", "").split(";", 1)[0].strip()
        )
        digest = expect or headers.get("Docker-Content-Digest", "")
        if not digest:
            digest = (
                "sha256:"
                + hashlib.sha256(json.dumps(body, separators=(",", ":")).encode()).hexdigest()
            )
        return Manifest(digest, media_type, body)

    async def get_blob_json(self, repository: str, digest: str) -> dict[str, Any]:
        """A JSON blob (an image config) by digest, checked against the digest."""
        what = f"error fetching blob {digest} of {self._where(repository)}"
        got = await self._json_with_retry(
            "GET",
            httpx.URL(f"{self.base_url}/v2/{repository}/blobs/{digest}"),
            KIND_BLOB_GET,
            repository,
            what,
            expect_digest=digest,
        )
        assert got is not None
        return got[0]
