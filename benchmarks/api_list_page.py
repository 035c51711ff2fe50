"""p50 of listing one 100-item page of 10,000 Freight through the HTTP API (target <= 20 ms).

Seeds a SQLite store with `benchmarks.store_list_page.open_seeded_store`, starts a real
`kargo server --components api` on that file (uvicorn on loopback, its own process), logs in,
then times, in the same run:
- the API: `GET /v1beta1/projects/bench/freight?limit=100[&continue=...]` at random pages;
- baseline A: the same page read in-process through `store.list` (what the route wraps);
- baseline B: `GET /healthz` on the same server (one HTTP round trip, no store work).
It prints each median and the ratios API/A and API/B.

Run: .venv/bin/python -m benchmarks.api_list_page [--count 10000] [--repeat 300]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from benchmarks.store_list_page import PAGE, PROJECT, open_seeded_store
from kargo.store import interface
from tests.fixtures.server import start_kargo_server

PASSWORD = "benchmark-admin-password"
TARGET_MS = 20.0


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


async def _store_tokens_and_time(
    store: interface.Store, repeat: int
) -> tuple[list[str | None], list[float]]:
    tokens: list[str | None] = [None]
    while True:
        page = await store.list(
            "Freight",
            interface.ListOptions(namespace=PROJECT, limit=PAGE, continue_token=tokens[-1]),
        )
        if not page.continue_token:
            break
        tokens.append(page.continue_token)
    rng = random.Random(1)
    samples = []
    for _ in range(repeat):
        token = rng.choice(tokens)
        start = time.perf_counter()
        await store.list(
            "Freight", interface.ListOptions(namespace=PROJECT, limit=PAGE, continue_token=token)
        )
        samples.append(time.perf_counter() - start)
    return tokens, samples


def run(count: int, repeat: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        db = root / "kargo.db"

        async def seed_and_measure() -> tuple[list[str | None], list[float]]:
            store = await open_seeded_store(db, count)
            try:
                return await _store_tokens_and_time(store, repeat)
            finally:
                await store.close()

        t0 = time.perf_counter()
        _, store_samples = asyncio.run(seed_and_measure())
        print(f"seeded {count} Freight in {time.perf_counter() - t0:.1f}s")
        server = start_kargo_server(
            root,
            admin_password=PASSWORD,
            extra_args=("--db", f"sqlite:///{db}", "--log-level", "warning"),
        )
        url = server.url
        try:
            with httpx.Client(base_url=url, timeout=30) as client:
                token = client.post("/v1beta1/login", json={"password": PASSWORD}).json()["token"]
                client.headers["Authorization"] = f"Bearer {token}"
                path = f"/v1beta1/projects/{PROJECT}/freight"
                # The API's own continue tokens (the same store's, but fetched over HTTP).
                tokens: list[str | None] = [None]
                while True:
                    params = {"limit": str(PAGE)}
                    if tokens[-1]:
                        params["continue"] = str(tokens[-1])
                    body = client.get(path, params=params).json()
                    assert len(body["items"]) == PAGE or not body["metadata"].get("continue")
                    nxt = body["metadata"].get("continue")
                    if not nxt:
                        break
                    tokens.append(nxt)
                rng = random.Random(2)
                for _ in range(20):  # warm-up
                    client.get(path, params={"limit": str(PAGE)})
                    client.get("/healthz")
                api_samples, health_samples = [], []
                for _ in range(repeat):
                    params = {"limit": str(PAGE)}
                    chosen = rng.choice(tokens)
                    if chosen:
                        params["continue"] = chosen
                    start = time.perf_counter()
                    response = client.get(path, params=params)
                    api_samples.append(time.perf_counter() - start)
                    assert response.status_code == 200
                    start = time.perf_counter()
                    client.get("/healthz")
                    health_samples.append(time.perf_counter() - start)
        finally:
            server.stop(15)
    api = _median_ms(api_samples)
    store_ms = _median_ms(store_samples)
    health = _median_ms(health_samples)
    return {"api_ms": api, "store_ms": store_ms, "healthz_ms": health}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=300)
    args = parser.parse_args()
    r = run(args.count, args.repeat)
    print(
        f"API page of {PAGE} of {args.count} Freight, p50: {r['api_ms']:.2f} ms (target <= {TARGET_MS} ms)"
    )
    print(f"baseline A, store.list in-process, p50: {r['store_ms']:.2f} ms")
    print(f"baseline B, GET /healthz round trip, p50: {r['healthz_ms']:.2f} ms")
    print(f"ratio API / store.list: {r['api_ms'] / r['store_ms']:.2f}x")
    print(f"ratio API / healthz:    {r['api_ms'] / r['healthz_ms']:.2f}x")
    print("PASS" if r["api_ms"] <= TARGET_MS else "OVER TARGET")


if __name__ == "__main__":
    main()
