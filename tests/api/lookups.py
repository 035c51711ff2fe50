"""An in-memory `kargo.api.admission.Lookup` over plain dicts, for admission and lint tests."""

from __future__ import annotations

import copy
from typing import Any


class DictLookup:
    """Objects keyed by (kind, namespace, name); cluster-scoped kinds use namespace ""."""

    def __init__(self, *objects: dict[str, Any]) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        for obj in objects:
            self.put(obj)

    def put(self, obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj["metadata"]
        self.objects[(obj["kind"], meta.get("namespace", ""), meta["name"])] = copy.deepcopy(obj)
        return obj

    async def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        found = self.objects.get((kind, namespace, name))
        return copy.deepcopy(found) if found is not None else None

    async def list(self, kind: str, namespace: str) -> list[dict[str, Any]]:
        return [
            copy.deepcopy(obj)
            for (k, ns, _), obj in sorted(self.objects.items())
            if k == kind and ns == namespace
        ]


API = "kargo.akuity.io/v1alpha1"


def project(name: str = "p") -> dict[str, Any]:
    return {"apiVersion": API, "kind": "Project", "metadata": {"name": name}}


def warehouse(name: str = "w", ns: str = "p") -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "Warehouse",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"subscriptions": [{"image": {"repoURL": "nginx"}}]},
    }


def stage(
    name: str,
    *,
    upstream: list[str] | None = None,
    steps: list[dict[str, Any]] | None = None,
    stage_vars: list[dict[str, Any]] | None = None,
    template_vars: list[dict[str, Any]] | None = None,
    ns: str = "p",
    warehouse_name: str = "w",
) -> dict[str, Any]:
    sources: dict[str, Any] = {"stages": upstream} if upstream else {"direct": True}
    spec: dict[str, Any] = {
        "requestedFreight": [
            {"origin": {"kind": "Warehouse", "name": warehouse_name}, "sources": sources}
        ],
        "promotionTemplate": {
            "spec": {"steps": steps if steps is not None else [{"uses": "fail"}]}
        },
    }
    if stage_vars:
        spec["vars"] = stage_vars
    if template_vars:
        spec["promotionTemplate"]["spec"]["vars"] = template_vars
    return {
        "apiVersion": API,
        "kind": "Stage",
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    }


def freight(tag: str = "1.0", ns: str = "p", **extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "Freight",
        "metadata": {"namespace": ns},
        "origin": {"kind": "Warehouse", "name": "w"},
        "images": [{"repoURL": "nginx", "tag": tag, "digest": "sha256:" + tag}],
        **extra,
    }
