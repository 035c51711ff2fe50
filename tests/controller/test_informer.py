"""The pipeline informer: lists once, applies the store's watch events, keeps its indexes, and
never serves a read older than the store (a real SQLite store)."""

from __future__ import annotations

from datetime import timedelta

from kargo.controller import informer as informer_mod
from kargo.store import open_store, sql
from tests.controller.test_stage_world import API, NS, World, request


def names(objs):
    return [o["metadata"]["name"] for o in objs]


async def set_status(store, kind, name, **fields):
    obj = await store.get(kind, NS, name)
    obj["status"] = {**(obj.get("status") or {}), **fields}
    return await store.update_status(obj)


async def test_first_sync_lists_every_kind_once_and_later_syncs_apply_events(store, world):
    await world.stage("test")
    cache = informer_mod.Informer(store)
    await cache.sync()
    assert names(cache.in_namespace("Stage", NS)) == ["test"]
    await world.stage("uat", request(stages_=["test"]))
    await world.freight("f1")
    await cache.sync()
    assert names(cache.in_namespace("Stage", NS)) == ["test", "uat"]
    assert names(cache.in_namespace("Freight", NS)) == ["f1"]
    assert cache.lists == 1
    assert cache.resource_version == int(await store.current_resource_version())


async def test_a_write_is_visible_to_the_next_sync_without_any_watcher_running(store, world):
    cache = informer_mod.Informer(store)
    await cache.sync()
    stored = await world.freight("f1")
    await cache.sync()
    cached = cache.get("Freight", NS, "f1")
    assert cached is not None
    assert cached["metadata"]["resourceVersion"] == stored["metadata"]["resourceVersion"]


async def test_status_changes_move_freight_between_verified_and_approved_indexes(store, world):
    await world.freight("f1")
    await world.freight("f2", warehouse="other")
    cache = informer_mod.Informer(store)
    await cache.sync()
    assert names(cache.by_index("Freight", "origin", NS, "Warehouse/w")) == ["f1"]
    assert names(cache.by_index("Freight", "origin", NS, "Warehouse/other")) == ["f2"]
    assert cache.by_index("Freight", "verifiedIn", NS, "test") == []
    await set_status(store, "Freight", "f1", verifiedIn={"test": {}}, approvedFor={"prod": {}})
    await cache.sync()
    assert names(cache.by_index("Freight", "verifiedIn", NS, "test")) == ["f1"]
    assert names(cache.by_index("Freight", "approvedFor", NS, "prod")) == ["f1"]
    await set_status(store, "Freight", "f1", verifiedIn={}, approvedFor={})
    await cache.sync()
    assert cache.by_index("Freight", "verifiedIn", NS, "test") == []
    assert cache.by_index("Freight", "approvedFor", NS, "prod") == []


async def test_stages_are_indexed_by_requested_origin_and_upstream_stage(store, world):
    await world.stage("test")
    await world.stage("uat", request(stages_=["test"]))
    await world.stage("other", request("w2", direct=True))
    cache = informer_mod.Informer(store)
    await cache.sync()
    assert names(cache.by_index("Stage", "origin", NS, "Warehouse/w")) == ["test", "uat"]
    assert names(cache.by_index("Stage", "origin", NS, "Warehouse/w2")) == ["other"]
    assert names(cache.by_index("Stage", "upstream", NS, "test")) == ["uat"]


async def test_promotions_are_indexed_by_stage(store, world):
    await world.stage("test")
    await world.stage("uat")
    await world.freight("f1")
    cache = informer_mod.Informer(store)
    await cache.sync()
    promo = await world.promote("uat", "f1")
    await cache.sync()
    assert names(cache.by_index("Promotion", "stage", NS, "uat")) == [promo["metadata"]["name"]]
    assert cache.by_index("Promotion", "stage", NS, "test") == []


async def test_a_delete_removes_the_object_from_every_index_and_bumps_its_buckets(store, world):
    await world.freight("f1")
    await set_status(store, "Freight", "f1", verifiedIn={"test": {}})
    cache = informer_mod.Informer(store)
    await cache.sync()
    before = cache.bucket_version("Freight", "verifiedIn", NS, "test")
    await store.delete("Freight", NS, "f1")
    await cache.sync()
    assert cache.get("Freight", NS, "f1") is None
    assert cache.version("Freight", NS, "f1") is None
    assert cache.by_index("Freight", "origin", NS, "Warehouse/w") == []
    assert cache.by_index("Freight", "verifiedIn", NS, "test") == []
    assert cache.bucket_version("Freight", "verifiedIn", NS, "test") > before


async def test_a_bucket_version_moves_only_when_a_member_changes(store, world):
    await world.freight("f1")
    await world.freight("g1", warehouse="other")
    cache = informer_mod.Informer(store)
    await cache.sync()
    w_before = cache.bucket_version("Freight", "origin", NS, "Warehouse/w")
    other_before = cache.bucket_version("Freight", "origin", NS, "Warehouse/other")
    await set_status(store, "Freight", "g1", approvedFor={"uat": {}})
    await cache.sync()
    assert cache.bucket_version("Freight", "origin", NS, "Warehouse/w") == w_before
    assert cache.bucket_version("Freight", "origin", NS, "Warehouse/other") > other_before


async def test_replaying_an_older_event_never_replaces_a_newer_object(store, world):
    await world.freight("f1")
    cache = informer_mod.Informer(store)
    await cache.sync()
    current = cache.get("Freight", NS, "f1")
    version = cache.version("Freight", NS, "f1")
    stale = {**current, "status": {"verifiedIn": {"test": {}}}}
    cache.apply("MODIFIED", stale, version - 1)
    cache.apply("DELETED", stale, version)
    assert cache.get("Freight", NS, "f1") is current
    assert cache.by_index("Freight", "verifiedIn", NS, "test") == []


async def test_a_new_informer_on_a_restarted_store_sees_the_same_objects(tmp_path):
    url = f"sqlite:///{tmp_path}/kargo.db"
    first = await open_store(url)
    w = World(first, tmp_path)
    await w.project()
    await w.stage("test")
    await w.freight("f1")
    before = informer_mod.Informer(first)
    await before.sync()
    await first.close()
    again = await open_store(url)
    try:
        w = World(again, tmp_path)
        await w.freight("f2")
        after = informer_mod.Informer(again)
        await after.sync()
        assert names(after.in_namespace("Freight", NS)) == ["f1", "f2"]
        assert names(after.in_namespace("Stage", NS)) == ["test"]
        assert after.get("Stage", NS, "test") == before.get("Stage", NS, "test")
    finally:
        await again.close()


async def test_a_watch_from_a_compacted_version_lists_again(tmp_path):
    retention = sql.EventRetention(max_events=1, max_age=timedelta(hours=24))
    store = await open_store(f"sqlite:///{tmp_path}/kargo.db", retention=retention)
    try:
        w = World(store, tmp_path)
        await w.project()
        cache = informer_mod.Informer(store)
        await cache.sync()
        await w.freight("f1")
        await w.freight("f2")
        await store.compact()
        await cache.sync()
        assert cache.lists == 2
        assert names(cache.in_namespace("Freight", NS)) == ["f1", "f2"]
    finally:
        await store.close()


async def test_project_configs_are_cached_by_name(store, world):
    await world.policies({"stageSelector": {"name": "test"}, "autoPromotionEnabled": True})
    cache = informer_mod.Informer(store)
    await cache.sync()
    config = cache.get("ProjectConfig", NS, NS)
    assert config is not None
    assert config["apiVersion"] == API
