"""The Promotion the benchmarks hand to the engine, as the controller would: Pending, for one
Warehouse Freight carrying one image tag (shared by promotion_git and engine_overhead)."""

from __future__ import annotations

from typing import Any


def pending_promotion(
    *,
    project: str,
    name: str,
    stage: str,
    freight: str,
    warehouse: str,
    image: str,
    tag: str,
    steps: list[dict[str, Any]],
    variables: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A Promotion of Freight `freight` (from `warehouse`, carrying `image`:`tag`) to `stage`."""
    origin = {"kind": "Warehouse", "name": warehouse}
    item = {"name": freight, "origin": origin, "images": [{"repoURL": image, "tag": tag}]}
    spec: dict[str, Any] = {"stage": stage, "freight": freight, "steps": steps}
    if variables is not None:
        spec["vars"] = variables
    return {
        "apiVersion": "kargo.akuity.io/v1alpha1",
        "kind": "Promotion",
        "metadata": {"namespace": project, "name": name},
        "spec": spec,
        "status": {
            "phase": "Pending",
            "freight": {"name": freight, "origin": origin},
            "freightCollection": {"items": {f"Warehouse/{warehouse}": item}},
        },
    }
