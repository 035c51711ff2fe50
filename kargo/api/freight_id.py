"""The Freight ID: a SHA-1 of the Freight's origin and artifacts, exactly as Kargo computes it.

Same artifacts, same origin -> same ID, so re-discovering what already exists creates nothing
(pkg/api/freight.go GenerateFreightID; kargo-model.md §2). Annotations, commit messages and
authors are not hashed. URL forms come from `kargo.api.urls`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from kargo.api import urls


def _s(item: Mapping[str, Any], key: str) -> str:
    value = item.get(key)
    return "" if value is None else str(value)


def _with_subscription(part: str, item: Mapping[str, Any]) -> str:
    name = _s(item, "subscriptionName")
    return f"{part}:{name}" if name else part


def commit_part(commit: Mapping[str, Any]) -> str:
    """`NormalizeGit(repoURL):[tag:]id[:subscriptionName]`."""
    tag = _s(commit, "tag")
    part = (
        f"{urls.normalize_git(_s(commit, 'repoURL'))}:{tag + ':' if tag else ''}{_s(commit, 'id')}"
    )
    return _with_subscription(part, commit)


def image_part(image: Mapping[str, Any]) -> str:
    """`repoURL:tag@digest[:subscriptionName]` (the repoURL is NOT normalized)."""
    part = f"{_s(image, 'repoURL')}:{_s(image, 'tag')}@{_s(image, 'digest')}"
    return _with_subscription(part, image)


def chart_part(chart: Mapping[str, Any]) -> str:
    """`path.Join(NormalizeChart(repoURL), name):version[:subscriptionName]`."""
    joined = urls.go_path_join(urls.normalize_chart(_s(chart, "repoURL")), _s(chart, "name"))
    return _with_subscription(f"{joined}:{_s(chart, 'version')}", chart)


def artifact_part(artifact: Mapping[str, Any]) -> str:
    """`artifactType:subscriptionName:version`."""
    return ":".join(
        (_s(artifact, "artifactType"), _s(artifact, "subscriptionName"), _s(artifact, "version"))
    )


def origin_string(freight: Mapping[str, Any]) -> str:
    """`<Kind>/<Name>` of the Freight's origin (Kind defaults to Warehouse)."""
    origin = freight.get("origin") or {}
    return f"{origin.get('kind') or 'Warehouse'}/{origin.get('name') or ''}"


def freight_id(freight: Mapping[str, Any]) -> str:
    """The 40-hex-digit Freight ID of a Freight given as a dict (camelCase keys, as stored)."""
    parts = [commit_part(c) for c in freight.get("commits") or []]
    parts += [image_part(i) for i in freight.get("images") or []]
    parts += [chart_part(c) for c in freight.get("charts") or []]
    parts += [artifact_part(a) for a in freight.get("artifacts") or []]
    parts.sort(key=lambda p: p.encode())  # Go sorts strings byte-wise
    material = f"{origin_string(freight)}:{'|'.join(parts)}"
    return hashlib.sha1(material.encode(), usedforsecurity=False).hexdigest()
