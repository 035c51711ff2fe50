"""Kargo's quickstart template promoting an image into stage branches, through the engine.

The quickstart (shared/reference/examples/quickstart.yaml, read in place) runs unchanged except
for its `argocd-update` step, against a real smart-HTTP git server with basic auth holding a
repository laid out like shared/reference/examples/kargo-demo-gitops (copied into the test's
bare repo at runtime). Objects are admitted and stored as the API would store them, the
Promotion is built by admission (PromotionTask inflation) and run by the engine with the
quickstart's own git Secret as credentials.

The module's helpers (`seed_gitops_repo`, `quickstart_documents`, `QuickstartWorld`) are shared
with the preview tests.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from kargo import clock as clock_mod, store as store_pkg
from kargo.api import admission
from kargo.credentials import database, sealing
from kargo.git import mirror as mirror_mod
from kargo.promotion import context, engine as engine_mod, preview, registry as registry_mod
from kargo.promotion.steps import git as git_steps, load_builtin_steps
from kargo.store import interface
from tests import conftest
from tests.fixtures.git import GIT_PASSWORD, GIT_USER, GitServer

REFERENCE = Path(
    os.environ.get("KARGO_REFERENCE_DIR")
    or Path(__file__).resolve().parents[3] / "shared" / "reference"
)
QUICKSTART = REFERENCE / "examples" / "quickstart.yaml"
DEMO = REFERENCE / "examples" / "kargo-demo-gitops"
PROJECT = "kargo-demo"
IMAGE = "public.ecr.aws/nginx/nginx"
REPO = "kargo-demo-gitops"


def require_reference() -> None:
    """Fail (under CI) or skip when Kargo's reference examples are not beside the repo."""
    if not QUICKSTART.is_file() or not DEMO.is_dir():
        conftest.missing_component(f"Kargo's quickstart examples under {REFERENCE / 'examples'}")


def seed_gitops_repo(server: GitServer) -> str:
    """A bare repo on `server` whose `main` holds the kargo-demo-gitops tree; returns its URL."""
    url = server.create_repo(REPO)
    files: dict[str, str | None] = {
        str(path.relative_to(DEMO)): path.read_text()
        for path in sorted(DEMO.rglob("*"))
        if path.is_file()
    }
    server.writer(REPO).commit(files, "kargo-demo-gitops as in Kargo's quickstart")
    return url


def quickstart_documents(repo_url: str) -> list[dict[str, Any]]:
    """The quickstart's objects with ${VAR}s filled and the argocd-update step removed."""
    text = QUICKSTART.read_text()
    for name, value in {
        "GITOPS_REPO_URL": repo_url,
        "GITHUB_USERNAME": GIT_USER,
        "GITHUB_PAT": GIT_PASSWORD,
    }.items():
        text = text.replace("${" + name + "}", value)
    docs = [d for d in yaml.safe_load_all(text) if d]
    for doc in docs:
        if doc["kind"] == "PromotionTask":
            steps = doc["spec"]["steps"]
            doc["spec"]["steps"] = [s for s in steps if s["uses"] != "argocd-update"]
            assert len(doc["spec"]["steps"]) == len(steps) - 1
    return docs


def quickstart_yaml(repo_url: str) -> str:
    """`quickstart_documents` as one multi-document YAML text."""
    return yaml.safe_dump_all(quickstart_documents(repo_url), sort_keys=False)


def freight_document(tag: str) -> dict[str, Any]:
    """Freight of the quickstart's Warehouse holding nginx at `tag`."""
    return {
        "apiVersion": "kargo.akuity.io/v1alpha1",
        "kind": "Freight",
        "metadata": {"namespace": PROJECT},
        "origin": {"kind": "Warehouse", "name": "kargo-demo"},
        "images": [{"repoURL": IMAGE, "tag": tag}],
    }


def remote_refs(server: GitServer) -> str:
    """Every ref of the bare repo with its commit (what a push would change)."""
    return subprocess.run(
        ["git", "for-each-ref", "--format=%(refname) %(objectname)"],
        cwd=server.bare_path(REPO),
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def git_show(server: GitServer, rev: str) -> str:
    """`git show REV` in the bare repo (a file's content at a ref: `stage/test:file`)."""
    return subprocess.run(
        ["git", "show", rev],
        cwd=server.bare_path(REPO),
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def git_diff(server: GitServer, old: str, new: str) -> str:
    """`git diff OLD NEW` in the bare repo, as git-push's preview computes it."""
    return subprocess.run(
        ["git", "diff", "--no-color", "--no-ext-diff", old, new],
        cwd=server.bare_path(REPO),
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def changed_lines(diff: str) -> list[str]:
    """The removed and added lines of a unified diff (file headers left out)."""
    return [
        line
        for line in diff.splitlines()
        if line[:1] in ("+", "-") and not line.startswith(("+++ ", "--- "))
    ]


class _Lookup:
    def __init__(self, store: interface.Store) -> None:
        self.store = store

    async def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return await self.store.get(kind, namespace or "", name)
        except Exception:
            return None

    async def list(self, kind: str, namespace: str) -> list[dict[str, Any]]:
        return (await self.store.list(kind, interface.ListOptions(namespace=namespace))).items


@dataclass
class QuickstartWorld:
    """The quickstart stored in a SQLite store, with an engine wired like the controller's."""

    store: interface.Store
    clock: clock_mod.ManualClock
    registry: registry_mod.StepRegistry
    services: engine_mod.EngineServices
    work_root: Path

    @classmethod
    async def create(cls, tmp_path: Path, repo_url: str) -> QuickstartWorld:
        clock = clock_mod.ManualClock()
        store = await store_pkg.open_store(f"sqlite:///{tmp_path / 'kargo.db'}", clock=clock)
        world = cls(
            store=store,
            clock=clock,
            registry=load_builtin_steps(registry_mod.StepRegistry()),
            services=engine_mod.EngineServices(
                credentials=database.StoreCredentials(
                    store, sealing.SecretCipher(sealing.generate_key()), allow_over_http=True
                ),
                git_user=context.GitUser(),
                control_plane=store,
                data_store=store,
                extra={git_steps.MIRRORS_SERVICE: mirror_mod.MirrorCache(tmp_path / "m")},
            ),
            work_root=tmp_path / "work",
        )
        for doc in quickstart_documents(repo_url):
            await world.admit_and_store(doc)
        return world

    async def admit_and_store(self, doc: dict[str, Any]) -> dict[str, Any]:
        admitted = await admission.admit_create(
            doc, _Lookup(self.store), actor="test", now=self.clock.now()
        )
        return await self.store.create(admitted)

    async def add_freight(self, tag: str) -> str:
        """Create Freight for nginx:`tag`; returns its name."""
        created = await self.admit_and_store(freight_document(tag))
        return str(created["metadata"]["name"])

    async def promote(self, stage: str, freight: str) -> dict[str, Any]:
        """Build the Promotion as admission does and run it with the engine to the end."""
        promo, _, _ = await preview.build_promotion(
            self.store,
            self.clock,
            preview.PreviewRequest(project=PROJECT, stage=stage, freight=freight),
        )
        engine = engine_mod.Engine(
            self.registry, self.clock, self.services, work_root=self.work_root
        )

        async def persist(obj: dict[str, Any]) -> dict[str, Any]:
            return obj

        outcome = await engine.execute(promo, persist)
        return outcome.promotion

    async def preview(self, stage: str, **which: str) -> preview.Preview:
        return await preview.preview_promotion(
            self.store,
            self.registry,
            self.clock,
            preview.PreviewRequest(project=PROJECT, stage=stage, **which),
            services=self.services,
            work_root=self.work_root,
        )


@pytest.fixture(name="world")
async def world_fixture(tmp_path, git_server):
    require_reference()
    conftest.require_binary("kubectl")
    url = seed_gitops_repo(git_server)
    world = await QuickstartWorld.create(tmp_path, url)
    yield world
    await world.store.close()


def _deployment_image(server: GitServer, branch: str) -> str:
    doc = yaml.safe_load(git_show(server, f"{branch}:deployment-kargo-demo.yaml"))
    return str(doc["spec"]["template"]["spec"]["containers"][0]["image"])


async def test_the_quickstart_promotes_an_image_into_each_stage_branch(world, git_server):
    freight = await world.add_freight("1.29.1")
    for stage, node_port in (("test", 30081), ("uat", 30082), ("prod", 30083)):
        promo = await world.promote(stage, freight)
        status = promo["status"]
        assert status["phase"] == "Succeeded", status
        branch = f"stage/{stage}"
        assert _deployment_image(git_server, branch) == f"{IMAGE}:1.29.1"
        service = yaml.safe_load(git_show(git_server, f"{branch}:service-kargo-demo.yaml"))
        assert service["spec"]["ports"][0]["nodePort"] == node_port
        page = yaml.safe_load(git_show(git_server, f"{branch}:configmap-kargo-demo-content.yaml"))
        assert f"<h1>{stage}</h1>" in page["data"]["index.html"]
        # the commit message is kustomize-set-image's, and its output is the pushed commit
        history = git_server.log(REPO, branch)
        assert history[0].startswith("Updated ./src/base to use new image")
        # git-clone's `create` pushed the branch's first commit, as Kargo does
        assert history[1:] == ["Initial commit"]
        commit = status["state"]["promo-process::commit"]["commit"]
        assert git_server.branch_head(REPO, branch) == commit
    # main is untouched: the template renders into stage branches only
    assert git_server.log(REPO, "main") == ["kargo-demo-gitops as in Kargo's quickstart"]


async def test_promoting_newer_freight_changes_only_the_image_line(world, git_server):
    await world.promote("test", await world.add_freight("1.29.1"))
    before = git_server.branch_head(REPO, "stage/test")
    promo = await world.promote("test", await world.add_freight("1.29.2"))
    assert promo["status"]["phase"] == "Succeeded"
    after = git_server.branch_head(REPO, "stage/test")
    diff = git_diff(git_server, before, after)
    assert changed_lines(diff) == [
        f"-      - image: {IMAGE}:1.29.1",
        f"+      - image: {IMAGE}:1.29.2",
    ]
