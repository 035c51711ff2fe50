"""Assembling Freight by hand: a user picks artifacts a Warehouse discovered.

`kargo create freight --warehouse W --image REPO:TAG --commit URL@SHA --chart URL/NAME:VERSION`
sends the picks to the server, which calls `assemble_freight`. Each pick must name one of the
Warehouse's subscriptions and one of the artifacts its last discovery found (a commit may be
given by a unique prefix of at least 7 hex digits; an image digest, when given, must match).
Every subscription needs exactly one pick, so the Freight is as complete as one the Warehouse
would have created. Problems are reported together, each with the values that would work.

The result has no name or alias: admission (`kargo.api.admission.admit_create`) computes them,
as for Freight the Warehouse creates. Neighbours: `builder.py` (the same artifact shapes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kargo import errors
from kargo.api import urls
from kargo.freight import builder

MIN_SHA_PREFIX = 7
SHOWN = 5  # how many discovered values a hint lists


@dataclass
class Picks:
    """What the user asked for, as typed on the command line."""

    images: list[str] = field(default_factory=list)  # REPO:TAG or REPO:TAG@DIGEST or REPO@DIGEST
    commits: list[str] = field(default_factory=list)  # URL@SHA
    charts: list[str] = field(default_factory=list)  # URL/NAME:VERSION or oci://HOST/PATH:VERSION


def parse_image(text: str) -> tuple[str, str, str]:
    """REPO:TAG[@DIGEST] or REPO@DIGEST -> (repo, tag, digest)."""
    rest, _, digest = text.partition("@")
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:
        return rest[:colon], rest[colon + 1 :], digest
    return rest, "", digest


def parse_commit(text: str) -> tuple[str, str]:
    """URL@SHA -> (url, sha); the last `@` splits (URLs may hold `user@`)."""
    url, sep, sha = text.rpartition("@")
    if not sep or not url or not sha:
        raise _problem(
            f"--commit {text!r}", "write it as URL@SHA, e.g. https://git.example/app.git@3f2a9c1"
        )
    return url, sha.lower()


def parse_chart(text: str) -> tuple[str, str]:
    """URL/NAME:VERSION or oci://HOST/PATH/NAME:VERSION -> (url-with-name, version)."""
    slash = text.rfind("/")
    colon = text.rfind(":")
    if colon <= slash:
        raise _problem(
            f"--chart {text!r}",
            "write it as REPO_URL/NAME:VERSION, e.g. https://charts.example/mychart:1.2.0 "
            "or oci://ghcr.io/acme/charts/mychart:1.2.0",
        )
    return text[:colon], text[colon + 1 :]


def _problem(what: str, hint: str) -> errors.ValidationError:
    return errors.ValidationError("", [errors.Problem(f"{what} is malformed", hint=hint)])


def _listing(values: list[str]) -> str:
    shown = ", ".join(values[:SHOWN]) or "nothing"
    return shown + (f" (and {len(values) - SHOWN} more)" if len(values) > SHOWN else "")


def _chart_key(entry: dict[str, Any]) -> str:
    url = str(entry.get("repoURL", "")).rstrip("/")
    return f"{url}/{entry['name']}" if entry.get("name") else url


def assemble_freight(
    namespace: str, warehouse: dict[str, Any], picks: Picks, *, discovered_at: str | None = None
) -> dict[str, Any]:
    """A Freight object (no name, no alias) from picks validated against the Warehouse's
    discovered artifacts; ValidationError listing every problem otherwise."""
    name = str(warehouse["metadata"]["name"])
    discovered = (warehouse.get("status") or {}).get("discoveredArtifacts") or {}
    problems: list[errors.Problem] = []
    refresh = f"run `kargo refresh warehouse {name} --wait`, then pick one of them"

    images_by_repo = {
        urls.normalize_image(str(e["repoURL"])): e for e in discovered.get("images") or []
    }
    git_by_repo = {urls.normalize_git(str(e["repoURL"])): e for e in discovered.get("git") or []}
    charts_by_key = {_chart_key(e).lower(): e for e in discovered.get("charts") or []}
    picked: dict[str, list[dict[str, Any]]] = {"images": [], "commits": [], "charts": []}
    used: set[tuple[str, str]] = set()

    def subscribed(section: str, known: dict[str, dict[str, Any]], what: str) -> None:
        problems.append(
            errors.Problem(
                f"{what} is not one of Warehouse {name!r}'s subscriptions",
                hint=f"its {section} subscriptions are: {_listing(sorted(e['repoURL'] if section != 'chart' else _chart_key(e) for e in known.values()))}",
            )
        )

    def once(section: str, key: str, what: str) -> bool:
        if (section, key) in used:
            problems.append(
                errors.Problem(f"{what}: one artifact per subscription", hint="drop the extra pick")
            )
            return False
        used.add((section, key))
        return True

    for text in picks.images:
        repo, tag, digest = parse_image(text)
        key = urls.normalize_image(repo)
        entry = images_by_repo.get(key)
        if entry is None:
            subscribed("image", images_by_repo, f"--image {text!r}: repository {repo}")
            continue
        refs = list(entry.get("references") or [])
        match = [
            r
            for r in refs
            if (not tag or r.get("tag") == tag) and (not digest or r.get("digest") == digest)
        ]
        if not tag and not digest:
            problems.append(errors.Problem(f"--image {text!r} names no tag", hint="write REPO:TAG"))
            continue
        if not match:
            problems.append(
                errors.Problem(
                    f"--image {text!r}: {tag or digest} is not among the references discovered "
                    f"for {entry['repoURL']}",
                    hint=f"discovered: {_listing([str(r.get('tag')) for r in refs])}; {refresh}",
                )
            )
            continue
        if once("image", key, f"--image {text!r}"):
            picked["images"].append(builder.image_from_discovered(entry, match[0]))

    for text in picks.commits:
        try:
            url, sha = parse_commit(text)
        except errors.ValidationError as err:
            problems.extend(err.problems)
            continue
        key = urls.normalize_git(url)
        entry = git_by_repo.get(key)
        if entry is None:
            subscribed("git", git_by_repo, f"--commit {text!r}: repository {url}")
            continue
        commits = list(entry.get("commits") or [])
        if len(sha) < MIN_SHA_PREFIX:
            problems.append(
                errors.Problem(
                    f"--commit {text!r}: {sha!r} is too short",
                    hint=f"give at least {MIN_SHA_PREFIX} hex digits of the commit",
                )
            )
            continue
        match = [c for c in commits if str(c.get("id", "")).startswith(sha)]
        if len(match) != 1:
            problems.append(
                errors.Problem(
                    f"--commit {text!r}: {sha} is {'ambiguous among' if match else 'not among'} "
                    f"the commits discovered for {entry['repoURL']}",
                    hint=f"discovered: {_listing([str(c.get('id'))[:12] for c in commits])}; "
                    f"{refresh}",
                )
            )
            continue
        if once("git", key, f"--commit {text!r}"):
            picked["commits"].append(builder.commit_from_discovered(entry, match[0]))

    for text in picks.charts:
        try:
            chart, version = parse_chart(text)
        except errors.ValidationError as err:
            problems.extend(err.problems)
            continue
        key = chart.rstrip("/").lower()
        entry = charts_by_key.get(key)
        if entry is None:
            subscribed("chart", charts_by_key, f"--chart {text!r}: chart {chart}")
            continue
        versions = [str(v) for v in entry.get("versions") or []]
        if version not in versions:
            problems.append(
                errors.Problem(
                    f"--chart {text!r}: version {version} is not among those discovered for "
                    f"{_chart_key(entry)}",
                    hint=f"discovered: {_listing(versions)}; {refresh}",
                )
            )
            continue
        if once("chart", key, f"--chart {text!r}"):
            picked["charts"].append(builder.chart_from_discovered(entry, version))

    missing = [
        f"--image {e['repoURL']}:TAG" for k, e in images_by_repo.items() if ("image", k) not in used
    ]
    missing += [
        f"--commit {e['repoURL']}@SHA" for k, e in git_by_repo.items() if ("git", k) not in used
    ]
    missing += [
        f"--chart {_chart_key(e)}:VERSION"
        for k, e in charts_by_key.items()
        if ("chart", k) not in used
    ]
    if not discovered:
        problems.append(
            errors.Problem(
                f"Warehouse {name!r} has discovered nothing yet",
                hint=f"run `kargo refresh warehouse {name} --wait` and look at its conditions",
            )
        )
    elif missing and not problems:
        problems.append(
            errors.Problem(
                "Freight needs one artifact of every subscription; missing: " + ", ".join(missing),
                hint=f"see the discovered artifacts with `kargo get warehouse {name} -o yaml`",
            )
        )
    if problems:
        raise errors.ValidationError(f"cannot assemble Freight from Warehouse {name!r}", problems)
    freight = builder.build_freight(namespace, name, {}, discovered_at=discovered_at)
    for section, items in picked.items():
        if items:
            freight[section] = items
    return freight
