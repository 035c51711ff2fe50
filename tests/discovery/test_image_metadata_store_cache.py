"""The durable metadata cache over the store: a restart keeps what discovery learned."""

from __future__ import annotations

from kargo.discovery import cache, images
from kargo.store import open_store
from tests.discovery.test_image_metadata_caching import _three_images


async def test_metadata_survives_in_the_store_across_cache_instances(
    registry, pusher, make_client, tmp_path
):
    repo = _three_images(pusher)
    sub = {"repoURL": f"{registry.host}/{repo}"}
    store = await open_store(str(tmp_path / "kargo.db"))
    try:
        await images.discover_images(
            sub, make_client(registry.host), cache.StoreMetadataCache(store)
        )
        fresh = cache.StoreMetadataCache(store)  # empty memory: only the store remembers
        client = make_client(registry.host)
        refs = await images.discover_images(sub, client, fresh)
    finally:
        await store.close()
    assert [r["tag"] for r in refs] == ["1.2.0", "1.1.0", "1.0.0"]
    assert client.counters["manifest-get"] == 0
    assert client.counters["blob-get"] == 0
