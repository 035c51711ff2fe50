"""Watch: an ordered stream of ADDED/MODIFIED/DELETED from a resourceVersion; nothing is lost
between a list and the following watch, across a reopen too; compacted history is a
ConflictError ("resourceVersion too old"), like Kubernetes' 410."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from kargo import errors
from kargo.store import EventRetention, interface, open_store
from tests.store.conftest import next_event, project, stage


async def test_watch_from_a_list_sees_every_later_change_in_order(store):
    await store.create(stage("a"))
    listed = await store.list("Stage")
    events = store.watch("Stage", since=listed.resource_version)
    try:
        b = await store.create(stage("b"))
        a = await store.get("Stage", "demo", "a")
        a2 = await store.update(dict(a, spec={"x": 1}))
        await store.update_status(dict(a2, status={"phase": "Steady"}))
        await store.delete("Stage", "demo", "b")
        got = [await next_event(events) for _ in range(4)]
        assert [(e.type, e.object["metadata"]["name"]) for e in got] == [
            ("ADDED", "b"),
            ("MODIFIED", "a"),
            ("MODIFIED", "a"),
            ("DELETED", "b"),
        ]
        assert got[0].object == b
        assert got[2].object["status"] == {"phase": "Steady"}
        rvs = [e.resource_version for e in got]
        assert rvs == sorted(rvs)
        assert all(int(e.object["metadata"]["resourceVersion"]) == e.resource_version for e in got)
    finally:
        await events.aclose()


async def test_writes_between_list_and_watch_start_are_not_lost(store):
    listed = await store.list("Stage")
    await store.create(stage("during"))
    events = store.watch("Stage", since=listed.resource_version)
    try:
        assert (await next_event(events)).object["metadata"]["name"] == "during"
    finally:
        await events.aclose()


async def test_watch_from_now_skips_history(store):
    await store.create(stage("old"))
    events = store.watch("Stage")
    try:
        first = asyncio.ensure_future(next_event(events))
        await asyncio.sleep(0.05)
        await store.create(stage("new"))
        assert (await first).object["metadata"]["name"] == "new"
    finally:
        await events.aclose()


async def test_a_waiting_watcher_is_woken_by_a_write(store):
    events = store.watch("Stage", since=await store.current_resource_version())
    try:
        pending = asyncio.ensure_future(next_event(events))
        await asyncio.sleep(0.05)
        assert not pending.done()
        await store.create(stage("x"))
        assert (await pending).type == "ADDED"
    finally:
        await events.aclose()


async def test_watch_filters_by_kind_namespace_and_fields(store):
    start = await store.current_resource_version()
    await store.create(project("demo"))
    await store.create(stage("a", project="other"))
    await store.create(stage("b"))
    await store.create(stage("c"))
    by_ns = store.watch("Stage", interface.ListOptions(namespace="demo"), since=start)
    by_name = store.watch(
        "Stage", interface.ListOptions(field_selector={"metadata.name": "c"}), since=start
    )
    every = store.watch(None, since=start)
    try:
        assert [(await next_event(by_ns)).object["metadata"]["name"] for _ in range(2)] == [
            "b",
            "c",
        ]
        assert (await next_event(by_name)).object["metadata"]["name"] == "c"
        kinds = [(await next_event(every)).object["kind"] for _ in range(4)]
        assert kinds == ["Project", "Stage", "Stage", "Stage"]
    finally:
        for it in (by_ns, by_name, every):
            await it.aclose()


async def test_label_filtered_watch_turns_relabels_into_added_and_deleted(store):
    start = await store.current_resource_version()
    obj = await store.create(stage("a", labels={"env": "dev"}))
    obj["metadata"]["labels"] = {"env": "prod"}
    obj = await store.update(obj)
    obj = await store.update(dict(obj, spec={"x": 1}))
    obj["metadata"]["labels"] = {"env": "dev"}
    obj = await store.update(obj)
    await store.create(stage("marker", labels={"env": "prod"}))
    events = store.watch("Stage", interface.ListOptions(label_selector="env=prod"), since=start)
    try:
        got = [await next_event(events) for _ in range(4)]
        assert [(e.type, e.object["metadata"]["name"]) for e in got] == [
            ("ADDED", "a"),
            ("MODIFIED", "a"),
            ("DELETED", "a"),
            ("ADDED", "marker"),
        ]
    finally:
        await events.aclose()


async def test_project_cascade_emits_a_deleted_event_per_object(store):
    await store.create(project("demo"))
    await store.create(stage("a"))
    await store.create(stage("b"))
    start = await store.current_resource_version()
    await store.delete("Project", "", "demo")
    events = store.watch(None, since=start)
    try:
        got = [await next_event(events) for _ in range(3)]
        assert [(e.type, e.object["kind"], e.object["metadata"]["name"]) for e in got] == [
            ("DELETED", "Stage", "a"),
            ("DELETED", "Stage", "b"),
            ("DELETED", "Project", "demo"),
        ]
    finally:
        await events.aclose()


async def test_watch_resumes_across_a_reopen(store_url, clock):
    first = await open_store(store_url, clock=clock)
    await first.create(stage("before"))
    rv = await first.current_resource_version()
    await first.create(stage("after-1"))
    await first.close()

    second = await open_store(store_url, clock=clock)
    try:
        await second.create(stage("after-2"))
        events = second.watch("Stage", since=rv)
        try:
            names = [(await next_event(events)).object["metadata"]["name"] for _ in range(2)]
            assert names == ["after-1", "after-2"]
        finally:
            await events.aclose()
        assert int(await second.current_resource_version()) == int(rv) + 2
    finally:
        await second.close()


async def test_watch_from_compacted_history_is_too_old(store_url, clock):
    opened = await open_store(
        store_url, clock=clock, retention=EventRetention(max_events=2, compact_every_writes=10_000)
    )
    try:
        for i in range(5):
            await opened.create(stage(f"s{i}"))
        assert await opened.compact() == 3
        with pytest.raises(errors.ConflictError, match="resourceVersion too old"):
            await next_event(opened.watch("Stage", since="1"))
        events = opened.watch("Stage", since="3")
        try:
            assert (await next_event(events)).object["metadata"]["name"] == "s3"
        finally:
            await events.aclose()
    finally:
        await opened.close()


async def test_events_older_than_the_retention_age_are_compacted(store_url, clock):
    opened = await open_store(
        store_url,
        clock=clock,
        retention=EventRetention(max_age=timedelta(hours=1), compact_every_writes=10_000),
    )
    try:
        await opened.create(stage("old"))
        clock.advance(timedelta(hours=2))
        await opened.create(stage("new"))
        assert await opened.compact() == 1
        with pytest.raises(errors.ConflictError, match="too old"):
            await next_event(opened.watch("Stage", since="0"))
    finally:
        await opened.close()


async def test_a_quiet_kind_is_not_too_old_after_compaction(store_url, clock):
    opened = await open_store(
        store_url, clock=clock, retention=EventRetention(max_events=1, compact_every_writes=10_000)
    )
    try:
        await opened.create(project("p"))
        events = opened.watch("Project", since=await opened.current_resource_version())
        try:
            pending = asyncio.ensure_future(next_event(events))
            for i in range(5):
                await opened.create(stage(f"s{i}"))
            await asyncio.sleep(0.05)
            await opened.compact()
            await opened.create(project("q"))
            assert (await pending).object["metadata"]["name"] == "q"
        finally:
            await events.aclose()
    finally:
        await opened.close()


async def test_compaction_runs_on_its_own_after_enough_writes(store_url, clock):
    opened = await open_store(
        store_url, clock=clock, retention=EventRetention(max_events=3, compact_every_writes=5)
    )
    try:
        for i in range(6):
            await opened.create(stage(f"s{i}"))
        with pytest.raises(errors.ConflictError, match="too old"):
            await next_event(opened.watch("Stage", since="0"))
    finally:
        await opened.close()


async def test_bad_resource_version_is_a_validation_error(store):
    with pytest.raises(errors.ValidationError):
        await next_event(store.watch("Stage", since="abc"))


async def test_closing_the_store_ends_its_watches(store_url, clock):
    opened = await open_store(store_url, clock=clock)
    events = opened.watch("Stage")
    pending = asyncio.ensure_future(next_event(events))
    await asyncio.sleep(0.05)
    await opened.close()
    with pytest.raises(StopAsyncIteration):
        await pending
