"""Warehouses under the manager: slow registries, worker concurrency, and the cost of an
unchanged poll.

Starts the test suite's docker-registry behind the fault proxy, which answers every tag list
after DELAY seconds (a slow registry). N Warehouses each subscribe to their own repository.

1. Time until every Warehouse has created its Freight, with 1, 4 and 16 workers
   (MAX_CONCURRENT_WAREHOUSE_RECONCILES). Ratios are against 1 worker, measured in the same run.
   The target is near-linear speed-up: one slow registry answer holds up one worker, not the
   others.
2. Registry requests of a first discovery against an unchanged re-poll of the same Warehouses
   (a ManualClock moved past the interval). The target: the re-poll fetches no manifest and no
   blob (metadata is cached by digest in the store), and creates no Freight.

Run: .venv/bin/python -m benchmarks.warehouse_reconcile [--warehouses N] [--delay S]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from kargo.clock import ManualClock, SystemClock
from kargo.controller import promotions, runtime, warehouses
from kargo.git import mirror
from kargo.store import interface, open_store
from tests.fixtures.registry import Pusher, running_registry
from tests.fixtures.registry_proxy import FaultProxy

NS = "bench"


async def fresh_store(tmp: Path, name: str, repos: list[str], host: str) -> Any:
    store = await open_store(f"sqlite:///{tmp / name}.db")
    await store.create(
        {"apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Project", "metadata": {"name": NS}}
    )
    for i, repo in enumerate(repos):
        await store.create(
            {
                "apiVersion": "kargo.akuity.io/v1alpha1",
                "kind": "Warehouse",
                "metadata": {"name": f"w{i:03d}", "namespace": NS},
                "spec": {"subscriptions": [{"image": {"repoURL": f"{host}/{repo}"}}]},
            }
        )
    return store


def reconciler(store: Any, clock: Any, tmp: Path) -> warehouses.WarehouseReconciler:
    return warehouses.WarehouseReconciler(
        store,
        clock,
        mirrors=mirror.MirrorCache(tmp / "mirrors"),
        config=warehouses.WarehouseConfig(registry_rate_limit=100_000.0),
        events=promotions.MemoryEvents(),
    )


async def run_manager(tmp: Path, repos: list[str], host: str, workers: int) -> float:
    store = await fresh_store(tmp, f"c{workers}", repos, host)
    clock = SystemClock()
    manager = runtime.Manager(store, clock, resync=None)
    manager.register("Warehouse", reconciler(store, clock, tmp), concurrency=workers)
    stop = asyncio.Event()
    start = time.perf_counter()
    task = asyncio.create_task(manager.run(stop))
    try:
        while True:
            page = await store.list("Freight", interface.ListOptions(namespace=NS))
            if len(page.items) == len(repos):
                return time.perf_counter() - start
            await asyncio.sleep(0.01)
    finally:
        stop.set()
        await task
        await store.close()


async def repoll_cost(tmp: Path, repos: list[str], proxy: FaultProxy) -> tuple[int, int, int, int]:
    store = await fresh_store(tmp, "repoll", repos, proxy.host)
    clock = ManualClock()
    rec = reconciler(store, clock, tmp)
    keys = [interface.ObjectKey("Warehouse", NS, f"w{i:03d}") for i in range(len(repos))]
    before = len(proxy.requests)
    await asyncio.gather(*(rec.reconcile(k) for k in keys))
    first = proxy.requests[before:]
    clock.advance(timedelta(minutes=5))
    before = len(proxy.requests)
    await asyncio.gather(*(rec.reconcile(k) for k in keys))
    second = proxy.requests[before:]
    freight = len((await store.list("Freight", interface.ListOptions(namespace=NS))).items)
    await store.close()

    def fetches(reqs: list[tuple[str, str]]) -> int:
        return sum(1 for m, p in reqs if m == "GET" and ("/manifests/" in p or "/blobs/" in p))

    assert freight == len(repos), "an unchanged re-poll must not create Freight"
    return len(first), fetches(first), len(second), fetches(second)


async def main(count: int, delay: float) -> None:
    with tempfile.TemporaryDirectory() as tmp_name, running_registry(Path(tmp_name)) as reg:
        tmp = Path(tmp_name)
        repos = [f"bench/app{i:03d}" for i in range(count)]
        with Pusher(reg.url) as pusher:
            for repo in repos:
                pusher.image(repo, "1.0.0")
                pusher.image(repo, "1.1.0")
        proxy = FaultProxy(reg.url)
        proxy.start()
        try:
            proxy.fail("slow", times=10**9, path="/tags/list", delay=delay)
            print(f"{count} Warehouses, each tag list answered after {delay:.2f}s")
            base = None
            for workers in (1, 4, 16):
                took = await run_manager(tmp, repos, proxy.host, workers)
                base = base or took
                print(
                    f"  {workers:2d} worker(s): all Freight after {took:6.2f}s  "
                    f"speed-up x{base / took:4.1f}"
                )
            proxy.faults.clear()
            total1, fetch1, total2, fetch2 = await repoll_cost(tmp, repos, proxy)
            print(
                f"registry requests, first discovery: {total1} ({fetch1} manifest/blob GETs); "
                f"unchanged re-poll: {total2} ({fetch2} GETs), ratio {total2 / total1:.2f}"
            )
            print(
                f"target re-poll fetches no manifest or blob: {'MET' if fetch2 == 0 else 'MISSED'}"
            )
        finally:
            proxy.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--warehouses", type=int, default=32)
    parser.add_argument("--delay", type=float, default=0.25)
    args = parser.parse_args()
    asyncio.run(main(args.warehouses, args.delay))
