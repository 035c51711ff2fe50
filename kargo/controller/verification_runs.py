"""Verification of a Stage's current Freight: AnalysisRuns created, driven and judged.

After a successful promotion `StageSync` queues a Pending VerificationInfo in
`freightHistory[0].verificationHistory`; `Verifier.sync(stage)` (called by the StageReconciler)
then:
- creates the AnalysisRun `<stage>.<id>.<freightCollectionID>` (labels `kargo.akuity.io/stage`
  and `kargo.akuity.io/freight-collection`, plus `analysisRunMetadata`) from the named
  AnalysisTemplates / ClusterAnalysisTemplates, with `spec.verification.args` evaluated as
  expressions (env: `ctx {project, stage}`, the Stage's `vars`, Freight functions such as
  `imageFrom()` over the current collection);
- advances it with `kargo.verification.analysis.AnalysisRunner` (injected clock) and tells the
  reconciler when to come back (the next measurement);
- records the outcome: Successful sets Freight `verifiedIn[stage]`; Failed, Error and
  Inconclusive remove it (so a failed re-verification revokes it, unlike Kargo #5144);
- handles `kargo.akuity.io/reverify` (a new verification of the same Freight) and
  `kargo.akuity.io/abort` (terminate the running one) annotations, then clears them.
Every outcome is an event (FreightVerificationSucceeded/Failed/Errored/Aborted/Inconclusive).
"""

from __future__ import annotations

import copy
import json
import logging
from datetime import timedelta
from typing import Any

from kargo import clock as clock_mod, errors
from kargo.api import admission
from kargo.controller import events as events_mod, pipeline_state as ps, stage_promotions
from kargo.promotion import context, data as data_mod, evaluation
from kargo.store import interface
from kargo.verification import analysis, measurement
from kargo.verification.providers import Provider

log = logging.getLogger(__name__)

Obj = dict[str, Any]
MAX_NAME = 253
_EVENT_REASON = {
    "Successful": "FreightVerificationSucceeded",
    "Failed": "FreightVerificationFailed",
    "Error": "FreightVerificationErrored",
    "Aborted": "FreightVerificationAborted",
    "Inconclusive": "FreightVerificationInconclusive",
}
REVOKING = frozenset({"Failed", "Error", "Inconclusive"})


def default_providers() -> dict[str, Provider]:
    """The metric providers a server runs with: web, prometheus and job."""
    from kargo.verification.providers import job, prometheus, web

    return {
        "web": web.WebProvider(),
        "prometheus": prometheus.PrometheusProvider(),
        "job": job.JobProvider(),
    }


def run_name(stage: str, verification_id: str, collection_id: str) -> str:
    """`<stage>.<id>.<freightCollectionID>`, the Stage prefix cut to fit 253 characters."""
    room = MAX_NAME - len(verification_id) - len(collection_id) - 2
    return f"{stage[:room]}.{verification_id}.{collection_id}".lower()


def arg_text(value: Any) -> str:
    """An evaluated argument as the string AnalysisTemplates receive (Go's formatting)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


async def evaluate_args(
    store: interface.Store, clock: clock_mod.Clock, stage: Obj, items: dict[str, Obj]
) -> dict[str, str]:
    """The Stage's verification args with `${{ }}` evaluated (ctx, vars, Freight functions)."""
    meta = stage["metadata"]
    spec = stage.get("spec") or {}
    data = data_mod.StoreData(
        store, str(meta["namespace"]), str(meta["name"]), context.FreightCollection(items=items)
    )
    base = evaluation.StepEnv(
        ctx={"project": meta["namespace"], "stage": meta["name"]},
        vars={},
        outputs={},
        step_metas=[],
        alias="",
        data=data,
        clock=clock,
    )
    variables = await evaluation.evaluate_vars(spec.get("vars"), base, with_outputs=False)
    env = base.with_vars(variables)
    out: dict[str, str] = {}
    for arg in (spec.get("verification") or {}).get("args") or []:
        name = str(arg.get("name", ""))
        value = arg.get("value", "")

        def run(value: Any = value) -> Any:
            return evaluation.evaluate(value, env.env(with_outputs=False), clock)

        try:
            out[name] = arg_text(await data_mod.evaluate_with_data(data, run))
        except errors.ExpressionError as err:
            raise errors.ExpressionError(f"spec.verification.args[{name}]: {err.message}") from err
    return out


class Verifier:
    """Starts, advances, re-runs and aborts a Stage's verification."""

    def __init__(
        self,
        store: interface.Store,
        clock: clock_mod.Clock,
        runner: analysis.AnalysisRunner,
        events: events_mod.StoreEvents | Any,
    ) -> None:
        self.store = store
        self.clock = clock
        self.runner = runner
        self.events = events

    async def sync(self, stage: Obj) -> tuple[Obj, timedelta | None]:
        """Bring the Stage's verification forward; returns the Stage and when to come back."""
        stage = await self._handle_reverify(stage)
        info = ps.current_verification(stage)
        delay: timedelta | None = None
        if info is not None and info.get("phase") == "Pending":
            stage = await self._start(stage)
            info = ps.current_verification(stage)
        if info is not None and info.get("phase") == "Running":
            stage, delay = await self._advance(stage)
        stage = await self._clear_stale_abort(stage)
        return stage, delay

    # --- requests ---------------------------------------------------------------------------

    async def _handle_reverify(self, stage: Obj) -> Obj:
        request = ps.parse_request(ps.annotations_of(stage).get(ps.REVERIFY_ANNOTATION))
        if request is None:
            return stage
        info = ps.current_verification(stage)
        collection = ps.current_collection(stage)
        if (
            collection is not None
            and ps.has_verification(stage)
            and str(info.get("phase") if info else "") not in ps.VERIFYING
            and request.get("id", "") == str((info or {}).get("id", ""))
        ):
            stage = copy.deepcopy(stage)
            collection = ps.current_collection(stage) or {}
            history = list(collection.get("verificationHistory") or [])
            history.insert(
                0,
                {
                    "id": ps.new_id(self.clock),
                    "actor": request.get("actor") or ps.CONTROLLER_ACTOR,
                    "startTime": clock_mod.format_time(self.clock.now()),
                    "phase": "Pending",
                },
            )
            collection["verificationHistory"] = history[: ps.HISTORY_MAX]
            stage = await self.store.update_status(stage)
        return await self._clear_annotation(stage, ps.REVERIFY_ANNOTATION)

    async def _clear_annotation(self, stage: Obj, key: str) -> Obj:
        def clear(notes: dict[str, str]) -> bool:
            return notes.pop(key, None) is not None

        meta = stage["metadata"]
        updated = await ps.patch_annotations(
            self.store, "Stage", meta["namespace"], meta["name"], clear
        )
        return updated if updated is not None else stage

    async def _clear_stale_abort(self, stage: Obj) -> Obj:
        request = ps.parse_request(ps.annotations_of(stage).get(ps.ABORT_ANNOTATION))
        if request is None:
            return stage
        info = ps.current_verification(stage)
        if (
            info is not None
            and info.get("phase") in ps.VERIFYING
            and request.get("id")
            in (
                info.get("id"),
                "",
            )
        ):
            return stage  # still to be handled by the next advance
        return await self._clear_annotation(stage, ps.ABORT_ANNOTATION)

    # --- start ------------------------------------------------------------------------------

    async def _start(self, stage: Obj) -> Obj:
        stage = copy.deepcopy(stage)
        meta = stage["metadata"]
        namespace, stage_name = str(meta["namespace"]), str(meta["name"])
        collection = ps.current_collection(stage) or {}
        info = (collection.get("verificationHistory") or [{}])[0]
        name = run_name(stage_name, str(info["id"]), str(collection.get("id", "")))
        try:
            run = await ps.get_or_none(self.store, "AnalysisRun", namespace, name)
            if run is None:
                run = await self._build(stage, collection, name)
                try:
                    run = await self.store.create(run)
                except errors.AlreadyExistsError:
                    run = await self.store.get("AnalysisRun", namespace, name)
        except (errors.ValidationError, errors.ExpressionError, errors.NotFoundError) as err:
            info["phase"] = "Error"
            info["message"] = f"error starting verification: {err}"
            info["finishTime"] = clock_mod.format_time(self.clock.now())
            stored = await self.store.update_status(stage)
            await self._outcome_event(stored, info, collection)
            return stored
        info["phase"] = "Running"
        info["analysisRun"] = {"namespace": namespace, "name": name, "phase": "Running"}
        return await self.store.update_status(stage)

    async def _build(self, stage: Obj, collection: Obj, name: str) -> Obj:
        meta = stage["metadata"]
        namespace = str(meta["namespace"])
        verification = (stage.get("spec") or {}).get("verification") or {}
        templates: list[Obj] = []
        for ref in verification.get("analysisTemplates") or []:
            kind = ref.get("kind") or "AnalysisTemplate"
            template_ns = namespace if kind == "AnalysisTemplate" else ""
            found = await ps.get_or_none(self.store, kind, template_ns, str(ref.get("name", "")))
            if found is None:
                where = f" in project {namespace!r}" if template_ns else ""
                raise errors.NotFoundError(
                    f"{kind} {ref.get('name')!r} not found{where}; create it or fix "
                    "spec.verification.analysisTemplates"
                )
            templates.append(found)
        items: dict[str, Obj] = {}
        for key, ref in (collection.get("items") or {}).items():
            freight = await ps.get_or_none(self.store, "Freight", namespace, str(ref.get("name")))
            items[key] = freight if freight is not None else dict(ref)
        args = await evaluate_args(self.store, self.clock, stage, items)
        run_meta = verification.get("analysisRunMetadata") or {}
        labels = dict(run_meta.get("labels") or {})
        labels[ps.STAGE_LABEL] = admission.stage_label_value(str(meta["name"]))
        labels[ps.FREIGHT_COLLECTION_LABEL] = str(collection.get("id", ""))
        return analysis.build_analysis_run(
            namespace=namespace,
            name=name,
            templates=templates,
            args=args,
            labels=labels,
            annotations=dict(run_meta.get("annotations") or {}),
        )

    # --- advance ----------------------------------------------------------------------------

    async def _advance(self, stage: Obj) -> tuple[Obj, timedelta | None]:
        stage = copy.deepcopy(stage)
        meta = stage["metadata"]
        namespace = str(meta["namespace"])
        collection = ps.current_collection(stage) or {}
        info = (collection.get("verificationHistory") or [{}])[0]
        ref = info.get("analysisRun") or {}
        run = await ps.get_or_none(self.store, "AnalysisRun", namespace, str(ref.get("name", "")))
        if run is None:
            info["phase"] = "Error"
            info["message"] = f"AnalysisRun {ref.get('name')!r} disappeared"
            info["finishTime"] = clock_mod.format_time(self.clock.now())
            stored = await self.store.update_status(stage)
            await self._outcome_event(stored, info, collection)
            return stored, None
        abort = ps.parse_request(ps.annotations_of(stage).get(ps.ABORT_ANNOTATION))
        if (
            abort is not None
            and abort.get("id") in (info.get("id"), "")
            and not (run.get("spec") or {}).get("terminate")
        ):
            run = copy.deepcopy(run)
            run.setdefault("spec", {})["terminate"] = True
            run = await self.store.update(run)
            info["abortedBy"] = abort.get("actor") or ps.CONTROLLER_ACTOR
        advanced, delay = await self.runner.advance(run)
        if advanced.get("status") != run.get("status"):
            run = await self.store.update_status(advanced)
        phase = str((run.get("status") or {}).get("phase") or "Running")
        ref["phase"] = phase
        info["analysisRun"] = ref
        finished = measurement.Phase(phase) in measurement.TERMINAL
        if finished:
            info["phase"] = phase
            info["finishTime"] = clock_mod.format_time(self.clock.now())
            message = str((run.get("status") or {}).get("message") or "")
            if message:
                info["message"] = message
            await self._apply_outcome(namespace, str(meta["name"]), collection, phase)
        stored = await self.store.update_status(stage)
        if finished:
            await self._outcome_event(stored, info, collection)
            if abort is not None:
                stored = await self._clear_annotation(stored, ps.ABORT_ANNOTATION)
        return stored, (None if finished else delay)

    async def _apply_outcome(
        self, namespace: str, stage_name: str, collection: Obj, phase: str
    ) -> None:
        now = clock_mod.format_time(self.clock.now())
        for ref in (collection.get("items") or {}).values():
            name = str(ref.get("name", ""))
            if phase == "Successful":
                await ps.patch_status(
                    self.store,
                    "Freight",
                    namespace,
                    name,
                    lambda s: stage_promotions.mark_verified(s, stage_name, now),
                )
            elif phase in REVOKING:
                await ps.patch_status(
                    self.store,
                    "Freight",
                    namespace,
                    name,
                    lambda s: stage_promotions.unmark_verified(s, stage_name),
                )

    async def _outcome_event(self, stage: Obj, info: Obj, collection: Obj) -> None:
        phase = str(info.get("phase"))
        names = ", ".join(
            sorted(str(v.get("name")) for v in (collection.get("items") or {}).values())
        )
        message = f"verification of freight {names} {phase.lower()}"
        if info.get("message"):
            message += f": {info['message']}"
        actor = str(info.get("abortedBy") or info.get("actor") or ps.CONTROLLER_ACTOR)
        await self.events.record(
            stage,
            "Normal" if phase == "Successful" else "Warning",
            _EVENT_REASON.get(phase, "FreightVerificationUnknown"),
            message,
            actor=actor,
        )
