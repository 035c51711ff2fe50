"""Helm chart discovery: which versions of a chart a Warehouse `chart` subscription selects.

Two kinds of repository (kargo-model.md §1.4, §3.4):
- classic HTTP(S): `<repoURL>/index.yaml`, read with conditional requests (`If-None-Match` /
  `If-Modified-Since`) so an unchanged index costs one 304. The parsed versions of every chart
  are kept in the metadata cache with the validators, so a 304 needs no parsing at all.
- OCI (`oci://host/path/chart`): the tags of the repository; `_` in a tag is read as `+`
  because OCI tags cannot hold `+`.

Selection: versions that parse as semver and satisfy `semverConstraint`, newest first (ties by
the original string, descending), at most `discoveryLimit`.

Neighbours: `registry.RegistryClient` for OCI, `cache.MetadataCache` for indexes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

import httpx
import yaml

from kargo import errors
from kargo.credentials import interface as creds
from kargo.discovery import cache as cache_mod, images, registry

DEFAULT_LIMIT = 20


def select_versions(versions: Iterable[str], constraint: str, limit: int) -> list[str]:
    """Semver versions satisfying `constraint`, newest first, at most `limit`.

    Chart versions are matched loosely (Helm accepts `1.2`), like Kargo's chart selector."""
    return images.sort_semver_tags(versions, constraint, strict=False)[:limit]


def _index_key(repo_url: str) -> str:
    return hashlib.sha256(repo_url.encode()).hexdigest() + ":" + repo_url[:200]


async def _http_index_versions(
    repo_url: str,
    name: str,
    *,
    http_client: httpx.AsyncClient,
    cache: cache_mod.MetadataCache,
    credentials: creds.Credentials | None,
) -> list[str]:
    where = f"error reading the chart index of {repo_url}"
    key = _index_key(repo_url)
    cached = await cache.get(cache_mod.BUCKET_CHART_INDEX, key)
    headers: dict[str, str] = {}
    if cached is not None:
        if cached.get("etag"):
            headers["If-None-Match"] = str(cached["etag"])
        if cached.get("lastModified"):
            headers["If-Modified-Since"] = str(cached["lastModified"])
    auth = (
        httpx.BasicAuth(credentials.username, credentials.password)
        if credentials is not None
        else None
    )
    url = repo_url.rstrip("/") + "/index.yaml"
    try:
        resp = await http_client.get(url, headers=headers, auth=auth or httpx.USE_CLIENT_DEFAULT)
    except httpx.HTTPError as err:
        raise errors.DiscoveryError(f"{where}: {type(err).__name__}") from None
    if resp.status_code == 304 and cached is not None:
        entries = cached.get("entries") or {}
    elif resp.status_code == 200:
        try:
            doc = yaml.safe_load(resp.content)
        except yaml.YAMLError:
            raise errors.DiscoveryError(f"{where}: index.yaml is not valid YAML") from None
        raw_entries = doc.get("entries") if isinstance(doc, dict) else None
        if not isinstance(raw_entries, dict):
            raise errors.DiscoveryError(f"{where}: index.yaml has no entries")
        entries = {
            str(chart): [
                str(v.get("version"))
                for v in (items or [])
                if isinstance(v, dict) and v.get("version") is not None
            ]
            for chart, items in raw_entries.items()
        }
        await cache.put(
            cache_mod.BUCKET_CHART_INDEX,
            key,
            {
                "etag": resp.headers.get("ETag", ""),
                "lastModified": resp.headers.get("Last-Modified", ""),
                "entries": entries,
            },
        )
    elif resp.status_code in (401, 403):
        raise errors.DiscoveryError(
            f"{where}: access denied (HTTP {resp.status_code}); check the helm credentials "
            "for this repository"
        )
    else:
        raise errors.DiscoveryError(f"{where}: the server answered HTTP {resp.status_code}")
    if name not in entries:
        raise errors.DiscoveryError(
            f"error discovering chart {name!r} in {repo_url}: no chart of that name in the "
            "repository index"
        )
    return [str(v) for v in entries[name]]


async def discover_charts(
    sub: dict[str, Any],
    *,
    cache: cache_mod.MetadataCache,
    registry_client: registry.RegistryClient | None = None,
    http_client: httpx.AsyncClient | None = None,
    credentials: creds.Credentials | None = None,
) -> list[str]:
    """Chart versions for a `chart` subscription, newest first.

    `registry_client` serves `oci://` repositories (for the repoURL's host); `http_client`
    serves HTTP ones (one is created when not given)."""
    repo_url = str(sub.get("repoURL") or "")
    name = str(sub.get("name") or "")
    constraint = str(sub.get("semverConstraint") or "")
    limit = int(sub.get("discoveryLimit") or DEFAULT_LIMIT)
    if repo_url.startswith("oci://"):
        if name:
            raise errors.DiscoveryError(
                f"chart subscription {repo_url}: name must be empty for oci:// repositories "
                "(the chart name is the last part of repoURL)"
            )
        if registry_client is None:
            raise errors.DiscoveryError(
                f"chart subscription {repo_url}: no registry client for an oci:// repository"
            )
        ref = registry.parse_repo_url(repo_url)
        tags = await registry_client.list_tags(ref.repository)
        return select_versions((t.replace("_", "+") for t in tags), constraint, limit)
    if not repo_url.startswith(("http://", "https://")):
        raise errors.DiscoveryError(
            f"chart subscription {repo_url!r}: repoURL must start with https://, http:// or "
            "oci://"
        )
    if not name:
        raise errors.DiscoveryError(
            f"chart subscription {repo_url}: name is required for HTTP chart repositories"
        )
    own = http_client is None
    client = http_client or httpx.AsyncClient(timeout=30.0, follow_redirects=True)
    try:
        versions = await _http_index_versions(
            repo_url, name, http_client=client, cache=cache, credentials=credentials
        )
    finally:
        if own:
            await client.aclose()
    return select_versions(versions, constraint, limit)
