"""Builders of Stage, Freight and Promotion objects for controller tests."""

from __future__ import annotations

from typing import Any


def stage(name: str = "test", namespace: str = "demo", **status: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "kargo.akuity.io/v1alpha1",
        "kind": "Stage",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "requestedFreight": [
                {"origin": {"kind": "Warehouse", "name": "w"}, "sources": {"direct": True}}
            ]
        },
    }
    if status:
        obj["status"] = status
    return obj


def freight(name: str, warehouse: str = "w", namespace: str = "demo") -> dict[str, Any]:
    return {
        "apiVersion": "kargo.akuity.io/v1alpha1",
        "kind": "Freight",
        "metadata": {"name": name, "namespace": namespace},
        "alias": f"alias-{name}",
        "origin": {"kind": "Warehouse", "name": warehouse},
        "images": [{"repoURL": f"ghcr.io/acme/{warehouse}", "tag": name}],
    }


def promotion(
    name: str,
    steps: list[dict[str, Any]],
    *,
    stage: str = "test",
    freight: str = "f1",
    namespace: str = "demo",
) -> dict[str, Any]:
    return {
        "apiVersion": "kargo.akuity.io/v1alpha1",
        "kind": "Promotion",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"kargo.akuity.io/stage": stage},
        },
        "spec": {"stage": stage, "freight": freight, "steps": steps},
    }
