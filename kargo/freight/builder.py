"""Builds Freight from a Warehouse's discovered artifacts: element [0] of every subscription.

The Freight's name (its ID) and alias are assigned at admission (`kargo.api.admission`), so the
same artifacts always produce the same Freight, whichever path created it.
"""

from __future__ import annotations

from typing import Any

FREIGHT_API_VERSION = "kargo.akuity.io/v1alpha1"


def _with_subscription(out: dict[str, Any], source: dict[str, Any]) -> dict[str, Any]:
    if source.get("subscriptionName"):
        out["subscriptionName"] = source["subscriptionName"]
    return out


def commit_from_discovered(repo: dict[str, Any], commit: dict[str, Any]) -> dict[str, Any]:
    """A Freight GitCommit from a DiscoveredCommit of the repository `repo`."""
    out: dict[str, Any] = {"repoURL": repo["repoURL"], "id": commit["id"]}
    for src, dst in (
        ("branch", "branch"),
        ("tag", "tag"),
        ("subject", "message"),
        ("author", "author"),
        ("committer", "committer"),
    ):
        if commit.get(src):
            out[dst] = commit[src]
    return _with_subscription(out, repo)


def image_from_discovered(repo: dict[str, Any], ref: dict[str, Any]) -> dict[str, Any]:
    """A Freight Image from a DiscoveredImageReference of the repository `repo`."""
    out: dict[str, Any] = {
        "repoURL": repo["repoURL"],
        "tag": ref.get("tag", ""),
        "digest": ref.get("digest", ""),
    }
    if ref.get("annotations"):
        out["annotations"] = dict(ref["annotations"])
    return _with_subscription(out, repo)


def chart_from_discovered(repo: dict[str, Any], version: str) -> dict[str, Any]:
    """A Freight Chart from a discovered chart version."""
    out: dict[str, Any] = {"repoURL": repo["repoURL"], "version": version}
    if repo.get("name"):
        out["name"] = repo["name"]
    return _with_subscription(out, repo)


def build_freight(
    namespace: str, warehouse: str, discovered: dict[str, Any], *, discovered_at: str | None = None
) -> dict[str, Any]:
    """A Freight object (without name or alias) from `status.discoveredArtifacts`.

    Every subscription must have at least one result; the caller checks that first and reports
    which subscription found nothing.
    """
    freight: dict[str, Any] = {
        "apiVersion": FREIGHT_API_VERSION,
        "kind": "Freight",
        "metadata": {"namespace": namespace},
        "origin": {"kind": "Warehouse", "name": warehouse},
    }
    commits = [
        commit_from_discovered(r, r["commits"][0])
        for r in discovered.get("git") or []
        if r.get("commits")
    ]
    images = [
        image_from_discovered(r, r["references"][0])
        for r in discovered.get("images") or []
        if r.get("references")
    ]
    charts = [
        chart_from_discovered(r, r["versions"][0])
        for r in discovered.get("charts") or []
        if r.get("versions")
    ]
    if commits:
        freight["commits"] = commits
    if images:
        freight["images"] = images
    if charts:
        freight["charts"] = charts
    if discovered_at:
        freight["discoveredAt"] = discovered_at
    return freight
