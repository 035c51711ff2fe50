"""Multi-arch images: OCI indexes and Docker manifest lists, platform filtering, build times."""

from __future__ import annotations

import pytest

from kargo import errors
from kargo.discovery import images
from tests.fixtures.registry import unique_repo


def _multi(
    pusher,
    repo,
    tag,
    *,
    docker=False,
    created=("2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z"),
    **kw,
):
    amd = pusher.image(
        repo,
        None,
        arch="amd64",
        created=created[0],
        docker=docker,
        annotations={"arch-note": "amd"},
    )
    arm = pusher.image(repo, None, arch="arm64", variant="v8", created=created[1], docker=docker)
    return pusher.index(repo, tag, [amd, arm], docker=docker, **kw)


async def _discover(sub, make_client, registry, cache):
    return await images.discover_images(sub, make_client(registry.host), cache)


@pytest.mark.parametrize("docker", [False, True], ids=["oci-index", "docker-manifest-list"])
async def test_platform_filter_selects_indexes_holding_that_platform(
    registry, pusher, make_client, metadata_cache, docker
):
    repo = unique_repo()
    index = _multi(pusher, repo, "1.0.0", docker=docker)
    amd_only = pusher.image(repo, None, arch="amd64", docker=docker)
    pusher.index(repo, "1.1.0", [amd_only], docker=docker)
    base = {"repoURL": f"{registry.host}/{repo}"}

    refs = await _discover(
        {**base, "platform": "linux/arm64/v8"}, make_client, registry, metadata_cache
    )
    assert [(r["tag"], r["digest"]) for r in refs] == [("1.0.0", index.digest)]
    # the newest child's time when the index has no annotation of its own
    assert refs[0]["createdAt"] == "2024-02-01T00:00:00Z"

    refs = await _discover(
        {**base, "platform": "linux/amd64"}, make_client, registry, metadata_cache
    )
    assert [r["tag"] for r in refs] == ["1.1.0", "1.0.0"]
    # platform-specific annotations are merged into the reference
    assert refs[1]["annotations"] == {"arch-note": "amd"}

    # variant must match exactly
    refs = await _discover(
        {**base, "platform": "linux/arm64"}, make_client, registry, metadata_cache
    )
    assert refs == []


async def test_single_arch_image_never_matches_a_platform_constraint(
    registry, pusher, make_client, metadata_cache
):
    repo = unique_repo()
    pusher.image(repo, "1.0.0", arch="amd64")
    sub = {"repoURL": f"{registry.host}/{repo}", "platform": "linux/amd64"}
    assert await _discover(sub, make_client, registry, metadata_cache) == []
    del sub["platform"]
    assert len(await _discover(sub, make_client, registry, metadata_cache)) == 1


async def test_index_annotation_time_wins_and_attestation_entries_are_skipped(
    registry, pusher, make_client, metadata_cache
):
    repo = unique_repo()
    attestation = pusher.image(repo, None, content=b"attestation")
    _multi(
        pusher,
        repo,
        "2.0.0",
        annotations={"org.opencontainers.image.created": "2030-05-05T05:05:05Z"},
        extra_entries=[
            {
                "mediaType": attestation.media_type,
                "digest": attestation.digest,
                "size": attestation.size,
                "platform": {"os": "unknown", "architecture": "unknown"},
            }
        ],
    )
    sub = {"repoURL": f"{registry.host}/{repo}", "imageSelectionStrategy": "NewestBuild"}
    client = make_client(registry.host)
    refs = await images.discover_images(sub, client, metadata_cache)
    assert refs[0]["createdAt"] == "2030-05-05T05:05:05Z"
    # the index and its two image children are read; the attestation is not
    assert client.counters["manifest-get"] == 3
    assert client.counters["blob-get"] == 2
    sub["platform"] = "unknown/unknown"
    assert await _discover(sub, make_client, registry, metadata_cache) == []


async def test_newest_build_with_platform_ranks_only_matching_images(
    registry, pusher, make_client, metadata_cache
):
    repo = unique_repo()
    _multi(pusher, repo, "old", created=("2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z"))
    pusher.image(repo, "newest-amd-only", arch="amd64", created="2025-01-01T00:00:00Z")
    _multi(pusher, repo, "new", created=("2024-06-01T00:00:00Z", "2024-06-02T00:00:00Z"))
    sub = {
        "repoURL": f"{registry.host}/{repo}",
        "imageSelectionStrategy": "NewestBuild",
        "platform": "linux/arm64/v8",
    }
    refs = await _discover(sub, make_client, registry, metadata_cache)
    assert [r["tag"] for r in refs] == ["new", "old"]


@pytest.mark.parametrize("bad", ["linux", "linux/", "a/b/c/d"])
async def test_malformed_platform_is_reported(registry, make_client, metadata_cache, bad):
    sub = {"repoURL": f"{registry.host}/x/y", "platform": bad}
    with pytest.raises(errors.DiscoveryError, match="os/arch"):
        await _discover(sub, make_client, registry, metadata_cache)
