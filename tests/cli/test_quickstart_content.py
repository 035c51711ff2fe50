"""What `kargo quickstart` generates: valid manifests, a kargo-demo-gitops-like tree, versions.

Offline and in-process: the manifests go through `kargo lint`; the GitOps tree and the
promotion template are checked for the layout and steps the quickstart promises (no step that
needs an external binary); version numbering and the state file are plain functions.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from kargo import errors
from kargo.cli import main, quickstart_cmd, quickstart_content as content

GIT_ONLY = content.Sources("http://127.0.0.1:1/gitops.git", "http://127.0.0.1:1/app.git")
WITH_IMAGE = content.Sources(
    "http://127.0.0.1:1/gitops.git", "http://127.0.0.1:1/app.git", "127.0.0.1:2/kargo-demo/app"
)


@pytest.mark.parametrize("sources", [GIT_ONLY, WITH_IMAGE], ids=["git-only", "registry"])
def test_generated_manifests_pass_lint(tmp_path, sources):
    path = tmp_path / "pipeline.yaml"
    path.write_text(content.manifests(sources))
    result = CliRunner().invoke(main.app, ["lint", "-f", str(path)])
    assert result.exit_code == 0, result.output
    assert "7 document(s) OK" in result.output


def docs_by_kind(sources: content.Sources) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for doc in yaml.safe_load_all(content.manifests(sources)):
        out.setdefault(doc["kind"], []).append(doc)
    return out


def test_test_and_uat_are_auto_promoted_and_prod_is_manual():
    config = docs_by_kind(GIT_ONLY)["ProjectConfig"][0]
    policies = config["spec"]["promotionPolicies"]
    assert [p["stageSelector"]["name"] for p in policies if p["autoPromotionEnabled"]] == [
        "test",
        "uat",
    ]
    stages = {s["metadata"]["name"]: s for s in docs_by_kind(GIT_ONLY)["Stage"]}
    assert stages["test"]["spec"]["requestedFreight"][0]["sources"] == {"direct": True}
    assert stages["uat"]["spec"]["requestedFreight"][0]["sources"] == {"stages": ["test"]}
    assert stages["prod"]["spec"]["requestedFreight"][0]["sources"] == {"stages": ["uat"]}


def test_the_promotion_needs_no_external_binary_and_no_argo_cd():
    for sources in (GIT_ONLY, WITH_IMAGE):
        task = docs_by_kind(sources)["PromotionTask"][0]
        uses = [step["uses"] for step in task["spec"]["steps"]]
        assert "kustomize-build" not in uses
        assert "argocd-update" not in uses
        assert uses[0] == "git-clone"
        assert uses[-2:] == ["git-commit", "git-push"]


def test_the_warehouse_watches_the_image_only_when_a_registry_runs():
    git_subs = docs_by_kind(GIT_ONLY)["Warehouse"][0]["spec"]["subscriptions"]
    assert [next(iter(s)) for s in git_subs] == ["git"]
    image_subs = docs_by_kind(WITH_IMAGE)["Warehouse"][0]["spec"]["subscriptions"]
    assert [next(iter(s)) for s in image_subs] == ["image", "git"]
    assert image_subs[0]["image"]["repoURL"] == "127.0.0.1:2/kargo-demo/app"


def test_the_gitops_tree_has_a_base_and_one_overlay_per_stage():
    files = content.gitops_files()
    assert {"base/kustomization.yaml", "base/deployment.yaml", "base/service.yaml"} <= set(files)
    for stage in content.STAGES:
        overlay = yaml.safe_load(files[f"stages/{stage}/kustomization.yaml"])
        assert overlay["resources"] == ["../../base", "configmap.yaml"]
        configmap = yaml.safe_load(files[f"stages/{stage}/configmap.yaml"])
        assert configmap["data"]["STAGE"] == stage
    deployment = yaml.safe_load(files["base/deployment.yaml"])
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == f"{content.GIT_ONLY_IMAGE}:placeholder"


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ([], "1.0.0"),
        (["v1.0.0"], "1.0.1"),
        (["v1.0.9", "v1.0.10", "v1.0.2"], "1.0.11"),
        (["v2.0.0", "v1.9.9", "not-a-version"], "2.0.1"),
    ],
)
def test_next_version_is_the_next_patch_of_the_highest_tag(tags, expected):
    assert quickstart_cmd.next_version(tags) == expected


def test_state_round_trips_and_a_corrupt_file_says_what_to_do(tmp_path):
    path = tmp_path / "quickstart.json"
    quickstart_cmd.State(server_port=1, git_port=2, registry_port=3).save(path)
    assert quickstart_cmd.State.load(path) == quickstart_cmd.State(1, 2, 3)
    path.write_text("{not json")
    with pytest.raises(errors.ValidationError, match="delete it, or choose another --dir"):
        quickstart_cmd.State.load(path)


def test_release_without_a_quickstart_says_how_to_start_one(tmp_path):
    result = CliRunner().invoke(main.app, ["quickstart", "release", "--dir", str(tmp_path / "x")])
    assert result.exit_code == errors.NotFoundError("").exit_code
    assert "run `kargo quickstart --dir" in result.output
