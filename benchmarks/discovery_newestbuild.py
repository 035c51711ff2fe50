"""Registry requests (and time) of a NewestBuild discovery over 5,000 tags: first vs unchanged.

Starts the test suite's docker-registry, pushes 50 distinct images (distinct build times) and
points 5,000 tags at them (one manifest PUT per tag), then runs:

1. a first discovery with an empty metadata cache;
2. the same discovery again, nothing changed (metadata cached by digest);
3. with cacheByTag: a warm-up discovery, then an unchanged one.

Targets: an unchanged discovery costs the tag list plus at most one manifest HEAD per tag, and
with cacheByTag only the tag list; neither fetches a manifest or a blob. Ratios are against the
first discovery, measured in the same run. The per-registry rate limit is raised for the
measurement (Kargo's default of 20 req/s would make any 5,000-HEAD discovery take >= 250 s);
the time that limit implies is printed too.

Run: .venv/bin/python -m benchmarks.discovery_newestbuild [--tags N]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from kargo.discovery import cache, images, ratelimit, registry
from tests.fixtures.registry import Pusher, running_registry

KINDS = ("tag-list", "manifest-head", "manifest-get", "blob-get")
IMAGES = 50
KARGO_RATE = 20.0


def populate(url: str, repo: str, tags: int) -> float:
    start = time.perf_counter()
    with Pusher(url) as pusher:
        pushed = [
            pusher.image(
                repo, f"seed-{i:02d}", created=f"2024-01-{1 + i % 28:02d}T{i % 24:02d}:00:00Z"
            )
            for i in range(IMAGES)
        ]
    names = [f"build-{n:05d}" for n in range(tags)]

    def put(chunk: list[str]) -> None:
        with Pusher(url) as p:
            for name in chunk:
                p.retag(repo, name, pushed[int(name[6:]) % IMAGES])

    chunks = [names[i::4] for i in range(4)]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(put, chunks))
    return time.perf_counter() - start


async def discover(host: str, sub: dict[str, object], meta: cache.MetadataCache):
    async with registry.RegistryClient(
        host, rate_limiter=ratelimit.TokenBucket(1_000_000)
    ) as client:
        start = time.perf_counter()
        refs = await images.discover_images(sub, client, meta)
        elapsed = time.perf_counter() - start
        return refs, elapsed, {k: client.counters[k] for k in KINDS}


def row(
    label: str, elapsed: float, counts: dict[str, int], base: tuple[float, dict[str, int]] | None
) -> str:
    total = sum(counts.values())
    text = f"{label:<34} {elapsed:8.2f}s  requests={total:6d}  " + "  ".join(
        f"{k}={counts[k]}" for k in KINDS
    )
    if base is not None:
        base_total = sum(base[1].values())
        text += f"  | time x{elapsed / base[0]:.3f}  requests x{total / base_total:.3f}"
    return text


async def main(tags: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, running_registry(Path(tmp)) as reg:
        repo = "bench/newestbuild"
        pushed_in = populate(reg.url, repo, tags)
        total_tags = tags + IMAGES
        print(
            f"registry {reg.host}: {total_tags} tags on {IMAGES} images (pushed in {pushed_in:.1f}s)"
        )
        sub: dict[str, object] = {
            "repoURL": f"{reg.host}/{repo}",
            "imageSelectionStrategy": "NewestBuild",
        }
        meta = cache.InMemoryMetadataCache()
        refs1, t1, c1 = await discover(reg.host, sub, meta)
        refs2, t2, c2 = await discover(reg.host, sub, meta)
        assert refs1 == refs2, "an unchanged discovery must select the same references"

        by_tag = {**sub, "cacheByTag": True}
        tag_meta = cache.InMemoryMetadataCache()
        _, t3, c3 = await discover(reg.host, by_tag, tag_meta)
        refs4, t4, c4 = await discover(reg.host, by_tag, tag_meta)
        assert refs4 == refs1

        base = (t1, c1)
        print(row("first discovery (empty cache)", t1, c1, None))
        print(row("second, unchanged (digest cache)", t2, c2, base))
        print(row("cacheByTag, first", t3, c3, base))
        print(row("cacheByTag, second, unchanged", t4, c4, base))
        print()
        ok_digest = (
            c2["manifest-head"] <= total_tags and c2["manifest-get"] == 0 and c2["blob-get"] == 0
        )
        ok_tag = c4["manifest-head"] == 0 and c4["manifest-get"] == 0 and c4["blob-get"] == 0
        print(f"target unchanged <= 1 HEAD per tag, 0 GET/blob: {'MET' if ok_digest else 'MISSED'}")
        print(f"target cacheByTag unchanged: tag list only: {'MET' if ok_tag else 'MISSED'}")
        print(
            f"at Kargo's default {KARGO_RATE:.0f} req/s per registry the unchanged discovery "
            f"would take >= {sum(c2.values()) / KARGO_RATE:.0f}s (cacheByTag: "
            f">= {sum(c4.values()) / KARGO_RATE:.2f}s)"
        )
        print(f"newest: {[r['tag'] for r in refs1[:3]]} created {refs1[0].get('createdAt')}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tags", type=int, default=5000 - IMAGES)
    asyncio.run(main(parser.parse_args().tags))
