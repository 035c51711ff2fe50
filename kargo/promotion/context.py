"""What a step receives (StepContext) and returns (StepResult).

A step sees its promotion's work directory, identity (project, stage, promotion, Freight), the
shared state of earlier outputs, and only the services its declared capabilities grant.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from kargo.credentials.interface import CredentialsProvider


class StepStatus(StrEnum):
    """A step's outcome, in severity order (DetermineFinalPhase uses this order)."""

    SUCCEEDED = "Succeeded"
    SKIPPED = "Skipped"
    RUNNING = "Running"
    ABORTED = "Aborted"
    FAILED = "Failed"
    ERRORED = "Errored"


STEP_SEVERITY = {s: i for i, s in enumerate(StepStatus)}


@dataclass(frozen=True)
class GitUser:
    """The committer identity promotions use unless a step says otherwise."""

    name: str = "Kargo"
    email: str = "no-reply@kargo.local"
    signing_key: str | None = field(default=None, repr=False)


@dataclass
class FreightCollection:
    """The Freight a promotion carries: by origin key "Warehouse/<name>" -> Freight object dict."""

    items: dict[str, dict[str, Any]] = field(default_factory=dict)

    def all_images(self) -> list[dict[str, Any]]:
        """Every image of every Freight in the collection."""
        return [img for f in self.items.values() for img in f.get("images") or []]

    def all_commits(self) -> list[dict[str, Any]]:
        """Every commit of every Freight in the collection."""
        return [c for f in self.items.values() for c in f.get("commits") or []]

    def all_charts(self) -> list[dict[str, Any]]:
        """Every chart of every Freight in the collection."""
        return [c for f in self.items.values() for c in f.get("charts") or []]


@dataclass
class StepContext:
    """The typed context a step runs with. Services are None unless a capability grants them."""

    work_dir: Path
    project: str
    stage: str
    promotion: str
    alias: str
    freight: FreightCollection = field(default_factory=FreightCollection)
    target_freight: str = ""
    state: dict[str, Any] = field(default_factory=dict)  # outputs of earlier steps by alias
    vars: dict[str, Any] = field(default_factory=dict)
    actor: str = ""
    dry_run: bool = False  # preview: never push, never call remote systems
    # The engine checks out what each step declares (StepSpec.paths) before running it, so
    # git-clone may start checkouts with the top-level files only (kargo.git.lazy).
    lazy_checkouts: bool = False
    # capability-gated services
    credentials: CredentialsProvider | None = None
    git_user: GitUser | None = None
    control_plane: Any | None = None  # a kargo.store Store when ACCESS_CONTROL_PLANE is declared
    argocd: Any | None = None
    services: dict[str, Any] = field(default_factory=dict)  # e.g. the git mirror cache, push queue


@dataclass
class StepResult:
    """What a step returns. `output` becomes `outputs.<alias>` for later steps."""

    status: StepStatus = StepStatus.SUCCEEDED
    output: dict[str, Any] = field(default_factory=dict)
    message: str = ""
    retry_after: timedelta | None = None  # for RUNNING: when to poll again
    health_check: dict[str, Any] | None = None
    terminal: bool = False  # a FAILED/ERRORED result that retrying cannot fix (e.g. `fail`)
