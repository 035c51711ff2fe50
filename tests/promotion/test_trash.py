"""A finished promotion's work directory leaves at once and is deleted in the background:
renamed into the work root's trash, which a collector empties after the wave has ended."""

from __future__ import annotations

import asyncio
from pathlib import Path

from kargo.controller.manager import sweep_work_dirs
from kargo.promotion import trash, workdir
from kargo.store import open_store


def _work_dir(root: Path, name: str) -> Path:
    path = root / "demo" / name
    (path / "out" / "env").mkdir(parents=True)
    (path / "out" / "env" / "kustomization.yaml").write_text("images: []\n")
    return path


def test_a_removed_work_dir_is_gone_at_once_and_waits_in_the_trash(tmp_path):
    promo = {"metadata": {"namespace": "demo", "name": "test.01a"}}
    path = _work_dir(tmp_path, "test.01a")
    assert workdir.remove(tmp_path, promo)  # a collection is due
    assert not path.exists()
    waiting = list((tmp_path / trash.TRASH_DIR).iterdir())
    assert len(waiting) == 1
    assert (waiting[0] / "out" / "env" / "kustomization.yaml").read_text() == "images: []\n"
    assert not workdir.remove(tmp_path, promo)  # nothing there any more: nothing to do
    assert trash.empty_trash(tmp_path) == 1
    assert list((tmp_path / trash.TRASH_DIR).iterdir()) == []


def test_two_removals_of_the_same_name_never_collide(tmp_path):
    promo = {"metadata": {"namespace": "demo", "name": "again"}}
    for _ in range(2):
        _work_dir(tmp_path, "again")
        workdir.remove(tmp_path, promo)
    assert len(list((tmp_path / trash.TRASH_DIR).iterdir())) == 2


async def test_the_collector_waits_for_the_wave_to_end_then_empties_the_trash(tmp_path):
    collector = trash.Collector(tmp_path, delay=0.2)
    for index in range(5):  # a wave: removals keep arriving, nothing is deleted meanwhile
        _work_dir(tmp_path, f"p{index}")
        workdir.remove(tmp_path, {"metadata": {"namespace": "demo", "name": f"p{index}"}})
        collector.poke()
        await asyncio.sleep(0.05)
    assert len(list((tmp_path / trash.TRASH_DIR).iterdir())) == 5
    for _ in range(100):
        if not list((tmp_path / trash.TRASH_DIR).iterdir()):
            break
        await asyncio.sleep(0.05)
    assert list((tmp_path / trash.TRASH_DIR).iterdir()) == []


async def test_drain_collects_now(tmp_path):
    collector = trash.Collector(tmp_path, delay=60)
    _work_dir(tmp_path, "p")
    workdir.remove(tmp_path, {"metadata": {"namespace": "demo", "name": "p"}})
    collector.poke()
    await collector.drain()
    assert list((tmp_path / trash.TRASH_DIR).iterdir()) == []


async def test_the_start_up_sweep_empties_what_a_stopped_process_left(tmp_path):
    root = tmp_path / "work"
    _work_dir(root, "left")
    workdir.remove(root, {"metadata": {"namespace": "demo", "name": "left"}})
    store = await open_store(str(tmp_path / "kargo.db"))
    try:
        assert await sweep_work_dirs(store, root) == []
    finally:
        await store.close()
    assert list((root / trash.TRASH_DIR).iterdir()) == []


def test_an_engine_used_on_a_new_event_loop_still_collects(tmp_path):
    collector = trash.Collector(tmp_path, delay=0.05)

    async def remove_and_wait(name: str) -> None:
        _work_dir(tmp_path, name)
        workdir.remove(tmp_path, {"metadata": {"namespace": "demo", "name": name}})
        collector.poke()
        for _ in range(100):
            if not list((tmp_path / trash.TRASH_DIR).iterdir()):
                return
            await asyncio.sleep(0.02)

    async def remove_only(name: str) -> None:
        _work_dir(tmp_path, name)
        workdir.remove(tmp_path, {"metadata": {"namespace": "demo", "name": name}})
        collector.poke()  # the loop ends before the collection runs

    ended = asyncio.new_event_loop()  # closed without cancelling: its task stays pending
    ended.run_until_complete(remove_only("first"))
    ended.close()
    asyncio.run(remove_and_wait("second"))
    assert list((tmp_path / trash.TRASH_DIR).iterdir()) == []
