"""Two controller replicas on one database split the work: every step runs exactly once."""

from __future__ import annotations

import asyncio

import pytest

from kargo.clock import ManualClock
from kargo.controller import manager as manager_mod
from kargo.store import open_store
from tests.controller import objects
from tests.controller.teststeps import make_registry

STAGES = ("dev", "qa", "prod")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/kargo.db"
    return request.getfixturevalue("pg_url")


async def test_two_replicas_run_each_promotion_once(store_url, tmp_path):
    stores = [await open_store(store_url) for _ in range(3)]
    setup, replicas = stores[0], stores[1:]
    stop = asyncio.Event()
    tasks = []
    try:
        markers = tmp_path / "markers"
        for i, stage in enumerate(STAGES):
            await setup.create(objects.stage(stage))
            await setup.create(objects.freight(f"f{i}"))
            for n in range(2):
                await setup.create(
                    objects.promotion(
                        f"{stage}.01{n}.f{i}",
                        [
                            {
                                "uses": "record",
                                "as": f"{stage}-{n}-a",
                                "config": {"markers": str(markers)},
                            },
                            {
                                "uses": "record",
                                "as": f"{stage}-{n}-b",
                                "config": {"markers": str(markers)},
                            },
                        ],
                        stage=stage,
                        freight=f"f{i}",
                    )
                )
        for r, store in enumerate(replicas):
            tasks.append(
                asyncio.create_task(
                    manager_mod.run_controllers(
                        store,
                        clock=ManualClock(),
                        registry=make_registry(),
                        work_root=tmp_path / f"work-{r}",
                        stop=stop,
                    )
                )
            )

        async def all_done():
            while True:
                page = await setup.list("Promotion")
                phases = [(p.get("status") or {}).get("phase") for p in page.items]
                stages = [(await setup.get("Stage", "demo", s)).get("status") or {} for s in STAGES]
                recorded = all(
                    "lastPromotion" in st and "currentPromotion" not in st for st in stages
                )
                if recorded and all(ph == "Succeeded" for ph in phases):
                    return
                bad = [ph for ph in phases if ph in ("Failed", "Errored", "Aborted")]
                assert not bad, [p.get("status") for p in page.items]
                await asyncio.sleep(0.05)

        await asyncio.wait_for(all_done(), 60)
        ran = sorted(m.name for m in markers.iterdir())
        expected = sorted(f"{s}-{n}-{x}.1" for s in STAGES for n in range(2) for x in "ab")
        assert ran == expected
        for stage in STAGES:
            obj = await setup.get("Stage", "demo", stage)
            assert obj["status"]["lastPromotion"]["name"] == f"{stage}.011.f{STAGES.index(stage)}"
    finally:
        stop.set()
        for task in tasks:
            await asyncio.wait_for(task, 20)
        for store in stores:
            await store.close()
