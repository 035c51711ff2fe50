"""What `kargo quickstart` writes: the GitOps tree of its demo repo and the pipeline manifests.

Pure functions, no I/O: `gitops_files()` is the `main` branch of `gitops.git` (a kustomize
`base/` plus one overlay per Stage under `stages/`, the layout of Kargo's kargo-demo-gitops
example, with our own small content), and `manifests(...)` is the Project, ProjectConfig,
Warehouse, PromotionTask and the test -> uat -> prod Stages, as one multi-document YAML text.

The promotion needs no external binary (no `kustomize`, no `kubectl`, no Argo CD): it renders
each Stage's branch `stage/<name>` as a self-contained kustomize tree (the base and that Stage's
overlay, copied), sets the image tag with `kustomize-set-image` and records the application
commit with `yaml-update`, then commits and pushes. Argo CD (or `kubectl apply -k`) can point at
`stages/<name>` on that branch. Neighbours: `kargo.cli.quickstart_cmd` (orchestration) and
`kargo.cli.quickstart_sources` (repositories and the registry).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

PROJECT = "kargo-demo"
WAREHOUSE = "kargo-demo"
TASK = "demo-promote"
STAGES = ("test", "uat", "prod")
AUTO_PROMOTED = ("test", "uat")
GIT_ONLY_IMAGE = "kargo-demo/app"  # the image name written when no registry is used
FIRST_VERSION = "1.0.0"
_NODE_PORTS = {"test": 30081, "uat": 30082, "prod": 30083}


@dataclass(frozen=True)
class Sources:
    """Where the demo's versions come from (what the Warehouse subscribes to)."""

    gitops_url: str  # the GitOps repository the Stages write to
    app_url: str  # the application repository: each tag vX.Y.Z is a version
    image_repo: str | None = None  # `127.0.0.1:PORT/kargo-demo/app` when a registry runs

    @property
    def image(self) -> str:
        """The image name the Stages set (the registry repo, or a placeholder name)."""
        return self.image_repo or GIT_ONLY_IMAGE


def _dump(doc: dict[str, Any]) -> str:
    return yaml.safe_dump(doc, sort_keys=False, width=100)


def gitops_files() -> dict[str, str]:
    """The files of `gitops.git`'s `main` branch, by path relative to the repository root."""
    files: dict[str, str] = {
        "README.md": (
            "# kargo-demo GitOps repository\n\n"
            "Written by `kargo quickstart`. `main` holds the templates: `base/` and one kustomize\n"
            "overlay per Stage in `stages/`. Kargo writes each Stage's rendered tree to the branch\n"
            "`stage/<name>` (e.g. `git show stage/prod:stages/prod/kustomization.yaml`).\n"
        ),
        "base/kustomization.yaml": _dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": ["deployment.yaml", "service.yaml"],
            }
        ),
        "base/deployment.yaml": _dump(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "kargo-demo"},
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": {"app": "kargo-demo"}},
                    "template": {
                        "metadata": {"labels": {"app": "kargo-demo"}},
                        "spec": {
                            "containers": [
                                {
                                    "name": "app",
                                    "image": f"{GIT_ONLY_IMAGE}:placeholder",
                                    "envFrom": [{"configMapRef": {"name": "kargo-demo-stage"}}],
                                }
                            ]
                        },
                    },
                },
            }
        ),
        "base/service.yaml": _dump(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "kargo-demo"},
                "spec": {
                    "type": "NodePort",
                    "selector": {"app": "kargo-demo"},
                    "ports": [{"port": 3000, "targetPort": 8080}],
                },
            }
        ),
    }
    for stage in STAGES:
        files[f"stages/{stage}/kustomization.yaml"] = (
            "apiVersion: kustomize.config.k8s.io/v1beta1\n"
            "kind: Kustomization\n"
            "resources:\n"
            "- ../../base\n"
            "- configmap.yaml\n"
            "patches:\n"
            "- target:\n"
            "    kind: Service\n"
            "    name: kargo-demo\n"
            "  patch: |-\n"
            "    - op: add\n"
            "      path: /spec/ports/0/nodePort\n"
            f"      value: {_NODE_PORTS[stage]}\n"
        )
        files[f"stages/{stage}/configmap.yaml"] = _dump(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "kargo-demo-stage"},
                "data": {"STAGE": stage, "APP_COMMIT": "none"},
            }
        )
    return files


def app_files(version: str) -> dict[str, str]:
    """The application repository's content at `version` (what a release changes)."""
    return {"VERSION": f"{version}\n", "README.md": "# kargo-demo app\n\nTagged vX.Y.Z.\n"}


def _meta(kind: str, name: str, *, namespaced: bool = True) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespaced:
        meta["namespace"] = PROJECT
    return {"apiVersion": "kargo.akuity.io/v1alpha1", "kind": kind, "metadata": meta}


def warehouse(sources: Sources) -> dict[str, Any]:
    """The Warehouse: the app repo's SemVer tags, and the registry's image when there is one."""
    subscriptions: list[dict[str, Any]] = [
        {
            "git": {
                "repoURL": sources.app_url,
                "commitSelectionStrategy": "SemVer",
                "discoveryLimit": 5,
            }
        }
    ]
    if sources.image_repo:
        subscriptions.insert(
            0,
            {
                "image": {
                    "repoURL": sources.image_repo,
                    "imageSelectionStrategy": "SemVer",
                    "discoveryLimit": 5,
                }
            },
        )
    doc = _meta("Warehouse", WAREHOUSE)
    # A long interval: the quickstart refreshes explicitly (`kargo refresh warehouse`).
    doc["spec"] = {"interval": "5m0s", "freightCreationPolicy": "Automatic"}
    doc["spec"]["subscriptions"] = subscriptions
    return doc


def promotion_task(sources: Sources) -> dict[str, Any]:
    """The steps every Stage runs: render `stage/<name>` with the Freight's versions, push it."""
    tag = (
        "${{ imageFrom(vars.imageRepo).Tag }}"
        if sources.image_repo
        else "${{ trimPrefix(commitFrom(vars.appRepo).Tag, 'v') }}"
    )
    out_stage = "./out/stages/${{ ctx.stage }}"
    # The base names the image `kargo-demo/app`; a registry image replaces that name.
    image: dict[str, str] = {"image": "${{ vars.imageRepo }}", "tag": tag}
    if sources.image_repo:
        image.update(name=GIT_ONLY_IMAGE, newName="${{ vars.imageRepo }}")
    doc = _meta("PromotionTask", TASK)
    doc["spec"] = {
        "vars": [
            {"name": "gitopsRepo", "value": sources.gitops_url},
            {"name": "appRepo", "value": sources.app_url},
            {"name": "imageRepo", "value": sources.image},
        ],
        "steps": [
            {
                "uses": "git-clone",
                "config": {
                    "repoURL": "${{ vars.gitopsRepo }}",
                    "checkout": [
                        {"branch": "main", "path": "./src"},
                        {"branch": "stage/${{ ctx.stage }}", "create": True, "path": "./out"},
                    ],
                },
            },
            {"uses": "git-clear", "config": {"path": "./out"}},
            {"uses": "copy", "config": {"inPath": "./src/base", "outPath": "./out/base"}},
            {
                "uses": "copy",
                "config": {"inPath": "./src/stages/${{ ctx.stage }}", "outPath": out_stage},
            },
            {
                "uses": "kustomize-set-image",
                "as": "update",
                "config": {
                    "path": out_stage,
                    "images": [image],
                },
            },
            {
                "uses": "yaml-update",
                "config": {
                    "path": out_stage + "/configmap.yaml",
                    "updates": [
                        {"key": "data.APP_COMMIT", "value": "${{ commitFrom(vars.appRepo).ID }}"}
                    ],
                },
            },
            {
                "uses": "git-commit",
                "as": "commit",
                "config": {
                    "path": "./out",
                    "message": "${{ ctx.stage }}: " + GIT_ONLY_IMAGE + " " + tag,
                },
            },
            {"uses": "git-push", "config": {"path": "./out"}},
        ],
    }
    return doc


def stage(name: str, upstream: str | None) -> dict[str, Any]:
    """A Stage fed by the Warehouse directly (`upstream=None`) or by an upstream Stage."""
    sources: dict[str, Any] = {"direct": True} if upstream is None else {"stages": [upstream]}
    doc = _meta("Stage", name)
    doc["spec"] = {
        "requestedFreight": [
            {"origin": {"kind": "Warehouse", "name": WAREHOUSE}, "sources": sources}
        ],
        "promotionTemplate": {"spec": {"steps": [{"task": {"name": TASK}, "as": "promote"}]}},
    }
    return doc


def manifests(sources: Sources) -> str:
    """Every object of the demo pipeline, as one multi-document YAML text (for `apply`)."""
    project = _meta("Project", PROJECT, namespaced=False)
    config = _meta("ProjectConfig", PROJECT)
    config["spec"] = {
        "promotionPolicies": [
            {"stageSelector": {"name": name}, "autoPromotionEnabled": True}
            for name in AUTO_PROMOTED
        ]
    }
    docs = [project, config, warehouse(sources), promotion_task(sources)]
    upstream: str | None = None
    for name in STAGES:
        docs.append(stage(name, upstream))
        upstream = name
    return yaml.safe_dump_all(docs, sort_keys=False, width=100)
