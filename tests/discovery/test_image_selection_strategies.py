"""Image selection strategies and tag filters, against a real registry (kargo-model.md §3.2)."""

from __future__ import annotations

import pytest

from kargo import errors
from kargo.discovery import images
from tests.fixtures.registry import unique_repo


def _sub(registry, repo, **fields):
    return {"repoURL": f"{registry.host}/{repo}", **fields}


async def _tags(sub, make_client, registry, metadata_cache):
    client = make_client(registry.host)
    refs = await images.discover_images(sub, client, metadata_cache)
    return [r["tag"] for r in refs]


async def test_semver_orders_by_version_and_skips_non_semver_tags(
    registry, pusher, make_client, metadata_cache
):
    repo = unique_repo()
    for tag in ["1.2.0", "1.10.0", "v1.9.0", "latest", "1.0", "2.0.0-rc.1", "0.9.0"]:
        pusher.image(repo, tag)
    got = await _tags(_sub(registry, repo), make_client, registry, metadata_cache)
    # strictSemvers (default) drops "1.0"; no constraint keeps prereleases
    assert got == ["2.0.0-rc.1", "1.10.0", "v1.9.0", "1.2.0", "0.9.0"]


async def test_semver_constraint_and_loose_versions_with_string_tie_break(
    registry, pusher, make_client, metadata_cache
):
    repo = unique_repo()
    for tag in ["1.0", "1.0.0", "1.1.0", "2.0.0", "1.5.0-beta"]:
        pusher.image(repo, tag)
    sub = _sub(registry, repo, constraint="^1.0", strictSemvers=False)
    got = await _tags(sub, make_client, registry, metadata_cache)
    # equal versions 1.0.0 and 1.0: the original string decides, descending
    assert got == ["1.1.0", "1.0.0", "1.0"]


async def test_semver_invalid_constraint_is_a_clear_discovery_error(
    registry, pusher, make_client, metadata_cache
):
    repo = unique_repo()
    pusher.image(repo, "1.0.0")
    with pytest.raises(errors.DiscoveryError, match="invalid constraint"):
        await _tags(
            _sub(registry, repo, constraint=">= what"), make_client, registry, metadata_cache
        )


async def test_lexical_sorts_tag_strings_descending_and_stops_at_the_limit(
    registry, pusher, make_client, metadata_cache
):
    repo = unique_repo()
    for tag in ["build-001", "build-010", "build-002", "nightly"]:
        pusher.image(repo, tag)
    sub = _sub(registry, repo, imageSelectionStrategy="Lexical", discoveryLimit=3)
    client = make_client(registry.host)
    refs = await images.discover_images(sub, client, metadata_cache)
    assert [r["tag"] for r in refs] == ["nightly", "build-010", "build-002"]
    assert all(r["digest"].startswith("sha256:") for r in refs)
    # only the three selected tags were resolved
    assert client.counters["manifest-head"] == 3


async def test_newest_build_orders_by_build_time_with_tag_tie_break(
    registry, pusher, make_client, metadata_cache
):
    repo = unique_repo()
    pusher.image(repo, "a", created="2024-01-01T00:00:00Z")
    pusher.image(repo, "b", created="2024-03-01T00:00:00Z")
    pusher.image(repo, "c", created="2024-03-01T00:00:00Z", content=b"other")
    # annotation wins over the config's created time
    pusher.image(
        repo,
        "d",
        created="2020-01-01T00:00:00Z",
        annotations={"org.opencontainers.image.created": "2025-01-01T00:00:00Z"},
    )
    # label-schema build date in the config labels counts too (the newest of them)
    pusher.image(
        repo,
        "e",
        created="2023-01-01T00:00:00Z",
        labels={"org.label-schema.build-date": "2024-06-01T00:00:00Z"},
    )
    sub = _sub(registry, repo, imageSelectionStrategy="NewestBuild", discoveryLimit=4)
    client = make_client(registry.host)
    refs = await images.discover_images(sub, client, metadata_cache)
    assert [r["tag"] for r in refs] == ["d", "e", "c", "b"]
    assert refs[0]["createdAt"] == "2025-01-01T00:00:00Z"
    assert refs[0]["annotations"] == {"org.opencontainers.image.created": "2025-01-01T00:00:00Z"}
    assert refs[1]["createdAt"] == "2024-06-01T00:00:00Z"


async def test_digest_strategy_follows_one_mutable_tag(
    registry, pusher, make_client, metadata_cache
):
    repo = unique_repo()
    pushed = pusher.image(repo, "latest")
    pusher.image(repo, "1.0.0")
    client = make_client(registry.host)
    sub = _sub(registry, repo, imageSelectionStrategy="Digest", constraint="latest")
    refs = await images.discover_images(sub, client, metadata_cache)
    assert [(r["tag"], r["digest"]) for r in refs] == [("latest", pushed.digest)]
    assert client.counters["tag-list"] == 0


async def test_digest_strategy_with_missing_tag_finds_nothing(
    registry, pusher, make_client, metadata_cache
):
    repo = unique_repo()
    pusher.image(repo, "1.0.0")
    sub = _sub(registry, repo, imageSelectionStrategy="Digest", constraint="latest")
    assert await _tags(sub, make_client, registry, metadata_cache) == []


async def test_digest_strategy_without_constraint_says_what_to_set(
    registry, make_client, metadata_cache
):
    sub = _sub(registry, "x/y", imageSelectionStrategy="Digest")
    with pytest.raises(errors.DiscoveryError, match="constraint set to the mutable tag"):
        await _tags(sub, make_client, registry, metadata_cache)


async def test_ignore_regexes_win_over_allow_regexes(registry, pusher, make_client, metadata_cache):
    repo = unique_repo()
    for tag in ["1.0.0", "1.1.0", "1.2.0", "2.0.0"]:
        pusher.image(repo, tag)
    sub = _sub(registry, repo, allowTagsRegexes=[r"^1\."], ignoreTagsRegexes=[r"^1\.1\.", r"^2"])
    assert await _tags(sub, make_client, registry, metadata_cache) == ["1.2.0", "1.0.0"]


@pytest.mark.parametrize(
    ("field", "value", "instead"),
    [("allowTags", "^v1", "allowTagsRegexes"), ("ignoreTags", ["latest"], "ignoreTagsRegexes")],
)
async def test_deprecated_tag_fields_fail_and_name_the_replacement(
    registry, make_client, metadata_cache, field, value, instead
):
    sub = _sub(registry, "x/y", **{field: value})
    with pytest.raises(errors.DiscoveryError, match=f"use {instead} instead"):
        await _tags(sub, make_client, registry, metadata_cache)


async def test_invalid_regex_is_reported_with_its_field(registry, make_client, metadata_cache):
    sub = _sub(registry, "x/y", allowTagsRegexes=["(unclosed"])
    with pytest.raises(errors.DiscoveryError, match="allowTagsRegexes"):
        await _tags(sub, make_client, registry, metadata_cache)


async def test_unknown_repository_is_a_clear_error(registry, make_client, metadata_cache):
    with pytest.raises(errors.DiscoveryError, match="not found"):
        await _tags(_sub(registry, unique_repo()), make_client, registry, metadata_cache)


async def test_unknown_strategy_lists_the_valid_ones(registry, make_client, metadata_cache):
    sub = _sub(registry, "x/y", imageSelectionStrategy="Newest")
    with pytest.raises(errors.DiscoveryError, match="SemVer, Lexical, NewestBuild, Digest"):
        await _tags(sub, make_client, registry, metadata_cache)
