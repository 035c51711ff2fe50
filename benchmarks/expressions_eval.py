"""Evaluations per second of a typical step config with ten `${{ }}` values.

Baseline, measured in the same run: the same ten substitutions done with plain `str.replace`
on pre-computed values (the cheapest possible templating: no parsing, no typing). The ratio
says what the expression language costs on top of that. Programs are compiled once and cached
by source, as in the promotion engine.

Run: .venv/bin/python -m benchmarks.expressions_eval
"""

from __future__ import annotations

import copy
import time
from typing import Any

from kargo.expressions import functions, templates

CONFIG: dict[str, Any] = {
    "repoURL": "${{ vars.gitopsRepo }}",
    "checkout": [
        {"commit": "${{ commitFrom(vars.srcRepo).ID }}", "path": "./src"},
        {"branch": "stage/${{ ctx.stage }}", "create": True, "path": "./out"},
    ],
    "images": [
        {
            "image": "${{ vars.image }}",
            "tag": "${{ imageFrom(vars.image).Tag }}",
            "digest": "${{ imageFrom(vars.image).Digest }}",
        }
    ],
    "message": "Promote ${{ vars.image }}:${{ imageFrom(vars.image).Tag }} to ${{ ctx.stage }}",
    "replicas": "${{ vars.replicas }}",
    "enabled": "${{ ctx.stage != 'dev' }}",
}


class _Data:
    def __init__(self) -> None:
        self.collection = {
            "Warehouse/w": {
                "commits": [{"repoURL": "https://github.com/acme/app", "id": "c0ffee"}],
                "images": [{"repoURL": "ghcr.io/acme/api", "tag": "1.2.3", "digest": "sha256:ab"}],
            }
        }

    def freight_collection(self) -> dict[str, Any]:
        return self.collection

    def requested_origins(self) -> list[str]:
        return ["Warehouse/w"]

    def warehouse(self, name: str) -> dict[str, Any]:  # noqa: ARG002
        return {
            "spec": {
                "subscriptions": [
                    {"git": {"repoURL": "https://github.com/acme/app"}},
                    {"image": {"repoURL": "ghcr.io/acme/api"}},
                ]
            }
        }

    def freight(self, name: str) -> None:  # noqa: ARG002
        return None

    stage = config_map = secret = shared_config_map = shared_secret = freight


ENV = functions.build_promotion_env(
    {"project": "demo", "stage": "prod", "promotion": "p1"},
    {
        "gitopsRepo": "https://github.com/acme/gitops",
        "srcRepo": "https://github.com/acme/app",
        "image": "ghcr.io/acme/api",
        "replicas": 3,
    },
    {},
    None,
    {},
    functions.promotion_functions(_Data()),
)

# the same substitutions, as pre-computed text for str.replace
REPLACEMENTS = {
    "${{ vars.gitopsRepo }}": "https://github.com/acme/gitops",
    "${{ commitFrom(vars.srcRepo).ID }}": "c0ffee",
    "${{ ctx.stage }}": "prod",
    "${{ vars.image }}": "ghcr.io/acme/api",
    "${{ imageFrom(vars.image).Tag }}": "1.2.3",
    "${{ imageFrom(vars.image).Digest }}": "sha256:ab",
    "${{ vars.replicas }}": "3",
    "${{ ctx.stage != 'dev' }}": "true",
}


def _replace_walk(value: Any) -> Any:
    if isinstance(value, str):
        for old, new in REPLACEMENTS.items():
            value = value.replace(old, new)
        return value
    if isinstance(value, dict):
        return {k: _replace_walk(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_walk(v) for v in value]
    return value


def _rate(fn: Any, seconds: float = 1.0) -> float:
    fn()  # warm up (fills the compile cache)
    count = 0
    start = time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(50):
            fn()
        count += 50
    return count / elapsed


def main() -> None:
    expected = templates.evaluate_template(CONFIG, ENV)
    assert expected["replicas"] == 3
    assert expected["enabled"] is True
    assert _replace_walk(copy.deepcopy(CONFIG))["images"][0]["tag"] == "1.2.3"
    count = sum(s.count("${{") for s in _strings(CONFIG))
    expr_rate = _rate(lambda: templates.evaluate_template(CONFIG, ENV))
    replace_rate = _rate(lambda: _replace_walk(CONFIG))
    print(f"config with {count} ${{{{ }}}} expressions")
    print(f"evaluate_template (compiled, cached): {expr_rate:,.0f} configs/s")
    print(f"str.replace baseline:                 {replace_rate:,.0f} configs/s")
    print(f"ratio (replace / expressions):        {replace_rate / expr_rate:.1f}x")


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


if __name__ == "__main__":
    main()
