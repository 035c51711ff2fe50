"""CPU used by an idle `kargo server` holding 1,000 Stages and 10,000 Freight (target <= 2%).

Seeds a SQLite store (through `kargo.store`, like `benchmarks.store_list_page`) with one
Project, one Warehouse subscribed to an image in a local `docker-registry` (so its periodic
discovery succeeds, as in real use; interval 5 minutes, Kargo's default), 1,000 Stages in 100
pipelines of 10 (the first of each fed by the Warehouse, the others by the previous Stage) and
10,000 Freight. Then it starts a real `kargo server` (API + controllers) on that file, waits
until the start-up reconciliation is over (CPU below 5% of a core over two 2-second windows in
a row, once its API answers; or `--settle-max` seconds), and measures the server's CPU time (user + system, from
/proc/<pid>/stat, its waited-for children included) over `--seconds` (default 60) of idleness.

What the server does meanwhile (docs/stages.md, "How a reconcile reads"): at start-up the Stage
controller's informer lists the project once and every Stage is reconciled from its indexes
(only the Freight that may be available to it, never the whole project), which settles in
seconds at this size (the report prints how long). Idle, nothing is enqueued except by the
controller manager's one safety-net resync every 5 minutes, and it skips every Stage whose
inputs (a fingerprint of resourceVersions) did not change since it was last left idle, at one
small query per Stage. A 60-second window right after start-up may fall before that resync:
`--seconds 330` measures a whole cycle, resync included.

Baseline in the same run and the same window: an idle `python -c 'import time; time.sleep(N)'`.
It prints both as % of one core, and the server's figure against the 2% target.

Run: .venv/bin/python benchmarks/idle_server_cpu.py [--seconds 60] [--stages 1000] [--freight 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from kargo.cli import quickstart_sources as qs
from kargo.store import open_store

PASSWORD = "benchmark-admin-password"
PROJECT = "bench"
TARGET_PCT = 2.0
CHAIN = 10
TICKS = os.sysconf("SC_CLK_TCK")


def meta(kind: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "kargo.akuity.io/v1alpha1",
        "kind": kind,
        "metadata": {"name": name, "namespace": PROJECT},
    }


def warehouse(image_repo: str) -> dict[str, Any]:
    doc = meta("Warehouse", "main")
    doc["spec"] = {
        "interval": "5m0s",
        "freightCreationPolicy": "Automatic",
        "subscriptions": [
            {
                "image": {
                    "repoURL": image_repo,
                    "imageSelectionStrategy": "SemVer",
                    "discoveryLimit": 20,
                }
            }
        ],
    }
    return doc


def stage(i: int) -> dict[str, Any]:
    chain, pos = divmod(i, CHAIN)
    doc = meta("Stage", f"s{chain:03d}-{pos}")
    sources: dict[str, Any] = (
        {"direct": True} if pos == 0 else {"stages": [f"s{chain:03d}-{pos - 1}"]}
    )
    doc["spec"] = {
        "requestedFreight": [{"origin": {"kind": "Warehouse", "name": "main"}, "sources": sources}],
        "promotionTemplate": {
            "spec": {
                "steps": [{"uses": "git-clone", "config": {"repoURL": "https://git.example/r.git"}}]
            }
        },
    }
    return doc


def freight(i: int, image_repo: str) -> dict[str, Any]:
    name = hashlib.sha1(f"freight-{i}".encode()).hexdigest()
    doc = meta("Freight", name)
    doc["metadata"]["labels"] = {"kargo.akuity.io/alias": f"alias-{i}"}
    doc.update(
        alias=f"alias-{i}",
        origin={"kind": "Warehouse", "name": "main"},
        images=[
            {
                "repoURL": image_repo,
                "tag": f"0.{i // 100}.{i % 100}",
                "digest": "sha256:" + hashlib.sha256(str(i).encode()).hexdigest(),
            }
        ],
    )
    return doc


async def seed(db: Path, stages: int, freights: int, image_repo: str) -> float:
    start = time.perf_counter()
    store = await open_store(f"sqlite:///{db}")
    try:
        await store.create(
            {
                "apiVersion": "kargo.akuity.io/v1alpha1",
                "kind": "Project",
                "metadata": {"name": PROJECT},
            }
        )
        await store.create(warehouse(image_repo))
        for i in range(stages):
            await store.create(stage(i))
        for i in range(freights):
            await store.create(freight(i, image_repo))
    finally:
        await store.close()
    return time.perf_counter() - start


def cpu_seconds(pid: int) -> float:
    """utime + stime + cutime + cstime of a process, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / TICKS


def start_server(tmp: Path, db: Path) -> tuple[subprocess.Popen[bytes], str, Path]:
    """Start the server; readiness is watched while it settles (its API may be late)."""
    port = qs.free_port()
    exe = Path(sys.executable).with_name("kargo")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KARGO_")}
    env["KARGO_ADMIN_PASSWORD"] = PASSWORD
    log = tmp / "server.log"
    args = [str(exe), "server", "--port", str(port), "--data-dir", str(tmp / "server")]
    args += ["--db", f"sqlite:///{db}", "--log-level", "warning"]
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env)
    return proc, f"http://127.0.0.1:{port}", log


def ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=0.5).status_code == 200
    except httpx.HTTPError:
        return False


def settle(
    proc: subprocess.Popen[bytes], url: str, settle_max: float
) -> tuple[float, float | None]:
    """Wait until the API answers and two consecutive 2 s windows use < 5% of a core.

    Returns (seconds waited, seconds until /readyz first answered or None).
    """
    start = time.monotonic()
    quiet = 0
    ready_at: float | None = None
    while time.monotonic() - start < settle_max:
        if proc.poll() is not None:
            raise RuntimeError("kargo server exited while settling")
        before = cpu_seconds(proc.pid)
        time.sleep(2.0)
        pct = (cpu_seconds(proc.pid) - before) / 2.0 * 100
        if ready_at is None and ready(url):
            ready_at = time.monotonic() - start
        quiet = quiet + 1 if pct < 5.0 and ready_at is not None else 0
        if quiet >= 2:
            break
    return time.monotonic() - start, ready_at


def run(seconds: float, stages: int, freights: int, settle_max: float) -> dict[str, float]:
    binary = shutil.which("docker-registry")
    if binary is None:
        raise SystemExit("docker-registry is not on PATH (apt-get install docker-registry)")
    with tempfile.TemporaryDirectory(prefix="kargo-bench-idle-") as tmp_name:
        tmp = Path(tmp_name)
        registry = qs.LocalRegistry(binary, tmp / "registry", qs.free_port())
        try:
            for tag in ("0.0.1", "0.0.2"):
                qs.push_image(registry.url, "bench/app", tag)
            db = tmp / "kargo.db"
            seed_s = asyncio.run(seed(db, stages, freights, f"{registry.host}/bench/app"))
            proc, url, log = start_server(tmp, db)
            try:
                settled, ready_at = settle(proc, url, settle_max)
                baseline = subprocess.Popen(
                    [sys.executable, "-c", f"import time; time.sleep({seconds + 5})"]
                )
                time.sleep(0.5)  # past the baseline's interpreter start-up
                s0, b0, t0 = cpu_seconds(proc.pid), cpu_seconds(baseline.pid), time.monotonic()
                time.sleep(seconds)
                s1, b1, t1 = cpu_seconds(proc.pid), cpu_seconds(baseline.pid), time.monotonic()
                baseline.kill()
                baseline.wait()
                if proc.poll() is not None:
                    raise RuntimeError(f"kargo server exited:\n{log.read_text()}")
            finally:
                proc.terminate()
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:  # still busy: SIGTERM waits for start-up
                    proc.kill()
                    proc.wait(10)
        finally:
            registry.stop()
    window = t1 - t0
    server_pct = (s1 - s0) / window * 100
    base_pct = (b1 - b0) / window * 100
    print(f"seeded {stages} Stages and {freights} Freight in {seed_s:.1f} s")
    if settled >= settle_max:
        print(f"start-up reconciliation did NOT settle within {settle_max:.0f} s")
    else:
        print(f"start-up reconciliation settled after {settled:.0f} s")
    print(
        "API ready (/readyz) after "
        + (f"{ready_at:.0f} s" if ready_at is not None else f"more than {settled:.0f} s")
    )
    print(f"idle window: {window:.1f} s")
    print(f"kargo server:        {s1 - s0:.3f} s CPU = {server_pct:.3f}% of one core")
    print(f"baseline (sleeping): {b1 - b0:.3f} s CPU = {base_pct:.3f}% of one core")
    print(
        f"server / {TARGET_PCT}% target: {server_pct / TARGET_PCT:.3f} "
        f"({'met' if server_pct <= TARGET_PCT else 'NOT met'}); server - baseline: "
        f"{server_pct - base_pct:.3f} points"
    )
    return {"server_pct": server_pct, "baseline_pct": base_pct, "settled_s": settled}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--stages", type=int, default=1000)
    parser.add_argument("--freight", type=int, default=10000)
    parser.add_argument("--settle-max", type=float, default=300.0)
    args = parser.parse_args()
    run(args.seconds, args.stages, args.freight, args.settle_max)


if __name__ == "__main__":
    main()
