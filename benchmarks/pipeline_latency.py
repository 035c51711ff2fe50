"""Time from a Warehouse refresh that finds a new image to the first auto-promoted Stage's push.

Target: p50 <= 0.5 s (Kargo's floor is its 5-minute default Warehouse polling interval: a new
image waits up to 300 s before Kargo even looks, unless a webhook is set up).

Set-up, all on loopback, all real: a `docker-registry`, the quickstart's GitOps repository
served over smart HTTP (`kargo.cli.quickstart_sources.GitHttpServer`, `git http-backend`), and a
`kargo server` subprocess (API + controllers, SQLite) holding the quickstart pipeline reduced to
an image-only Warehouse and one auto-promoted Stage `test` (git-clone, git-clear, copy x2,
kustomize-set-image, git-commit, git-push: `kargo.cli.quickstart_content`).

Each of N rounds pushes image tag 1.0.<i> (not timed), then times from `POST .../refresh` until
the branch `stage/test` of the bare repository points at a new commit (its ref file is watched
every 2 ms). Baselines measured in the same run, on the same git server:
- A: one bare `git push` of a one-line change (what the promotion's final step costs at least);
- B: what a CI script does for the same change: `git clone`, edit, `git commit`, `git push`.
It prints p50/p90 of each, the ratio of the pipeline p50 to 300 s, to A and to B, and a
breakdown from two `?watch=true` streams (Freight, Promotions): refresh -> Freight created ->
Promotion created -> commit on the remote.

Run: .venv/bin/python -m benchmarks.pipeline_latency [--rounds 20]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from kargo.cli import client as client_mod, quickstart_content as content, quickstart_sources as qs
from tests.fixtures.server import start_kargo_server

PASSWORD = "benchmark-admin-password"
KARGO_POLL_FLOOR_S = 300.0
TARGET_S = 0.5
IMAGE_PATH = "bench/app"


def pipeline(sources: content.Sources) -> str:
    """The quickstart's pipeline with an image-only Warehouse and just the `test` Stage."""
    docs: list[dict[str, Any]] = list(yaml.safe_load_all(content.manifests(sources)))
    out = []
    for doc in docs:
        kind, name = doc["kind"], doc["metadata"]["name"]
        if kind == "Stage" and name != "test":
            continue
        if kind == "Warehouse":
            subs = doc["spec"]["subscriptions"]
            doc["spec"]["subscriptions"] = [s for s in subs if "image" in s]
        if kind == "PromotionTask":
            steps = doc["spec"]["steps"]
            doc["spec"]["steps"] = [s for s in steps if s["uses"] != "yaml-update"]
        if kind == "ProjectConfig":
            doc["spec"]["promotionPolicies"] = [
                {"stageSelector": {"name": "test"}, "autoPromotionEnabled": True}
            ]
        out.append(doc)
    return yaml.safe_dump_all(out, sort_keys=False)


def ref_value(bare: Path, ref: str) -> str | None:
    """The commit a branch points at, read from the ref file (or packed-refs)."""
    loose = bare / "refs" / "heads" / ref
    try:
        return loose.read_text().strip()
    except FileNotFoundError:
        pass
    packed = bare / "packed-refs"
    if packed.is_file():
        for line in packed.read_text().splitlines():
            if line.endswith(f" refs/heads/{ref}"):
                return line.split()[0]
    return None


def wait_ref_change(bare: Path, ref: str, before: str | None, deadline_s: float = 60.0) -> float:
    """Wait until `ref` differs from `before`; returns the monotonic time it was seen."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        now = ref_value(bare, ref)
        if now is not None and now != before:
            return time.monotonic()
        time.sleep(0.002)
    raise RuntimeError(f"{ref} did not change within {deadline_s}s")


def git(args: list[str], cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, env=qs.git_env(), check=True, capture_output=True)


def baselines(url: str, tmp: Path, rounds: int) -> tuple[list[float], list[float]]:
    """A: `git push` alone; B: clone + edit + commit + push; same server, same file."""
    push_only: list[float] = []
    script: list[float] = []
    work = tmp / "baseline-push"
    git(["clone", "--quiet", url, str(work)], tmp)
    git(["checkout", "--quiet", "-B", "baseline-a"], work)
    path = "stages/test/kustomization.yaml"
    for i in range(rounds):
        (work / path).write_text((work / path).read_text() + f"# a {i}\n")
        git(["commit", "--quiet", "-am", f"a {i}"], work)
        start = time.perf_counter()
        git(["push", "--quiet", "origin", "HEAD:baseline-a"], work)
        push_only.append(time.perf_counter() - start)
    for i in range(rounds):
        clone = tmp / f"baseline-b-{i}"
        start = time.perf_counter()
        git(["clone", "--quiet", "--depth", "1", url, str(clone)], tmp)
        (clone / path).write_text((clone / path).read_text() + f"# b {i}\n")
        git(["commit", "--quiet", "-am", f"b {i}"], clone)
        git(["push", "--quiet", "origin", f"HEAD:baseline-b-{i}"], clone)
        script.append(time.perf_counter() - start)
        shutil.rmtree(clone)
    return push_only, script


class Watcher:
    """Follows `?watch=true` (Server-Sent Events) for one kind; records when events arrive.

    Used for the breakdown only: the server pushes the events, so watching adds no polling.
    """

    def __init__(self, url: str, token: str, kind_path: str) -> None:
        self.events: list[tuple[float, str, dict[str, Any]]] = []
        self._url = f"{url}/v1beta1/projects/{content.PROJECT}/{kind_path}?watch=true"
        self._headers = {"Authorization": f"Bearer {token}"}
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with (
            contextlib.suppress(httpx.HTTPError),
            httpx.stream("GET", self._url, headers=self._headers, timeout=None) as response,
        ):
            for line in response.iter_lines():
                if line.startswith("data:"):
                    event = json.loads(line[5:])
                    self.events.append((time.monotonic(), event["type"], event["object"]))

    def first_after(self, start: float, event_type: str) -> float | None:
        for seen, typ, _obj in list(self.events):
            if seen >= start and typ == event_type:
                return seen
        return None


def diagnose(url: str) -> str:
    """What the pipeline looks like when a round times out (Warehouse, Freight, Promotions)."""
    try:
        with client_mod.Client(url) as anon:
            token = anon.login(PASSWORD)
        with client_mod.Client(url, token) as api:
            base = f"/v1beta1/projects/{content.PROJECT}"
            lines = []
            wh = api.request("GET", f"{base}/warehouses/{content.WAREHOUSE}")
            for cond in (wh.get("status") or {}).get("conditions") or []:
                lines.append(
                    f"warehouse {cond.get('type')}={cond.get('status')}: {cond.get('message')}"
                )
            for f in api.list_all(f"{base}/freight"):
                tags = [i.get("tag") for i in f.get("images") or []]
                lines.append(f"freight {f.get('alias')} {tags}")
            for p in api.list_all(f"{base}/promotions"):
                st = p.get("status") or {}
                lines.append(
                    f"promotion {p['metadata']['name']} {st.get('phase')}: {st.get('message')}"
                )
            stage = api.request("GET", f"{base}/stages/test")
            lines.append(f"stage test status: {json.dumps(stage.get('status'))[:1500]}")
            return "\n".join(lines)
    except Exception as err:  # diagnosis is best effort
        return f"(no diagnosis: {err!r})"


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(rounds: int) -> dict[str, float]:
    binary = shutil.which("docker-registry")
    if binary is None:
        raise SystemExit("docker-registry is not on PATH (apt-get install docker-registry)")
    with tempfile.TemporaryDirectory(prefix="kargo-bench-latency-") as tmp_name:
        tmp = Path(tmp_name)
        repos = tmp / "repos"
        gitops = repos / "gitops.git"
        qs.init_bare_repo(gitops)
        qs.commit_files(gitops, content.gitops_files(), "gitops")
        qs.init_bare_repo(repos / "app.git")
        registry = qs.LocalRegistry(binary, tmp / "registry", qs.free_port())
        git_server = qs.GitHttpServer(repos)
        server = start_kargo_server(
            tmp,
            components="api,controllers",
            admin_password=PASSWORD,
            extra_args=("--log-level", "warning"),
        )
        url = server.url
        try:
            qs.push_image(registry.url, IMAGE_PATH, "1.0.0")
            sources = content.Sources(
                git_server.url("gitops.git"),
                git_server.url("app.git"),
                f"{registry.host}/{IMAGE_PATH}",
            )
            with client_mod.Client(url) as anon:
                token = anon.login(PASSWORD)
            api = client_mod.Client(url, token)
            freight_watch = Watcher(url, token, "freight")
            promo_watch = Watcher(url, token, "promotions")
            api.request(
                "PUT",
                "/v1beta1/resources",
                content=pipeline(sources).encode(),
                headers={"Content-Type": "application/yaml"},
            )
            refresh = f"/v1beta1/projects/{content.PROJECT}/warehouses/{content.WAREHOUSE}/refresh"
            # Warm-up: the first Freight, the first mirror clone, the first promotion.
            wait_ref_change(gitops, "stage/test", None, 120)
            samples: list[float] = []
            to_freight: list[float] = []
            to_promotion: list[float] = []
            to_push: list[float] = []
            previous_wall = time.time()
            for i in range(1, rounds + 1):
                qs.push_image(registry.url, IMAGE_PATH, f"1.0.{i}")
                # Freight times (discoveredAt) have one-second resolution and auto-promotion
                # takes the newest; two Freight of the same second tie and the tie goes by
                # name (a hash). Each refresh therefore starts in a later second than the last.
                time.sleep(max(0.3, math.ceil(previous_wall + 1.0) - time.time() + 0.02))
                before = ref_value(gitops, "stage/test")
                previous_wall = time.time()
                start = time.monotonic()
                api.request("POST", refresh)
                seen = wait_ref_change(gitops, "stage/test", before)
                samples.append(seen - start)
                got_freight = freight_watch.first_after(start, "ADDED")
                got_promo = promo_watch.first_after(start, "ADDED")
                if got_freight is not None and got_promo is not None:
                    to_freight.append(got_freight - start)
                    to_promotion.append(got_promo - got_freight)
                    to_push.append(seen - got_promo)
            api.close()
            push_only, script = baselines(git_server.url("gitops.git"), tmp, rounds)
        except Exception:
            print(server.logs()[-4000:], file=sys.stderr)
            print(diagnose(url), file=sys.stderr)
            raise
        finally:
            server.stop(20)
            git_server.stop()
            registry.stop()
    p50, p90 = statistics.median(samples), pct(samples, 0.9)
    a50, b50 = statistics.median(push_only), statistics.median(script)
    print(f"rounds: {rounds}")
    print(f"refresh -> commit on stage/test: p50 {p50 * 1000:.0f} ms, p90 {p90 * 1000:.0f} ms")
    print(
        f"baseline A (git push only):      p50 {a50 * 1000:.0f} ms, p90 {pct(push_only, 0.9) * 1000:.0f} ms"
    )
    print(
        f"baseline B (clone+commit+push):  p50 {b50 * 1000:.0f} ms, p90 {pct(script, 0.9) * 1000:.0f} ms"
    )
    if to_freight:
        print(
            f"  breakdown (p50 of {len(to_freight)} rounds, from SSE watches): refresh -> Freight "
            f"{statistics.median(to_freight) * 1000:.0f} ms, Freight -> Promotion "
            f"{statistics.median(to_promotion) * 1000:.0f} ms, Promotion -> push on the remote "
            f"{statistics.median(to_push) * 1000:.0f} ms"
        )
    print(
        f"p50 / Kargo's 300 s polling floor: {p50 / KARGO_POLL_FLOOR_S:.5f} ({KARGO_POLL_FLOOR_S / p50:.0f}x sooner)"
    )
    print(f"p50 / baseline A: {p50 / a50:.1f}x   p50 / baseline B: {p50 / b50:.1f}x")
    print(
        f"target p50 <= {TARGET_S} s: {'met' if p50 <= TARGET_S else 'NOT met'} ({p50 / TARGET_S:.2f}x the target)"
    )
    return {"p50": p50, "p90": p90, "a50": a50, "b50": b50}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    run(parser.parse_args().rounds)


if __name__ == "__main__":
    main()
