"""Offline cross-reference checks over a set of manifests (what `kargo lint` reports).

`kargo.api.manifests` checks each document alone; this module checks that documents agree
with each other, without a server: a Stage naming a missing Warehouse, upstream Stage,
PromotionTask or AnalysisTemplate; upstream cycles; a Promotion naming a missing Stage.
References to kinds absent from the whole set are still reported: lint is meant to run over
a project's complete manifests.
"""

from __future__ import annotations

from typing import Any

from kargo import errors
from kargo.api import admission, manifests
from kargo.errors import Problem

Obj = dict[str, Any]


def lint(objects: list[tuple[str, dict[str, Any]]]) -> list[Problem]:
    """Every problem of the set: per-object validation first, then cross-references."""
    problems: list[Problem] = []
    valid: list[tuple[str, Obj]] = []
    for source, obj in objects:
        try:
            manifests.validate(obj)
        except errors.ValidationError as err:
            problems.extend(_with_file(p, source, obj) for p in err.problems)
            continue
        valid.append((source, obj))
    index = {(o["kind"], _ns(o), o["metadata"].get("name", "")) for _, o in valid}
    for source, obj in valid:
        if obj["kind"] == "Stage":
            problems.extend(_check_stage(source, obj, index))
        elif obj["kind"] == "Promotion":
            stage = obj["spec"]["stage"]
            if ("Stage", _ns(obj), stage) not in index:
                problems.append(
                    _problem(
                        source,
                        obj,
                        "spec.stage",
                        f"Stage {stage!r} is not defined in project {_ns(obj)!r}",
                        "add the Stage's manifest or fix the name",
                    )
                )
    problems.extend(_cycles(valid))
    return problems


def _ns(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("namespace") or "")


def _with_file(problem: Problem, source: str, obj: Obj) -> Problem:
    return Problem(
        message=f"{_what(obj)}: {problem.message}",
        path=problem.path,
        file=source,
        line=problem.line,
        column=problem.column,
        hint=problem.hint,
    )


def _what(obj: Obj) -> str:
    return f"{obj.get('kind', '?')} {(obj.get('metadata') or {}).get('name', '?')!r}"


def _problem(source: str, obj: Obj, path: str, message: str, hint: str) -> Problem:
    return Problem(message=f"{_what(obj)}: {message}", path=path, file=source, hint=hint)


def _check_stage(source: str, stage: Obj, index: set[tuple[str, str, str]]) -> list[Problem]:
    out: list[Problem] = []
    ns = _ns(stage)
    spec = stage["spec"]
    for i, request in enumerate(spec["requestedFreight"]):
        warehouse = request["origin"]["name"]
        if ("Warehouse", ns, warehouse) not in index:
            out.append(
                _problem(
                    source,
                    stage,
                    f"spec.requestedFreight[{i}].origin.name",
                    f"Warehouse {warehouse!r} is not defined in project {ns!r}",
                    "add the Warehouse's manifest or fix the name",
                )
            )
        for j, upstream in enumerate((request.get("sources") or {}).get("stages") or []):
            if ("Stage", ns, upstream) not in index:
                out.append(
                    _problem(
                        source,
                        stage,
                        f"spec.requestedFreight[{i}].sources.stages[{j}]",
                        f"upstream Stage {upstream!r} is not defined in project {ns!r}",
                        "add the upstream Stage's manifest or fix the name",
                    )
                )
    template = (spec.get("promotionTemplate") or {}).get("spec") or {}
    for i, step in enumerate(template.get("steps") or []):
        task = step.get("task")
        if not task:
            continue
        kind = task.get("kind") or "PromotionTask"
        key = (kind, ns if kind == "PromotionTask" else "", task["name"])
        if key not in index:
            where = f" in project {ns!r}" if kind == "PromotionTask" else ""
            out.append(
                _problem(
                    source,
                    stage,
                    f"spec.promotionTemplate.spec.steps[{i}].task.name",
                    f"{kind} {task['name']!r} is not defined{where}",
                    f"add the {kind}'s manifest or fix the name",
                )
            )
    verification = spec.get("verification") or {}
    for i, ref in enumerate(verification.get("analysisTemplates") or []):
        kind = ref.get("kind") or "AnalysisTemplate"
        key = (kind, ns if kind == "AnalysisTemplate" else "", ref["name"])
        if key not in index:
            out.append(
                _problem(
                    source,
                    stage,
                    f"spec.verification.analysisTemplates[{i}].name",
                    f"{kind} {ref['name']!r} is not defined",
                    f"add the {kind}'s manifest or fix the name",
                )
            )
    return out


def _cycles(valid: list[tuple[str, Obj]]) -> list[Problem]:
    by_ns: dict[str, dict[str, tuple[str, Obj]]] = {}
    for source, obj in valid:
        if obj["kind"] == "Stage":
            by_ns.setdefault(_ns(obj), {})[obj["metadata"]["name"]] = (source, obj)
    out: list[Problem] = []
    for stages in by_ns.values():
        graph = {name: admission.upstream_stages(obj) for name, (_, obj) in stages.items()}
        reported: set[frozenset[str]] = set()
        for name in sorted(graph):
            cycle = admission.find_cycle(graph, name)
            if cycle is None or frozenset(cycle) in reported:
                continue
            reported.add(frozenset(cycle))
            source, obj = stages[name]
            out.append(
                _problem(
                    source,
                    obj,
                    "spec.requestedFreight",
                    f"upstream stages form a cycle: {' -> '.join(cycle)}",
                    "a Stage cannot (indirectly) take Freight from itself; remove one link",
                )
            )
    return out
