"""Analysis runs: building one from AnalysisTemplates, and advancing it with an injected clock.

A run is a stored `argoproj.io/v1alpha1` AnalysisRun object. `AnalysisRunner.advance` is
idempotent and resumable: it takes every measurement that is due *now*, records it in
`status.metricResults`, decides phases with Argo Rollouts' rules, and returns when to call again.
All state lives in the object, so a restarted server continues where it stopped.
"""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from typing import Any

from kargo.api.models.common import parse_duration
from kargo.clock import Clock, format_time, parse_time
from kargo.errors import ValidationError
from kargo.verification.args import resolve_args, substitute
from kargo.verification.measurement import TERMINAL, Measurement, Phase
from kargo.verification.providers import Provider

ANALYSIS_API_VERSION = "argoproj.io/v1alpha1"
MAX_MEASUREMENTS = 10
DEFAULT_CONSECUTIVE_ERROR_LIMIT = 4
# Argo Rollouts' severity order when several metrics finish differently.
_SEVERITY = {
    Phase.SUCCESSFUL: 0,
    Phase.PENDING: 1,
    Phase.RUNNING: 2,
    Phase.INCONCLUSIVE: 3,
    Phase.ERROR: 4,
    Phase.FAILED: 5,
    Phase.ABORTED: 6,
}


def build_analysis_run(
    *,
    namespace: str,
    name: str,
    templates: list[dict[str, Any]],
    args: dict[str, str],
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An AnalysisRun merging the templates' metrics, with `{{args.x}}` resolved.

    Two metrics with one name, or an argument without a value, is a ValidationError.
    """
    metrics: list[dict[str, Any]] = []
    declared: dict[str, dict[str, Any]] = {}
    seen: set[str] = set()
    for template in templates:
        spec = template.get("spec") or {}
        for arg in spec.get("args") or []:
            declared.setdefault(str(arg.get("name")), arg)
        for metric in spec.get("metrics") or []:
            if metric.get("name") in seen:
                raise ValidationError(
                    f"metric {metric.get('name')!r} is defined by more than one analysis template: rename one of them"
                )
            seen.add(str(metric.get("name")))
            metrics.append(copy.deepcopy(metric))
    if not metrics:
        raise ValidationError("verification has no metrics: the analysis templates define none")
    values = resolve_args(list(declared.values()), args)
    metrics = [substitute(m, values) for m in metrics]
    for metric in metrics:
        _check_metric(metric)
    return {
        "apiVersion": ANALYSIS_API_VERSION,
        "kind": "AnalysisRun",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": dict(labels or {}),
            "annotations": dict(annotations or {}),
        },
        "spec": {
            "metrics": metrics,
            "args": [{"name": k, "value": v} for k, v in sorted(values.items())],
        },
        "status": {"phase": Phase.PENDING.value},
    }


def _check_metric(metric: dict[str, Any]) -> None:
    name = metric.get("name")
    count = _count(metric)
    if count is not None and count > 1 and not metric.get("interval"):
        raise ValidationError(f"metric {name!r}: interval must be set when count is greater than 1")
    providers = [p for p in ("web", "job", "prometheus") if p in (metric.get("provider") or {})]
    if len(providers) != 1:
        raise ValidationError(
            f"metric {name!r}: exactly one provider (web, job or prometheus) is required"
        )


def _count(metric: dict[str, Any]) -> int | None:
    """Argo's EffectiveCount: count, else 1 without an interval, else unbounded (None)."""
    if metric.get("count") not in (None, ""):
        return int(metric["count"])
    return None if metric.get("interval") else 1


def _limit(metric: dict[str, Any], key: str, default: int) -> int:
    value = metric.get(key)
    return default if value is None or value == "" else int(value)


def _assess(metric: dict[str, Any], result: dict[str, Any]) -> Phase:
    """A metric's phase from its counters (Argo Rollouts' assessMetricStatus)."""
    if result.get("failed", 0) > _limit(metric, "failureLimit", 0):
        return Phase.FAILED
    if result.get("inconclusive", 0) > _limit(metric, "inconclusiveLimit", 0):
        return Phase.INCONCLUSIVE
    if result.get("consecutiveError", 0) > _limit(
        metric, "consecutiveErrorLimit", DEFAULT_CONSECUTIVE_ERROR_LIMIT
    ):
        return Phase.ERROR
    count = _count(metric)
    if count is not None and result.get("count", 0) >= count:
        return Phase.SUCCESSFUL
    return Phase.RUNNING


class AnalysisRunner:
    """Advances AnalysisRuns: measures what is due, judges, and says when to come back."""

    def __init__(self, providers: dict[str, Provider], clock: Clock) -> None:
        self._providers = providers
        self._clock = clock

    async def advance(self, run: dict[str, Any]) -> tuple[dict[str, Any], timedelta | None]:
        """Return the updated run and the delay until the next measurement (None when done)."""
        run = copy.deepcopy(run)
        status = run.setdefault("status", {})
        if Phase(status.get("phase", Phase.PENDING)) in TERMINAL:
            return run, None
        now = self._clock.now()
        status.setdefault("startedAt", format_time(now))
        started = parse_time(status["startedAt"])
        results: dict[str, dict[str, Any]] = {
            r["name"]: r for r in status.get("metricResults") or []
        }
        if run.get("spec", {}).get("terminate"):
            for result in results.values():
                if Phase(result.get("phase", Phase.RUNNING)) not in TERMINAL:
                    result["phase"] = Phase.ABORTED.value
            return self._finish(run, results, Phase.ABORTED, "verification was aborted", now), None

        next_due: datetime | None = None
        for metric in run["spec"]["metrics"]:
            result = results.setdefault(
                metric["name"],
                {
                    "name": metric["name"],
                    "phase": Phase.RUNNING.value,
                    "count": 0,
                    "successful": 0,
                    "failed": 0,
                    "inconclusive": 0,
                    "error": 0,
                    "consecutiveError": 0,
                    "measurements": [],
                },
            )
            if Phase(result["phase"]) in TERMINAL:
                continue
            due = self._due(metric, result, started)
            if due <= now:
                measurement = await self._measure(metric)
                self._record(result, measurement, now)
                result["phase"] = _assess(metric, result).value
                if Phase(result["phase"]) in TERMINAL:
                    continue
                due = self._due(metric, result, started)
            next_due = due if next_due is None or due < next_due else next_due

        phases = [Phase(r["phase"]) for r in results.values()]
        bad = [p for p in phases if p in (Phase.FAILED, Phase.ERROR, Phase.INCONCLUSIVE)]
        if bad:
            worst = max(bad, key=_SEVERITY.__getitem__)
            failing = [r for r in results.values() if Phase(r["phase"]) == worst]
            message = f"metric {failing[0]['name']!r} assessed {worst.value}"
            last = (failing[0].get("measurements") or [{}])[-1]
            if last.get("message"):
                message += f": {last['message']}"
            return self._finish(run, results, worst, message, now), None
        if all(p == Phase.SUCCESSFUL for p in phases):
            return self._finish(run, results, Phase.SUCCESSFUL, "", now), None
        status["phase"] = Phase.RUNNING.value
        status["metricResults"] = list(results.values())
        delay = max(next_due - now, timedelta(0)) if next_due else None
        return run, delay

    def _due(self, metric: dict[str, Any], result: dict[str, Any], started: datetime) -> datetime:
        measurements = result.get("measurements") or []
        if not measurements:
            return started + parse_duration(str(metric.get("initialDelay") or "0"))
        last = parse_time(measurements[-1]["finishedAt"])
        return last + parse_duration(str(metric.get("interval") or "0"))

    async def _measure(self, metric: dict[str, Any]) -> Measurement:
        kind = next(p for p in ("web", "job", "prometheus") if p in (metric.get("provider") or {}))
        provider = self._providers.get(kind)
        if provider is None:
            return Measurement(
                Phase.ERROR, message=f"the {kind} metric provider is not enabled on this server"
            )
        try:
            return await provider.measure(metric)
        except Exception as err:  # a provider bug must not wedge the run; it counts as an error
            return Measurement(Phase.ERROR, message=f"measurement failed: {type(err).__name__}")

    def _record(self, result: dict[str, Any], m: Measurement, now: datetime) -> None:
        entry: dict[str, Any] = {
            "phase": m.phase.value,
            "startedAt": format_time(now),
            "finishedAt": format_time(now),
        }
        if m.value is not None:
            entry["value"] = m.value
        if m.message:
            entry["message"] = m.message
        result["measurements"] = ([*(result.get("measurements") or []), entry])[-MAX_MEASUREMENTS:]
        if m.phase == Phase.ERROR:
            result["error"] = result.get("error", 0) + 1
            result["consecutiveError"] = result.get("consecutiveError", 0) + 1
            return
        result["consecutiveError"] = 0
        result["count"] = result.get("count", 0) + 1
        key = {
            Phase.SUCCESSFUL: "successful",
            Phase.FAILED: "failed",
            Phase.INCONCLUSIVE: "inconclusive",
        }[m.phase]
        result[key] = result.get(key, 0) + 1

    def _finish(
        self,
        run: dict[str, Any],
        results: dict[str, dict[str, Any]],
        phase: Phase,
        message: str,
        now: datetime,
    ) -> dict[str, Any]:
        status = run["status"]
        status["phase"] = phase.value
        status["metricResults"] = list(results.values())
        status["finishedAt"] = format_time(now)
        if message:
            status["message"] = message
        return run
