"""Output of `kargo get`: human tables (columns like Kargo's), and yaml, json or name.

`render(kind, objects, output=..., now=..., no_headers=...) -> str` is pure: the caller passes
`now` (the CLI uses the wall clock; tests pass a fixed time), so AGE is testable.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

import yaml
from rich.console import Console
from rich.table import Table

from kargo import clock as clock_mod, errors

Output = Literal["table", "yaml", "json", "name"]
Column = tuple[str, Callable[[dict[str, Any], datetime], str]]
SHARD_LABEL = "kargo.akuity.io/shard"
ALIAS_LABEL = "kargo.akuity.io/alias"
STAGE_LABEL = "kargo.akuity.io/stage"


def age(obj: dict[str, Any], now: datetime) -> str:
    """kubectl-style age of an object (`45s`, `12m`, `5h`, `3d`, `2y`)."""
    stamp = (obj.get("metadata") or {}).get("creationTimestamp")
    if not stamp:
        return "<unknown>"
    try:
        seconds = int((now - clock_mod.parse_time(str(stamp))).total_seconds())
    except ValueError:
        return "<unknown>"
    seconds = max(seconds, 0)
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 120:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if days < 365 * 2:
        return f"{days}d"
    return f"{days // 365}y"


def _meta(obj: dict[str, Any], key: str) -> str:
    return str((obj.get("metadata") or {}).get(key) or "")


def _label(obj: dict[str, Any], key: str) -> str:
    return str(((obj.get("metadata") or {}).get("labels") or {}).get(key) or "")


def _name(obj: dict[str, Any], _: datetime) -> str:
    return _meta(obj, "name")


def _shard(obj: dict[str, Any], _: datetime) -> str:
    return str((obj.get("spec") or {}).get("shard") or _label(obj, SHARD_LABEL))


def _condition(obj: dict[str, Any], kind: str) -> str:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == kind:
            return str(cond.get("status", ""))
    return ""


def _current_freight(obj: dict[str, Any], _: datetime) -> str:
    status = obj.get("status") or {}
    history = status.get("freightHistory") or []
    if history and isinstance(history[0], dict):
        items = history[0].get("items") or {}
        names = [str(v.get("name", "")) for v in items.values() if isinstance(v, dict)]
        if names:
            return ",".join(sorted(names))
    last = (status.get("lastPromotion") or {}).get("freight") or {}
    return str(last.get("name", "")) if isinstance(last, dict) else ""


def _health(obj: dict[str, Any], _: datetime) -> str:
    health = (obj.get("status") or {}).get("health") or {}
    return str(health.get("status", "")) if isinstance(health, dict) else ""


def _ready(obj: dict[str, Any], _: datetime) -> str:
    return _condition(obj, "Ready")


def _alias(obj: dict[str, Any], _: datetime) -> str:
    return str(obj.get("alias") or _label(obj, ALIAS_LABEL))


def _origin(obj: dict[str, Any], _: datetime) -> str:
    origin = obj.get("origin") or {}
    if not isinstance(origin, dict) or not origin.get("name"):
        return ""
    return f"{origin.get('kind', 'Warehouse')}/{origin['name']}"


def _promo_stage(obj: dict[str, Any], _: datetime) -> str:
    return str((obj.get("spec") or {}).get("stage") or _label(obj, STAGE_LABEL))


def _promo_freight(obj: dict[str, Any], _: datetime) -> str:
    return str((obj.get("spec") or {}).get("freight") or "")


def _phase(obj: dict[str, Any], _: datetime) -> str:
    return str((obj.get("status") or {}).get("phase") or "")


def _type(obj: dict[str, Any], _: datetime) -> str:
    return str(obj.get("type") or "")


AGE: Column = ("AGE", age)
COLUMNS: dict[str, list[Column]] = {
    "Project": [("NAME", _name), ("READY", _ready), AGE],
    "Warehouse": [("NAME", _name), ("SHARD", _shard), ("READY", _ready), AGE],
    "Stage": [
        ("NAME", _name),
        ("SHARD", _shard),
        ("CURRENT FREIGHT", _current_freight),
        ("HEALTH", _health),
        ("READY", _ready),
        AGE,
    ],
    "Freight": [("NAME", _name), ("ALIAS", _alias), ("ORIGIN", _origin), AGE],
    "Promotion": [
        ("NAME", _name),
        ("STAGE", _promo_stage),
        ("FREIGHT", _promo_freight),
        ("PHASE", _phase),
        AGE,
    ],
    "Secret": [("NAME", _name), ("TYPE", _type), AGE],
}
DEFAULT_COLUMNS: list[Column] = [("NAME", _name), AGE]


def qualified_name(obj: dict[str, Any]) -> str:
    """kubectl's `-o name`: `stage.kargo.akuity.io/test`, `secret/x` for core kinds."""
    kind = str(obj.get("kind", "")).lower()
    api_version = str(obj.get("apiVersion", ""))
    group = api_version.split("/")[0] if "/" in api_version else ""
    return f"{kind}.{group}/{_meta(obj, 'name')}" if group else f"{kind}/{_meta(obj, 'name')}"


def table(kind: str, objects: list[dict[str, Any]], now: datetime, *, no_headers: bool) -> str:
    """A plain-text table (no colours, no borders), as kubectl prints."""
    columns = COLUMNS.get(kind, DEFAULT_COLUMNS)
    grid = Table(
        box=None,
        show_header=not no_headers,
        show_edge=False,
        pad_edge=False,
        padding=(0, 3, 0, 0),
        header_style="",
    )
    for title, _ in columns:
        grid.add_column(title, no_wrap=True, overflow="ignore")
    for obj in objects:
        grid.add_row(*(fn(obj, now) for _, fn in columns))
    buffer = io.StringIO()
    console = Console(file=buffer, width=1000, color_system=None, highlight=False)
    console.print(grid)
    lines = [line.rstrip() for line in buffer.getvalue().splitlines()]
    return "\n".join(lines) + "\n"


def render(
    kind: str,
    objects: list[dict[str, Any]],
    *,
    output: Output,
    now: datetime,
    no_headers: bool = False,
    single: bool = False,
) -> str:
    """Format objects of one kind; `single` prints one object rather than a List."""
    if output == "name":
        return "".join(qualified_name(o) + "\n" for o in objects)
    if output in ("yaml", "json"):
        doc: Any = (
            objects[0]
            if single and objects
            else {"apiVersion": "v1", "kind": "List", "items": objects}
        )
        if output == "json":
            return json.dumps(doc, indent=2, sort_keys=False) + "\n"
        return str(yaml.safe_dump(doc, sort_keys=False, default_flow_style=False))
    if output == "table":
        if not objects:
            return ""
        return table(kind, objects, now, no_headers=no_headers)
    raise errors.ValidationError(f"unknown output format {output!r}; use yaml, json or name")
