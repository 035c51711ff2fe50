"""A small pipeline world for Stage tests (helpers only, no tests): a real SQLite store, a
ManualClock, the Stage and Promotion reconcilers wired as `build_manager` wires them, and
`settle()` which reconciles every Stage and unfinished Promotion until nothing changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from kargo.clock import ManualClock, format_time
from kargo.controller import events as events_mod, stage_promotions, stages
from kargo.promotion import engine as engine_mod
from kargo.store.interface import ObjectKey
from kargo.verification import analysis
from kargo.verification.providers import job
from tests.controller.teststeps import make_registry

API = "kargo.akuity.io/v1alpha1"
NS = "demo"
DISCOVERED = datetime(2025, 12, 31, tzinfo=UTC)


def request(warehouse="w", *, direct=False, stages_=(), strategy=None, soak=None, policy=None):
    sources: dict[str, Any] = {}
    if direct:
        sources["direct"] = True
    if stages_:
        sources["stages"] = list(stages_)
    if strategy:
        sources["availabilityStrategy"] = strategy
    if soak:
        sources["requiredSoakTime"] = soak
    if policy:
        sources["autoPromotionOptions"] = {"selectionPolicy": policy}
    return {"origin": {"kind": "Warehouse", "name": warehouse}, "sources": sources}


def job_template(name, script, *, count=None, interval=None):
    metric: dict[str, Any] = {
        "name": "check",
        "provider": {
            "job": {
                "spec": {
                    "template": {
                        "spec": {"containers": [{"name": "c", "command": ["sh", "-c", script]}]}
                    }
                }
            }
        },
    }
    if count is not None:
        metric["count"] = count
    if interval is not None:
        metric["interval"] = interval
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisTemplate",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"args": [{"name": "tag"}], "metrics": [metric]},
    }


class World:
    def __init__(self, store, tmp_path):
        self.store = store
        self.clock = ManualClock()
        self.events = events_mod.StoreEvents(store, self.clock)
        self.services = engine_mod.EngineServices(control_plane=store, extra={"calls": []})
        self.engine = engine_mod.Engine(
            make_registry(), self.clock, self.services, work_root=tmp_path / "work"
        )
        runner = analysis.AnalysisRunner({"job": job.JobProvider()}, self.clock)
        self.stage_reconciler, self.sync = stages.build(
            store, self.clock, events=self.events, runner=runner
        )
        self.promotions = stage_promotions.PipelinePromotionReconciler(
            store, self.engine, self.clock, events=self.events, sync=self.sync
        )
        self.tmp = tmp_path

    @property
    def calls(self):
        return self.services.extra["calls"]

    async def project(self):
        await self.store.create({"apiVersion": API, "kind": "Project", "metadata": {"name": NS}})
        await self.warehouse()

    async def warehouse(self, name="w"):
        await self.store.create(
            {
                "apiVersion": API,
                "kind": "Warehouse",
                "metadata": {"name": name, "namespace": NS},
                "spec": {"subscriptions": [{"image": {"repoURL": "ghcr.io/acme/app"}}]},
            }
        )

    async def policies(self, *policies):
        await self.store.create(
            {
                "apiVersion": API,
                "kind": "ProjectConfig",
                "metadata": {"name": NS, "namespace": NS},
                "spec": {"promotionPolicies": list(policies)},
            }
        )

    async def stage(
        self, name, *requests, steps=None, verification=None, labels=None, control_flow=False
    ):
        spec: dict[str, Any] = {"requestedFreight": list(requests) or [request(direct=True)]}
        if not control_flow:
            spec["promotionTemplate"] = {
                "spec": {
                    "steps": steps
                    or [
                        {
                            "uses": "record",
                            "config": {"value": "${{ ctx.meta.promotion.rollback }}"},
                        }
                    ]
                }
            }
        if verification:
            spec["verification"] = verification
        meta: dict[str, Any] = {"name": name, "namespace": NS}
        if labels:
            meta["labels"] = labels
        return await self.store.create(
            {"apiVersion": API, "kind": "Stage", "metadata": meta, "spec": spec}
        )

    async def freight(self, name, *, warehouse="w", tag=None, minutes=0):
        return await self.store.create(
            {
                "apiVersion": API,
                "kind": "Freight",
                "metadata": {"name": name, "namespace": NS},
                "alias": f"alias-{name}",
                "origin": {"kind": "Warehouse", "name": warehouse},
                "images": [{"repoURL": "ghcr.io/acme/app", "tag": tag or name}],
                "discoveredAt": format_time(DISCOVERED + timedelta(minutes=minutes)),
            }
        )

    async def promote(self, stage, freight, *, annotations=None, actor="admin"):
        from kargo.controller import auto_promotion, warehouses

        self.clock.advance(0.01)
        return await auto_promotion.create_promotion(
            self.store,
            self.clock,
            await self.store.get("Stage", NS, stage),
            freight,
            actor=actor,
            annotations=annotations,
            lookup=warehouses.StoreLookup(self.store),
        )

    async def settle(self, rounds=40):
        results = {}
        for _ in range(rounds):
            before = await self.store.current_resource_version()
            for s in (await self.store.list("Stage")).items:
                key = ObjectKey("Stage", NS, s["metadata"]["name"])
                results[key.name] = await self.stage_reconciler.reconcile(key)
            for p in (await self.store.list("Promotion")).items:
                if (p.get("status") or {}).get("phase") in engine_mod.TERMINAL_PHASES:
                    continue
                await self.promotions.reconcile(ObjectKey("Promotion", NS, p["metadata"]["name"]))
            if before == await self.store.current_resource_version():
                return results
        raise AssertionError("the pipeline did not settle")

    async def get(self, kind, name):
        return await self.store.get(kind, NS, name)

    async def status(self, kind, name):
        return (await self.get(kind, name)).get("status") or {}

    async def promotions_of(self, stage):
        return sorted(
            (p for p in (await self.store.list("Promotion")).items if p["spec"]["stage"] == stage),
            key=lambda p: p["metadata"]["name"],
        )

    async def event_reasons(self):
        items = (await self.store.list("Event")).items
        return [(e["reason"], e["actor"]) for e in sorted(items, key=events_mod.sort_key)]
