"""What `kargo quickstart` shows: Freight appearing and moving through the Stages, as it happens.

`Watcher` polls the API (the quickstart's own server, on loopback) twice a second and prints one
line per transition: new Freight (alias and versions), a Promotion starting, succeeding or
failing (with its message). `wait_for_flow` returns once the newest Freight is in every
auto-promoted Stage; `follow` keeps reporting until Ctrl-C. Neighbours: `kargo.cli.client`
(the calls), `kargo.cli.quickstart_cmd` (the command).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.markup import escape

from kargo import errors
from kargo.cli import client as client_mod, quickstart_content as content

POLL_SECONDS = 0.5


def describe_freight(freight: dict[str, Any]) -> str:
    """`1.0.1 (image), v1.0.1@abc1234 (git)`: the versions a piece of Freight carries."""
    parts = [f"{image.get('tag')} (image)" for image in freight.get("images") or []]
    for commit in freight.get("commits") or []:
        ref = commit.get("tag") or commit.get("branch") or ""
        parts.append(f"{ref}@{str(commit.get('id') or '')[:7]} (git)")
    return ", ".join(parts) or "no artifacts"


@dataclass
class Snapshot:
    """Freight and Stages as last seen."""

    freight: dict[str, dict[str, Any]] = field(default_factory=dict)  # by name
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)  # by name

    def newest(self) -> dict[str, Any] | None:
        """The most recently created Freight."""
        items = sorted(
            self.freight.values(),
            key=lambda f: (
                str(f["metadata"].get("creationTimestamp") or ""),
                f["metadata"]["name"],
            ),
        )
        return items[-1] if items else None

    def current(self, stage: str) -> str | None:
        """The name of the Freight the Stage runs now (from its freightHistory)."""
        history = ((self.stages.get(stage) or {}).get("status") or {}).get("freightHistory") or []
        items = (history[0].get("items") or {}) if history else {}
        names = [str(item.get("name")) for item in items.values() if item.get("name")]
        return names[0] if names else None

    def alias_in(self, stage: str) -> str | None:
        """The alias of the Freight the Stage runs now."""
        name = self.current(stage)
        freight = self.freight.get(name or "")
        return str(freight.get("alias") or name) if freight else None

    def label(self, name: str | None) -> str:
        """`alias (versions)` of a piece of Freight."""
        freight = self.freight.get(name or "")
        if freight is None:
            return name or "?"
        return f"{freight.get('alias') or name} ({describe_freight(freight)})"


class Watcher:
    """Polls Freight, Stages and Promotions; prints transitions."""

    def __init__(self, api: client_mod.Client, console: Console) -> None:
        self.api = api
        self.console = console
        self.snapshot = Snapshot()
        self._promotions: dict[str, str] = {}  # name -> phase already reported

    def poll(self) -> Snapshot:
        """Read the project's state and print what changed since the last poll."""
        base = f"/v1beta1/projects/{content.PROJECT}"
        freight = {f["metadata"]["name"]: f for f in self.api.list_all(f"{base}/freight")}
        stages = {s["metadata"]["name"]: s for s in self.api.list_all(f"{base}/stages")}
        promotions = list(self.api.list_all(f"{base}/promotions"))
        snap = Snapshot(freight, stages)
        for name in sorted(
            set(freight) - set(self.snapshot.freight),
            key=lambda n: str(freight[n]["metadata"].get("creationTimestamp") or ""),
        ):
            self.console.print(f"[green]new Freight[/green] {escape(snap.label(name))}")
        for promo in sorted(promotions, key=lambda p: str(p["metadata"].get("creationTimestamp"))):
            self._report_promotion(promo, snap)
        self.snapshot = snap
        return snap

    def _report_promotion(self, promo: dict[str, Any], snap: Snapshot) -> None:
        name = str(promo["metadata"]["name"])
        spec, status = promo.get("spec") or {}, promo.get("status") or {}
        phase = str(status.get("phase") or "Pending")
        before = self._promotions.get(name)
        if before == phase or (before is not None and phase in ("Pending", "Running")):
            return
        self._promotions[name] = phase
        stage = str(spec.get("stage") or "?")
        what = escape(snap.label(str(spec.get("freight") or "")))
        if phase in ("Pending", "Running"):
            self.console.print(f"[cyan]promoting[/cyan] {what} to {stage}")
        elif phase == "Succeeded":
            self.console.print(f"[bold green]{stage}[/bold green] now runs {what}")
        else:
            message = escape(str(status.get("message") or ""))
            self.console.print(f"[red]promotion to {stage} {phase.lower()}[/red]: {message}")

    def wait_for_flow(self, seconds: float) -> Snapshot:
        """Poll until the newest Freight runs in every auto-promoted Stage; returns that view."""
        deadline = time.monotonic() + seconds
        with self.console.status("waiting for Freight to reach test and uat..."):
            while True:
                snap = self.poll()
                newest = snap.newest()
                if newest is not None and all(
                    snap.current(stage) == newest["metadata"]["name"]
                    for stage in content.AUTO_PROMOTED
                ):
                    return snap
                if time.monotonic() > deadline:
                    raise errors.UnavailableError(
                        f"Freight did not reach {' and '.join(content.AUTO_PROMOTED)} within "
                        f"{seconds:.0f}s; see the server log and `kargo get promotions "
                        f"--project {content.PROJECT}`"
                    )
                time.sleep(POLL_SECONDS)

    def follow(self) -> None:
        """Report transitions until interrupted (Ctrl-C)."""
        while True:
            time.sleep(POLL_SECONDS * 2)
            try:
                self.poll()
            except errors.UnavailableError as err:
                self.console.print(f"[yellow]{escape(err.message)}[/yellow]")
