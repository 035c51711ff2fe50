"""Promotions run by the real engine against a real git server, for the through-engine step tests.

`EngineWorld` holds one repository on the authenticated smart-HTTP git server (`git_server`),
one `kargo.promotion.engine.Engine` with the real step registry (`load_builtin_steps`) plus a
`probe` step, and the services wired as the controller wires them (a `MirrorCache`, a
`PushCoordinator`, credentials for the repository URL, a git user). `promote` runs a Promotion
to its end; the `git_*` helpers read what landed in the server's bare repository.

The `probe` step (declared to touch no path, so the engine materialises nothing for it) records
which of the paths it is given exist on disk at that point: it shows what a lazy checkout holds
before the engine materialises a later step's paths.

Neighbours: tests/promotion/steps/test_steps_through_engine.py and
test_concurrent_stages_engine.py use it; benchmarks/promotion_git.py wires the same services.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from kargo.clock import ManualClock
from kargo.credentials.interface import Credentials, StaticCredentials
from kargo.git import mirror as mirrors, push as pushes
from kargo.promotion import context, engine as engine_mod, registry as registry_mod
from kargo.promotion.steps import git as git_steps, load_builtin_steps
from tests.fixtures.git import GIT_PASSWORD, GIT_USER, GitServer, git_env

PROJECT = "demo"
REPO = "gitops"
COMMITTER = context.GitUser(name="Kargo Engine Tests", email="engine-tests@example.com")


class ProbeConfig(BaseModel):
    """Configuration of the probe step: work-directory paths whose presence to record."""

    model_config = ConfigDict(extra="forbid")

    paths: list[str]


async def probe(ctx: context.StepContext, cfg: ProbeConfig) -> context.StepResult:
    """Record, for each path, whether it exists in the work directory right now."""
    present = {p: os.path.lexists(ctx.work_dir / p) for p in cfg.paths}
    return context.StepResult(output={"present": present})


def make_registry() -> registry_mod.StepRegistry:
    """Every built-in step, and `probe` (which declares no paths)."""
    registry = load_builtin_steps(registry_mod.StepRegistry())
    registry.step("probe", ProbeConfig, paths=registry_mod.no_paths)(probe)
    return registry


def promotion(
    name: str, stage: str, steps: list[dict[str, Any]], variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A Pending Promotion of Freight `f-<name>` to `stage`, as admission leaves it."""
    return {
        "apiVersion": "kargo.akuity.io/v1alpha1",
        "kind": "Promotion",
        "metadata": {"namespace": PROJECT, "name": name, "uid": f"uid-{name}"},
        "spec": {
            "stage": stage,
            "freight": f"f-{name}",
            "vars": [{"name": k, "value": v} for k, v in (variables or {}).items()],
            "steps": steps,
        },
        "status": {"phase": "Pending"},
    }


async def keep(promo: dict[str, Any]) -> dict[str, Any]:
    """A persist callback for a promotion nobody else writes."""
    return promo


@dataclass
class EngineWorld:
    """One repository on the authenticated git server and one engine promoting into it."""

    server: GitServer
    root: Path
    url: str = ""
    registry: registry_mod.StepRegistry = field(default_factory=make_registry)
    count: int = 0

    def __post_init__(self) -> None:
        self.url = self.server.create_repo(REPO)
        self.coordinator = pushes.PushCoordinator()
        self.services = engine_mod.EngineServices(
            credentials=StaticCredentials({self.url: Credentials(GIT_USER, GIT_PASSWORD)}),
            git_user=COMMITTER,
            extra={
                git_steps.MIRRORS_SERVICE: mirrors.MirrorCache(self.root / "mirrors"),
                git_steps.PUSH_SERVICE: self.coordinator,
            },
        )
        self.engine = engine_mod.Engine(
            self.registry, ManualClock(), self.services, work_root=self.root / "work"
        )

    @property
    def bare(self) -> Path:
        return self.server.bare_path(REPO)

    def seed(self, files: dict[str, str | None], message: str, *, branch: str = "main") -> str:
        """Commit `files` on `branch` of the server's repository; return the commit."""
        return self.server.writer(REPO).commit(files, message, branch=branch)

    async def promote(
        self,
        steps: list[dict[str, Any]],
        *,
        stage: str = "test",
        variables: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Run a Promotion of `steps` to `stage` through the engine; return its status."""
        self.count += 1
        promo = promotion(f"{stage}.{self.count:04d}", stage, steps, variables)
        outcome = await self.engine.execute(promo, keep)
        status: dict[str, Any] = outcome.promotion["status"]
        return status

    # --- what the server holds ---------------------------------------------------------------

    def git(self, *args: str) -> str:
        """Run git in the server's bare repository; its stdout (raises on failure)."""
        proc = subprocess.run(
            ["git", *args], cwd=self.bare, env=git_env(), capture_output=True, text=True
        )
        if proc.returncode != 0:
            raise AssertionError(f"git {' '.join(args)} failed: {proc.stdout}{proc.stderr}")
        return proc.stdout

    def head(self, branch: str = "main") -> str:
        return self.git("rev-parse", f"refs/heads/{branch}").strip()

    def show(self, rev: str, path: str) -> str:
        """The content of `path` at `rev` on the server."""
        return self.git("show", f"{rev}:{path}")

    def mode(self, rev: str, path: str) -> str:
        """The git file mode of `path` at `rev` (`100644`, `100755`)."""
        return self.git("ls-tree", rev, "--", path).split()[0]

    def changes(self, old: str, new: str) -> list[str]:
        """`git diff --name-status old new` as `"<status> <path>"` lines, sorted."""
        out = self.git("diff", "--no-renames", "--name-status", old, new)
        return sorted(" ".join(line.split("\t")) for line in out.splitlines())

    def files(self, rev: str) -> list[str]:
        """Every file path in the tree of `rev`, sorted."""
        return sorted(self.git("ls-tree", "-r", "--name-only", rev).splitlines())

    def subjects(self, old: str, new: str) -> list[str]:
        """Subjects of the commits in `old..new`, oldest first."""
        return self.git("log", "--reverse", "--format=%s", f"{old}..{new}").splitlines()

    def parents(self, rev: str) -> list[str]:
        return self.git("rev-list", "--parents", "-n", "1", rev).split()[1:]


def step_messages(status: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(alias, status, message) of each step run: what a failing assertion should show."""
    return [
        (m["alias"], m["status"], m.get("message", "")) for m in status["stepExecutionMetadata"]
    ]


def succeeded(status: dict[str, Any]) -> bool:
    """Whether the promotion and every one of its steps succeeded."""
    return status["phase"] == "Succeeded" and all(
        m["status"] == "Succeeded" for m in status["stepExecutionMetadata"]
    )
