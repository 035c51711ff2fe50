"""Cost of listing one 100-item page of Freight through the store, against raw sqlite3.

Seeds 10,000 Freight-shaped objects into one project of a SQLite store, then times, in the same
run and on the same file:
- the store: `store.list("Freight", ListOptions(namespace=..., limit=100[, continue_token]))`;
- baseline A: a raw `sqlite3` SELECT of the same 100 rows (JSON text, not decoded);
- baseline B: the same SELECT plus `json.loads` of each row (what any reader must do to get
  objects back);
- baseline C: the same SELECT plus `orjson.loads` (the fastest way to get the objects back;
  the store uses orjson too).
It prints the medians (wall and CPU time), the ratios of the store to each baseline, and the
"decode floor" C/A: what any reader returning dicts pays over the bare SELECT. The issue's
target was store/A <= 3x; decoding 100 objects alone costs about 3-5x A (the floor), so the
store is best judged against C, which returns the same dicts the store does (store/C ~ 1.0-1.1x
once the store's own overhead is gone; see `kargo.store.reads`).

Reusable pieces for other benchmarks (e.g. the server's HTTP p50 on the same data):
`freight(i, project)`, `seed_store(store, count, project)` and `open_seeded_store(path, count)`.

Run: .venv/bin/python -m benchmarks.store_list_page [--count 10000] [--repeat 300]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from kargo.store import interface, open_store

PROJECT = "bench"
PAGE = 100


def freight(i: int, project: str = PROJECT) -> dict[str, Any]:
    """A Freight shaped like the ones a Warehouse creates (one image, one commit)."""
    name = hashlib.sha1(f"freight-{i}".encode()).hexdigest()
    return {
        "apiVersion": "kargo.akuity.io/v1alpha1",
        "kind": "Freight",
        "metadata": {
            "name": name,
            "namespace": project,
            "labels": {"kargo.akuity.io/alias": f"alias-{i}"},
        },
        "alias": f"alias-{i}",
        "origin": {"kind": "Warehouse", "name": "main"},
        "images": [
            {
                "repoURL": "ghcr.io/acme/guestbook",
                "tag": f"1.{i // 100}.{i % 100}",
                "digest": "sha256:" + hashlib.sha256(str(i).encode()).hexdigest(),
            }
        ],
        "commits": [
            {
                "repoURL": "https://github.com/acme/gitops.git",
                "id": hashlib.sha1(f"commit-{i}".encode()).hexdigest(),
                "branch": "main",
                "message": f"Update guestbook to 1.{i // 100}.{i % 100}",
            }
        ],
        "status": {"verifiedIn": {"dev": {}}, "approvedFor": {}},
    }


async def seed_store(store: interface.Store, count: int, project: str = PROJECT) -> None:
    """Create a Project and `count` Freight in it."""
    await store.create(
        {"apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Project", "metadata": {"name": project}}
    )
    for i in range(count):
        await store.create(freight(i, project))


async def open_seeded_store(path: Path, count: int) -> interface.Store:
    """A SQLite store at `path` holding `count` Freight in project PROJECT."""
    store = await open_store(str(path))
    await seed_store(store, count)
    return store


# The best hand-written query for the page: keyset on the (kind, namespace, name) index.
_RAW_SQL = (
    "SELECT body FROM kargo_objects WHERE kind = ? AND namespace = ? AND name > ? "
    "ORDER BY name LIMIT ?"
)


def _raw(conn: sqlite3.Connection, after: str, decode: Any = None) -> list[Any]:
    rows = conn.execute(_RAW_SQL, ("Freight", PROJECT, after, PAGE)).fetchall()
    return [decode(r[0]) for r in rows] if decode else rows


def _median_us(samples: list[float]) -> float:
    return statistics.median(samples) * 1e6


class _Timer:
    """Wall time and this thread's CPU time of each sample (CPU time is what to compare on a
    busy machine: it leaves out the time other processes held the CPU)."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def __enter__(self) -> None:
        self._w, self._c = time.perf_counter(), time.thread_time()

    def __exit__(self, *exc: object) -> None:
        self.cpu.append(time.thread_time() - self._c)
        self.wall.append(time.perf_counter() - self._w)


async def run(count: int, repeat: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        t0 = time.perf_counter()
        store = await open_seeded_store(path, count)
        seed_s = time.perf_counter() - t0
        try:
            # A page from the middle of the list, reached through a continue token.
            first = await store.list(
                "Freight", interface.ListOptions(namespace=PROJECT, limit=count // 2)
            )
            token = first.continue_token
            after = first.items[-1]["metadata"]["name"]
            opts = interface.ListOptions(namespace=PROJECT, limit=PAGE, continue_token=token)
            conn = sqlite3.connect(path)
            expected = [o["metadata"]["name"] for o in _raw(conn, after, json.loads)]
            got = [o["metadata"]["name"] for o in (await store.list("Freight", opts)).items]
            assert got == expected, "store and raw query disagree"

            timers = {n: _Timer() for n in ("store", "raw", "raw_decode", "raw_orjson")}
            for _ in range(repeat):  # interleaved, so load changes hit all three alike
                with timers["store"]:
                    await store.list("Freight", opts)
                with timers["raw"]:
                    _raw(conn, after)
                with timers["raw_decode"]:
                    _raw(conn, after, json.loads)
                with timers["raw_orjson"]:
                    _raw(conn, after, orjson.loads)
            conn.close()
        finally:
            await store.close()
    out = {"seed_s": seed_s}
    for name, timer in timers.items():
        out[f"{name}_us"] = _median_us(timer.wall)
        out[f"{name}_cpu_us"] = _median_us(timer.cpu)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=300)
    args = parser.parse_args()
    r = asyncio.run(run(args.count, args.repeat))
    print(f"seeded {args.count} Freight in {r['seed_s']:.1f}s")
    print(f"list one {PAGE}-item page from the middle (median of {args.repeat}):")
    print("                              wall us    cpu us")
    for name, label in (
        ("store", "store.list"),
        ("raw", "raw sqlite3 SELECT"),
        ("raw_decode", "raw SELECT + json.loads"),
        ("raw_orjson", "raw SELECT + orjson.loads"),
    ):
        print(f"  {label:26} {r[name + '_us']:8.0f}  {r[name + '_cpu_us']:8.0f}")
    for base, label in (
        ("raw", "raw SELECT"),
        ("raw_decode", "raw SELECT + json.loads"),
        ("raw_orjson", "raw SELECT + orjson.loads"),
    ):
        wall = r["store_us"] / r[base + "_us"]
        cpu = r["store_cpu_us"] / r[base + "_cpu_us"]
        target = " (target <= 3x)" if base == "raw" else ""
        print(f"ratio store / {label:26} wall {wall:5.2f}x  cpu {cpu:5.2f}x{target}")
    wall = r["raw_orjson_us"] / r["raw_us"]
    cpu = r["raw_orjson_cpu_us"] / r["raw_cpu_us"]
    print(
        f"decode floor: raw SELECT + orjson.loads / raw SELECT  wall {wall:5.2f}x  cpu {cpu:5.2f}x"
    )


if __name__ == "__main__":
    main()
