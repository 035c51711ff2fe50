"""Helm chart discovery from classic HTTP repositories and OCI registries (kargo-model.md §3.4)."""

from __future__ import annotations

import pytest

from kargo import errors
from kargo.discovery import charts
from tests.fixtures.charts import make_chart_tgz
from tests.fixtures.registry import unique_repo


async def test_http_repository_versions_newest_first_with_constraint_and_limit(
    chart_repo, metadata_cache
):
    chart_repo.add("demo", "0.1.0", "0.2.0", "1.0.0", "1.1.0-rc.1", "not-semver", "1.0")
    chart_repo.add("other", "9.9.9")
    sub = {"repoURL": chart_repo.url, "name": "demo"}
    assert await charts.discover_charts(sub, cache=metadata_cache) == [
        "1.1.0-rc.1",
        "1.0.0",
        "1.0",
        "0.2.0",
        "0.1.0",
    ]
    sub |= {"semverConstraint": "^0.1 || >=1.0.0 <2", "discoveryLimit": 2}
    assert await charts.discover_charts(sub, cache=metadata_cache) == ["1.0.0", "1.0"]


async def test_unchanged_index_is_answered_with_304_and_the_cached_versions(
    chart_repo, metadata_cache
):
    chart_repo.add("demo", "0.1.0")
    sub = {"repoURL": chart_repo.url + "/", "name": "demo"}
    assert await charts.discover_charts(sub, cache=metadata_cache) == ["0.1.0"]
    assert await charts.discover_charts(sub, cache=metadata_cache) == ["0.1.0"]
    assert chart_repo.count(200) == 1
    assert chart_repo.count(304) == 1

    chart_repo.add("demo", "0.2.0")  # the index changes: a full read again
    assert await charts.discover_charts(sub, cache=metadata_cache) == ["0.2.0", "0.1.0"]
    assert chart_repo.count(200) == 2


async def test_missing_chart_name_in_the_index_is_reported(chart_repo, metadata_cache):
    chart_repo.add("demo", "0.1.0")
    with pytest.raises(errors.DiscoveryError, match="no chart of that name"):
        await charts.discover_charts(
            {"repoURL": chart_repo.url, "name": "nope"}, cache=metadata_cache
        )


async def test_http_repository_needs_a_chart_name(metadata_cache):
    with pytest.raises(errors.DiscoveryError, match="name is required"):
        await charts.discover_charts({"repoURL": "http://127.0.0.1:1"}, cache=metadata_cache)


async def test_unreachable_repository_is_a_discovery_error(metadata_cache):
    from tests.fixtures.registry import free_port

    sub = {"repoURL": f"http://127.0.0.1:{free_port()}", "name": "demo"}
    with pytest.raises(errors.DiscoveryError, match="error reading the chart index"):
        await charts.discover_charts(sub, cache=metadata_cache)


async def test_oci_chart_tags_read_underscore_as_plus(
    registry, pusher, make_client, metadata_cache
):
    repo = unique_repo("charts") + "/demo"
    for version in ["0.1.0", "0.2.0+build.7", "0.2.0", "1.0.0-alpha"]:
        pusher.helm_chart(repo, version, make_chart_tgz("demo", version))
    pusher.image(repo, "latest")
    client = make_client(registry.host)
    sub = {"repoURL": f"oci://{registry.host}/{repo}", "semverConstraint": "<1.0.0"}
    got = await charts.discover_charts(sub, cache=metadata_cache, registry_client=client)
    # equal precedence: the original strings decide, descending
    assert got == ["0.2.0+build.7", "0.2.0", "0.1.0"]


async def test_oci_chart_subscription_must_not_name_the_chart(
    registry, make_client, metadata_cache
):
    sub = {"repoURL": f"oci://{registry.host}/charts/demo", "name": "demo"}
    with pytest.raises(errors.DiscoveryError, match="name must be empty"):
        await charts.discover_charts(
            sub, cache=metadata_cache, registry_client=make_client(registry.host)
        )
