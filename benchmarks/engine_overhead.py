"""The promotion engine's own CPU per promotion, without git, against the bare file edits.

Why: issue 5's wave of 100 concurrent promotions (benchmarks/promotion_git.py) runs on a
2-core machine, and everything the engine does in Python runs on the one event-loop thread.
With git out of the way, what is left per promotion is the engine itself (expression
evaluation, config validation, status bookkeeping, persisting, the work directory) plus the
file edits the steps really have to make. This benchmark isolates that cost.

What: N (default 100) promotions started together with `asyncio.gather` through the real
`kargo.promotion.engine.Engine` with the real step registry (`load_builtin_steps`), a
persist callback that returns what it is given (as a store would, without the I/O), and these
steps, written as a Stage's promotion template would write them:

    file-write ./out/env/${{ ctx.stage }}/kustomization.yaml   (the checkout a clone would give)
    file-write ./out/env/${{ ctx.stage }}/values.yaml
    kustomize-set-image ./out/env/${{ ctx.stage }}   as update (images of the Freight)
    yaml-update ./out/env/${{ ctx.stage }}/values.yaml  as values
        (image.tag: ${{ vars.tag }}, a promotion var)
    file-write ./out/COMMIT_MSG  (${{ outputs.update.commitMessage }} and values')

Baseline, measured in the same run: the same files written and edited by calling the step
modules' edit functions directly (`kustomize.set_images`, `yaml.update_text`), one promotion
after another in a fresh directory each, with no engine around them.

Reading it: for the engine and the baseline it prints CPU ms per promotion (process CPU, all
threads, `time.process_time`), the event-loop thread's CPU ms per promotion
(`time.thread_time` on the thread running the loop), and the wave's wall time. The headline is
the engine's loop-thread CPU per promotion minus the baseline's ("engine overhead"), and the
ratio engine / baseline. Medians of `--runs` runs (default 3) after one warm-up wave.
`--profile` writes a cProfile of one wave to the given file (sort it with pstats).

Run: .venv/bin/python -m benchmarks.engine_overhead [--concurrent N] [--runs K] [--profile F]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kargo import clock as clock_mod
from kargo.promotion import engine as engine_mod, registry as registry_mod
from kargo.promotion.steps import (
    kustomize as kustomize_steps,
    load_builtin_steps,
    yaml as yaml_steps,
)

PROJECT = "bench"
WAREHOUSE = "images"
IMAGE = "nginx"

KUSTOMIZATION = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
# the Stage's overlay
namespace: demo
resources:
  - ../../base
images:
  - name: nginx
    newTag: 1.25.0
  - name: busybox
    newTag: "1.36"
"""

VALUES = """\
# values of the demo chart
replicaCount: 2
image:
  repository: nginx
  tag: 1.25.0  # set by Kargo
  pullPolicy: IfNotPresent
service:
  type: ClusterIP
  port: 80
"""


def promotion_steps() -> list[dict[str, Any]]:
    """The Promotion's steps, as a Stage's promotion template would give them."""
    env = "./out/env/${{ ctx.stage }}"
    return [
        {
            "uses": "file-write",
            "config": {"path": env + "/kustomization.yaml", "contents": KUSTOMIZATION},
        },
        {"uses": "file-write", "config": {"path": env + "/values.yaml", "contents": VALUES}},
        {"uses": "kustomize-set-image", "as": "update", "config": {"path": env}},
        {
            "uses": "yaml-update",
            "as": "values",
            "config": {
                "path": env + "/values.yaml",
                "updates": [{"key": "image.tag", "value": "${{ vars.tag }}"}],
            },
        },
        {
            "uses": "file-write",
            "config": {
                "path": "./out/COMMIT_MSG",
                "contents": "${{ outputs.update.commitMessage }}\n\n"
                "${{ outputs.values.commitMessage }}",
            },
        },
    ]


def promotion(index: int, tag: str) -> dict[str, Any]:
    """A Promotion of Freight carrying nginx:`tag` to stage `stage-<index>`."""
    stage = f"stage-{index:03d}"
    freight = {
        "name": f"freight-{index:05d}",
        "origin": {"kind": "Warehouse", "name": WAREHOUSE},
        "images": [{"repoURL": IMAGE, "tag": tag}],
    }
    return {
        "apiVersion": "kargo.akuity.io/v1alpha1",
        "kind": "Promotion",
        "metadata": {"namespace": PROJECT, "name": f"{stage}.{tag}"},
        "spec": {
            "stage": stage,
            "freight": freight["name"],
            "vars": [{"name": "image", "value": IMAGE}, {"name": "tag", "value": tag}],
            "steps": promotion_steps(),
        },
        "status": {
            "phase": "Pending",
            "freight": {"name": freight["name"], "origin": freight["origin"]},
            "freightCollection": {"items": {f"Warehouse/{WAREHOUSE}": freight}},
        },
    }


@dataclass
class Sample:
    """One measured wave: CPU of the whole process, CPU of the loop thread, wall (seconds)."""

    cpu: float
    loop_cpu: float
    wall: float


async def _persist(promo: dict[str, Any]) -> dict[str, Any]:
    return promo


async def engine_wave(registry: registry_mod.StepRegistry, root: Path, n: int, tag: str) -> None:
    """N promotions at once through the engine; raises unless every one succeeded."""
    engine = engine_mod.Engine(registry, clock_mod.SystemClock(), work_root=root)
    outcomes = await asyncio.gather(
        *(engine.execute(promotion(i, tag), _persist) for i in range(n))
    )
    for outcome in outcomes:
        if outcome.phase != "Succeeded":
            status = outcome.promotion["status"]
            raise RuntimeError(f"promotion ended {outcome.phase}: {status.get('message')}")
        if IMAGE + ":" + tag not in outcome.promotion["status"]["state"]["update"]["commitMessage"]:
            raise RuntimeError("kustomize-set-image did not set the new tag")


def direct_promotion(root: Path, index: int, tag: str) -> None:
    """The same file edits, made by calling the step modules' functions, without the engine."""
    env = root / f"p{index}" / "out" / "env" / f"stage-{index:03d}"
    env.mkdir(parents=True)
    kfile, vfile = env / "kustomization.yaml", env / "values.yaml"
    kfile.write_text(KUSTOMIZATION)
    vfile.write_text(VALUES)
    targets = {IMAGE: kustomize_steps.TargetImage(name=IMAGE, new_tag=tag)}
    kfile.write_text(kustomize_steps.set_images(kfile.read_text(), targets))
    updates = [yaml_steps.Update("image.tag", ["image", "tag"], tag)]
    vfile.write_text(yaml_steps.update_text(vfile.read_text(), updates))
    message = kustomize_steps.set_image_commit_message(f"./out/env/stage-{index:03d}", targets)
    message += "\n\n" + yaml_steps.commit_message("./values.yaml", [("image.tag", tag)])
    (root / f"p{index}" / "out" / "COMMIT_MSG").write_text(message)
    shutil.rmtree(root / f"p{index}")


def measure(fn: Any) -> Sample:
    """Run `fn()` (on this thread) and measure it."""
    cpu, loop_cpu, wall = time.process_time(), time.thread_time(), time.perf_counter()
    fn()
    return Sample(
        time.process_time() - cpu, time.thread_time() - loop_cpu, time.perf_counter() - wall
    )


def median(samples: list[Sample], n: int) -> Sample:
    """Per-promotion medians (wall stays per wave)."""
    return Sample(
        statistics.median(s.cpu for s in samples) / n,
        statistics.median(s.loop_cpu for s in samples) / n,
        statistics.median(s.wall for s in samples),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--concurrent", type=int, default=100, help="promotions per wave")
    parser.add_argument("--runs", type=int, default=3, help="measured waves (after a warm-up)")
    parser.add_argument("--profile", help="write a cProfile of one engine wave to this file")
    args = parser.parse_args()
    n = args.concurrent
    registry = load_builtin_steps(registry_mod.StepRegistry())
    engine_samples: list[Sample] = []
    direct_samples: list[Sample] = []
    with tempfile.TemporaryDirectory(prefix="kargo-engine-bench-") as tmp:
        root = Path(tmp)
        count = 0

        def run_engine() -> None:
            nonlocal count
            count += 1
            asyncio.run(engine_wave(registry, root / f"work-{count}", n, f"1.27.{count}"))

        def run_direct() -> None:
            nonlocal count
            count += 1
            base = root / f"direct-{count}"
            for i in range(n):
                direct_promotion(base, i, f"1.27.{count}")

        run_engine()  # warm-up: imports, compile caches, pydantic
        run_direct()
        for _ in range(args.runs):
            engine_samples.append(measure(run_engine))
            direct_samples.append(measure(run_direct))
        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
            run_engine()
            profiler.disable()
            profiler.dump_stats(args.profile)
    eng, base = median(engine_samples, n), median(direct_samples, n)
    print(f"{n} promotions per wave, 5 steps each, median of {args.runs} waves")
    print(
        f"engine:   {eng.cpu * 1000:6.2f} ms CPU/promotion, {eng.loop_cpu * 1000:6.2f} ms "
        f"loop-thread CPU/promotion, wave wall {eng.wall * 1000:7.0f} ms"
    )
    print(
        f"baseline: {base.cpu * 1000:6.2f} ms CPU/promotion, {base.loop_cpu * 1000:6.2f} ms "
        f"loop-thread CPU/promotion, {n} sequential wall {base.wall * 1000:7.0f} ms"
    )
    overhead = eng.loop_cpu - base.loop_cpu
    print(
        f"engine overhead (loop-thread CPU, engine - baseline): {overhead * 1000:.2f} ms/promotion"
    )
    print(f"ratio engine / baseline (loop-thread CPU): {eng.loop_cpu / base.loop_cpu:.1f}x")


if __name__ == "__main__":
    main()
