"""The keyed work queue: dedup, per-key serialisation, delays, backoff."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from kargo.clock import ManualClock
from kargo.controller.queue import ShutDown, WorkQueue


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture
def queue(clock):
    return WorkQueue(clock)


async def test_a_key_added_twice_is_queued_once(queue):
    queue.add("a")
    queue.add("a")
    queue.add("b")
    assert len(queue) == 2
    assert await queue.get() == "a"
    assert await queue.get() == "b"


async def test_a_key_being_processed_is_not_handed_out_again_until_done(queue):
    queue.add("a")
    key = await queue.get()
    queue.add("a")
    assert len(queue) == 0
    assert queue.get_nowait() is None
    queue.done(key)
    assert len(queue) == 1
    assert await queue.get() == "a"


async def test_done_without_a_new_add_does_not_requeue(queue):
    queue.add("a")
    queue.done(await queue.get())
    assert len(queue) == 0


async def test_a_delayed_key_is_queued_only_when_due(queue, clock):
    queue.add_after("a", timedelta(seconds=30))
    assert queue.promote_due() == 0
    clock.advance(29)
    assert queue.promote_due() == 0
    clock.advance(1)
    assert queue.promote_due() == 1
    assert queue.get_nowait() == "a"


async def test_the_earliest_pending_due_time_wins(queue, clock):
    queue.add_after("a", 60)
    queue.add_after("a", 10)
    queue.add_after("a", 30)
    clock.advance(10)
    assert queue.promote_due() == 1
    clock.advance(100)
    assert queue.promote_due() == 0


async def test_an_immediate_add_supersedes_a_delay(queue, clock):
    queue.add_after("a", 60)
    queue.add("a")
    assert queue.get_nowait() == "a"
    clock.advance(60)
    assert queue.promote_due() == 0


async def test_backoff_doubles_from_one_second_and_caps_at_two_minutes(queue):
    delays = [queue.add_rate_limited("a").total_seconds() for _ in range(9)]
    assert delays == [1, 2, 4, 8, 16, 32, 64, 120, 120]
    queue.forget("a")
    assert queue.backoff("a") == timedelta(seconds=1)


async def test_get_waits_for_a_key(queue):
    waiter = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    assert not waiter.done()
    queue.add("x")
    assert await asyncio.wait_for(waiter, 5) == "x"


async def test_shutdown_releases_waiting_workers(queue):
    waiter = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    queue.shutdown()
    with pytest.raises(ShutDown):
        await asyncio.wait_for(waiter, 5)


async def test_the_delay_task_promotes_keys_when_their_time_comes(queue, clock):
    runner = asyncio.create_task(queue.run_delays())
    queue.add_after("a", 5)
    await asyncio.sleep(0)
    clock.advance(5)
    queue.add_after("b", 1000)  # any change of delays wakes the task, which re-checks the clock
    assert await asyncio.wait_for(queue.get(), 5) == "a"
    queue.shutdown()
    await asyncio.wait_for(runner, 5)
