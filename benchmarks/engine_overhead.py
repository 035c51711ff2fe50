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

The same wave is also run with "hollow" steps: the real registry's specs (configs, declared
paths, capabilities) with runners that only return the output later steps read. That is the
engine's own work per promotion (expressions, validation, lazy-checkout checks, status and
persists, the work directory), the headline figure (target: 2 ms or less).

Baselines, measured in the same run, one promotion after another, each in a fresh directory
(removed at its end, as the engine removes a work directory):
- floor: the same files written, and the same two values changed by `str.replace` (what a
  `sed` would do): the file system work any promotion needs, and no YAML at all;
- steps: the same edits made by calling the step modules' functions directly
  (`kustomize.set_images`, `yaml.update_text`, the commit messages), without the engine.

Reading it: for each it prints CPU ms per promotion (process CPU, all threads,
`time.process_time`) and the event-loop thread's CPU ms per promotion (`time.thread_time` on the
thread running the loop), and the wall time. The headline is the engine's loop-thread CPU per
promotion minus the floor's ("engine + steps overhead"), and the ratio engine / floor; engine
minus steps is what the engine adds around the step functions. Minima of `--runs` runs
(default 5), engine and baselines alternating, after one warm-up each: on a shared machine the
minimum is the figure least disturbed by other processes.
`--profile` writes a cProfile of one wave to the given file (sort it with pstats).

Run: .venv/bin/python -m benchmarks.engine_overhead [--concurrent N] [--runs K] [--profile F]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import dataclasses
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.promotions import pending_promotion
from kargo import clock as clock_mod
from kargo.promotion import context, engine as engine_mod, registry as registry_mod
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
    return pending_promotion(
        project=PROJECT,
        name=f"{stage}.{tag}",
        stage=stage,
        freight=f"freight-{index:05d}",
        warehouse=WAREHOUSE,
        image=IMAGE,
        tag=tag,
        steps=promotion_steps(),
        variables=[{"name": "image", "value": IMAGE}, {"name": "tag", "value": tag}],
    )


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


def hollow(real: registry_mod.StepRegistry) -> registry_mod.StepRegistry:
    """The real steps (configs, paths, capabilities) with runners that do nothing.

    Each returns the output later steps read, so the engine evaluates, validates, checks out
    and persists exactly as with the real steps: what is left is the engine's own work.
    """
    hollowed = registry_mod.StepRegistry()
    for spec in real:

        async def run(ctx: context.StepContext, cfg: Any) -> context.StepResult:  # noqa: ARG001
            tag = str(ctx.vars.get("tag", ""))
            return context.StepResult(output={"commitMessage": f"Updated\n\n- {IMAGE}:{tag}"})

        hollowed.register(dataclasses.replace(spec, run=run))
    return hollowed


def write_stage_files(root: Path, index: int) -> tuple[Path, Path, Path]:
    """The files every promotion starts from: (./out, its kustomization, its values file)."""
    out = root / f"p{index}" / "out"
    env = out / "env" / f"stage-{index:03d}"
    env.mkdir(parents=True)
    kfile, vfile = env / "kustomization.yaml", env / "values.yaml"
    kfile.write_text(KUSTOMIZATION)
    vfile.write_text(VALUES)
    return out, kfile, vfile


def floor_promotion(root: Path, index: int, tag: str) -> None:
    """The same files, the two values changed by `str.replace`: no YAML, no engine."""
    out, kfile, vfile = write_stage_files(root, index)
    kfile.write_text(kfile.read_text().replace("newTag: 1.25.0", f"newTag: {tag}"))
    vfile.write_text(vfile.read_text().replace("tag: 1.25.0", f"tag: {tag}"))
    (out / "COMMIT_MSG").write_text(f"Updated ./out/env/stage-{index:03d}\n\n- nginx:{tag}\n")
    shutil.rmtree(root / f"p{index}")


def steps_promotion(root: Path, index: int, tag: str) -> None:
    """The same edits, made by calling the step modules' functions, without the engine."""
    out, kfile, vfile = write_stage_files(root, index)
    targets = {IMAGE: kustomize_steps.TargetImage(name=IMAGE, new_tag=tag)}
    kfile.write_text(kustomize_steps.set_images(kfile.read_text(), targets))
    updates = [yaml_steps.Update("image.tag", ["image", "tag"], tag)]
    vfile.write_text(yaml_steps.update_text(vfile.read_text(), updates))
    message = kustomize_steps.set_image_commit_message(f"./out/env/stage-{index:03d}", targets)
    message += "\n\n" + yaml_steps.commit_message("./values.yaml", [("image.tag", tag)])
    (out / "COMMIT_MSG").write_text(message)
    shutil.rmtree(root / f"p{index}")


def measure(fn: Any) -> Sample:
    """Run `fn()` (on this thread) and measure it."""
    cpu, loop_cpu, wall = time.process_time(), time.thread_time(), time.perf_counter()
    fn()
    return Sample(
        time.process_time() - cpu, time.thread_time() - loop_cpu, time.perf_counter() - wall
    )


def best(samples: list[Sample], n: int) -> Sample:
    """Per-promotion minima (wall stays per wave): the least disturbed by other processes."""
    return Sample(
        min(s.cpu for s in samples) / n,
        min(s.loop_cpu for s in samples) / n,
        min(s.wall for s in samples),
    )


def report(label: str, sample: Sample, wall: str) -> str:
    """One line of figures."""
    return (
        f"{label:<9} {sample.cpu * 1000:6.2f} ms CPU/promotion, {sample.loop_cpu * 1000:6.2f} ms "
        f"loop-thread CPU/promotion, {wall} {sample.wall * 1000:6.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--concurrent", type=int, default=100, help="promotions per wave")
    parser.add_argument("--runs", type=int, default=5, help="measured waves (after a warm-up)")
    parser.add_argument("--profile", help="write a cProfile of one engine wave to this file")
    args = parser.parse_args()
    n = args.concurrent
    registry = load_builtin_steps(registry_mod.StepRegistry())
    samples: dict[str, list[Sample]] = {"engine": [], "hollow": [], "floor": [], "steps": []}
    with tempfile.TemporaryDirectory(prefix="kargo-engine-bench-") as tmp:
        root = Path(tmp)
        count = 0

        def wave(steps: registry_mod.StepRegistry) -> Any:
            def run() -> None:
                nonlocal count
                count += 1
                asyncio.run(engine_wave(steps, root / f"work-{count}", n, f"1.27.{count}"))

            return run

        run_engine = wave(registry)

        def sequential(one: Any) -> Any:
            def run() -> None:
                nonlocal count
                count += 1
                for i in range(n):
                    one(root / f"seq-{count}", i, f"1.27.{count}")

            return run

        runs = {
            "engine": run_engine,
            "hollow": wave(hollow(registry)),
            "floor": sequential(floor_promotion),
            "steps": sequential(steps_promotion),
        }
        for run in runs.values():
            run()  # warm-up: imports, compile caches, pydantic
        for _ in range(args.runs):
            for name, run in runs.items():
                samples[name].append(measure(run))
        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
            run_engine()
            profiler.disable()
            profiler.dump_stats(args.profile)
    eng, own, floor, steps = (best(samples[k], n) for k in ("engine", "hollow", "floor", "steps"))
    print(f"{n} promotions per wave, 5 steps each, best of {args.runs} runs")
    print(report("engine:", eng, f"{n} concurrent, wall"))
    print(report("hollow:", own, f"{n} concurrent, wall"))
    print(report("floor:", floor, f"{n} sequential, wall"))
    print(report("steps:", steps, f"{n} sequential, wall"))
    print(
        f"engine + steps overhead (loop-thread CPU, engine - floor): "
        f"{(eng.loop_cpu - floor.loop_cpu) * 1000:.2f} ms/promotion"
    )
    print(
        f"engine overhead around the steps (engine - steps): "
        f"{(eng.loop_cpu - steps.loop_cpu) * 1000:.2f} ms/promotion"
    )
    print(f"ratio engine / floor (loop-thread CPU): {eng.loop_cpu / floor.loop_cpu:.1f}x")
    print(
        f"the engine's own loop-thread CPU (hollow steps): {own.loop_cpu * 1000:.2f} ms/promotion"
        f" (target <= 2 ms: {'MET' if own.loop_cpu <= 0.002 else 'NOT MET'})"
    )


if __name__ == "__main__":
    main()
