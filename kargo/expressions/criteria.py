"""Kargo's functions for Warehouse `freightCreationCriteria.expression`.

`commitFrom`, `imageFrom`, `chartFrom` and `artifactFrom` read element [0] (the newest) of
the Warehouse's discovered artifacts, with repo URLs normalised as Kargo does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from kargo.expressions.artifacts import (
    CHART_FIELDS,
    DISCOVERED_COMMIT_FIELDS,
    DISCOVERED_IMAGE_FIELDS,
    artifact_struct,
    check_args,
    make_struct,
    normalize_chart,
    normalize_git,
    normalize_image,
    string_arg,
)
from kargo.expressions.objects import GoStruct


def criteria_functions(discovered: Mapping[str, Any] | None) -> dict[str, Callable[..., Any]]:
    """commitFrom, imageFrom, chartFrom, artifactFrom over a Warehouse's discovered artifacts
    (element [0] of each result), for `freightCreationCriteria.expression`."""
    arts = discovered or {}

    def commit_from(*args: Any) -> GoStruct | None:
        check_args("commitFrom", args, 1, 1)
        repo = normalize_git(string_arg(args[0], "first argument"))
        for result in arts.get("git") or []:
            if normalize_git(str(result.get("repoURL", ""))) != repo:
                continue
            commits = result.get("commits") or []
            if commits:
                return make_struct("DiscoveredCommit", commits[0], DISCOVERED_COMMIT_FIELDS)
        return None

    def image_from(*args: Any) -> GoStruct | None:
        check_args("imageFrom", args, 1, 1)
        repo = normalize_image(string_arg(args[0], "first argument"))
        for result in arts.get("images") or []:
            if normalize_image(str(result.get("repoURL", ""))) != repo:
                continue
            refs = result.get("references") or []
            if refs:
                return make_struct("DiscoveredImageReference", refs[0], DISCOVERED_IMAGE_FIELDS)
        return None

    def chart_from(*args: Any) -> GoStruct | None:
        check_args("chartFrom", args, 1, 2)
        repo = normalize_chart(string_arg(args[0], "first argument"))
        name = string_arg(args[1], "second argument") if len(args) == 2 else ""
        for result in arts.get("charts") or []:
            if normalize_chart(str(result.get("repoURL", ""))) != repo:
                continue
            if name and result.get("name") != name:
                continue
            versions = result.get("versions") or []
            if versions:
                return GoStruct(
                    "Chart",
                    {"RepoURL": repo, "Name": result.get("name") or "", "Version": versions[0]},
                    CHART_FIELDS,
                )
        return None

    def artifact_from(*args: Any) -> GoStruct | None:
        check_args("artifactFrom", args, 1, 1)
        sub_name = string_arg(args[0], "first argument")
        found: GoStruct | None = None
        for result in arts.get("results") or []:
            if result.get("subscriptionName") != sub_name:
                continue
            refs = result.get("artifactReferences") or []
            if refs:
                found = artifact_struct(refs[0])
        return found

    return {
        "commitFrom": commit_from,
        "imageFrom": image_from,
        "chartFrom": chart_from,
        "artifactFrom": artifact_from,
    }
