"""What a discovery costs in registry requests, first time and when nothing changed."""

from __future__ import annotations

import pytest

from kargo import errors
from kargo.discovery import cache, images
from tests.fixtures.registry import unique_repo


def _counts(client):
    return {
        k: client.counters[k] for k in ("tag-list", "manifest-head", "manifest-get", "blob-get")
    }


def _three_images(pusher):
    repo = unique_repo()
    for i, tag in enumerate(["1.0.0", "1.1.0", "1.2.0"]):
        pusher.image(repo, tag, created=f"2024-01-0{i + 1}T00:00:00Z")
    return repo


async def test_known_digests_cost_one_head_per_tag_and_no_get(
    registry, pusher, make_client, metadata_cache
):
    repo = _three_images(pusher)
    sub = {"repoURL": f"{registry.host}/{repo}"}
    first = make_client(registry.host)
    refs1 = await images.discover_images(sub, first, metadata_cache)
    assert _counts(first) == {"tag-list": 1, "manifest-head": 3, "manifest-get": 3, "blob-get": 3}

    second = make_client(registry.host)
    refs2 = await images.discover_images(sub, second, metadata_cache)
    assert refs2 == refs1
    assert _counts(second) == {"tag-list": 1, "manifest-head": 3, "manifest-get": 0, "blob-get": 0}


async def test_cache_by_tag_makes_a_second_discovery_cost_only_the_tag_list(
    registry, pusher, make_client, metadata_cache
):
    repo = _three_images(pusher)
    sub = {
        "repoURL": f"{registry.host}/{repo}",
        "imageSelectionStrategy": "NewestBuild",
        "cacheByTag": True,
    }
    await images.discover_images(sub, make_client(registry.host), metadata_cache)
    second = make_client(registry.host)
    refs = await images.discover_images(sub, second, metadata_cache)
    assert [r["tag"] for r in refs] == ["1.2.0", "1.1.0", "1.0.0"]
    assert _counts(second) == {"tag-list": 1, "manifest-head": 0, "manifest-get": 0, "blob-get": 0}


async def test_a_moved_tag_is_seen_without_cache_by_tag(
    registry, pusher, make_client, metadata_cache
):
    repo = unique_repo()
    pusher.image(repo, "latest", created="2024-01-01T00:00:00Z")
    sub = {
        "repoURL": f"{registry.host}/{repo}",
        "imageSelectionStrategy": "Digest",
        "constraint": "latest",
        "cacheByTag": True,
    }
    first = await images.discover_images(sub, make_client(registry.host), metadata_cache)
    moved = pusher.image(repo, "latest", created="2024-02-01T00:00:00Z")
    second = await images.discover_images(sub, make_client(registry.host), metadata_cache)
    # Digest is never cached by tag, so the move shows
    assert first[0]["digest"] != second[0]["digest"] == moved.digest


async def test_many_tags_on_one_digest_fetch_its_metadata_once(
    registry, pusher, make_client, metadata_cache
):
    repo = unique_repo()
    pushed = pusher.image(repo, "t00")
    for i in range(1, 20):
        pusher.retag(repo, f"t{i:02d}", pushed)
    sub = {
        "repoURL": f"{registry.host}/{repo}",
        "imageSelectionStrategy": "NewestBuild",
        "discoveryLimit": 5,
    }
    client = make_client(registry.host)
    refs = await images.discover_images(sub, client, metadata_cache)
    assert [r["tag"] for r in refs] == ["t19", "t18", "t17", "t16", "t15"]  # same time: by tag
    assert _counts(client) == {"tag-list": 1, "manifest-head": 20, "manifest-get": 1, "blob-get": 1}


async def test_in_memory_cache_evicts_least_recently_used():
    lru = cache.InMemoryMetadataCache(max_entries=2)
    await lru.put("b", "1", {"v": 1})
    await lru.put("b", "2", {"v": 2})
    assert await lru.get("b", "1") == {"v": 1}  # 1 is now the most recent
    await lru.put("b", "3", {"v": 3})
    assert await lru.get("b", "2") is None
    assert await lru.get("b", "1") == {"v": 1}
    assert len(lru) == 2


@pytest.mark.parametrize(
    ("policy", "set_", "expected"),
    [
        ("Allow", False, False),
        ("Allow", True, True),
        ("Force", False, True),
        ("Require", True, True),
        ("Forbid", False, False),
    ],
)
def test_cache_by_tag_policy_decides_with_the_subscription(policy, set_, expected):
    sub = {"repoURL": "r/x", "cacheByTag": set_}
    assert images.effective_cache_by_tag(sub, policy) is expected
    digest = {**sub, "imageSelectionStrategy": "Digest"}
    if policy != "Forbid" or not set_:
        assert images.effective_cache_by_tag(digest, policy) is False


@pytest.mark.parametrize(
    ("policy", "set_", "match"),
    [("Forbid", True, "forbidden"), ("Require", False, "requires cacheByTag")],
)
def test_cache_by_tag_policy_violations_say_what_to_change(policy, set_, match):
    with pytest.raises(errors.DiscoveryError, match=match):
        images.effective_cache_by_tag({"repoURL": "r/x", "cacheByTag": set_}, policy)
