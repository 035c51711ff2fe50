"""kustomize-set-image and kustomize-build, including Kargo's quickstart overlays end to end."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from kargo import errors
from tests import conftest
from tests.promotion.steps import helpers

DEMO = helpers.REFERENCE / "examples" / "kargo-demo-gitops"
IMAGE = "public.ecr.aws/nginx/nginx"


@pytest.fixture
def demo(tmp_path) -> Path:
    """The quickstart's GitOps repository, checked out at ./src of a fresh work dir."""
    if not DEMO.is_dir():
        conftest.missing_component(f"Kargo's quickstart repository at {DEMO}")
    work = tmp_path / "work"
    shutil.copytree(DEMO, work / "src")
    return work


def _load_all(path: Path) -> list[dict]:
    return [d for d in YAML(typ="safe", pure=True).load_all(path.read_text()) if d]


@pytest.mark.parametrize(("stage", "node_port"), [("test", 30081), ("uat", 30082), ("prod", 30083)])
async def test_quickstart_promotion_renders_the_new_image_for_each_stage(demo, stage, node_port):
    conftest.require_binary("kubectl")
    ctx = helpers.make_ctx(demo)
    before = (demo / "src/base/kustomization.yaml").read_text()
    result = await helpers.run_step(
        "kustomize-set-image",
        {"path": "./src/base", "images": [{"image": IMAGE, "tag": "1.27.0"}]},
        ctx,
    )
    after = (demo / "src/base/kustomization.yaml").read_text()
    assert after == before + f"images:\n- name: {IMAGE}\n  newTag: 1.27.0\n"
    assert result.output == {
        "commitMessage": f"Updated ./src/base to use new image\n\n- {IMAGE}:1.27.0"
    }

    await helpers.run_step(
        "kustomize-build", {"path": f"./src/stages/{stage}", "outPath": "./out"}, ctx
    )
    files = sorted(p.name for p in (demo / "out").iterdir())
    assert files == [
        "configmap-kargo-demo-content.yaml",
        "deployment-kargo-demo.yaml",
        "service-kargo-demo.yaml",
    ]
    [deployment] = _load_all(demo / "out/deployment-kargo-demo.yaml")
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert containers[0]["image"] == f"{IMAGE}:1.27.0"
    [service] = _load_all(demo / "out/service-kargo-demo.yaml")
    assert service["spec"]["ports"][0]["nodePort"] == node_port
    [configmap] = _load_all(demo / "out/configmap-kargo-demo-content.yaml")
    assert f"<h1>{stage}</h1>" in configmap["data"]["index.html"]


async def test_kustomize_build_to_a_yaml_file_writes_one_stream(demo):
    conftest.require_binary("kubectl")
    await helpers.run_step(
        "kustomize-build",
        {"path": "src/stages/test", "outPath": "out/manifests.yaml"},
        helpers.make_ctx(demo),
    )
    kinds = sorted(d["kind"] for d in _load_all(demo / "out/manifests.yaml"))
    assert kinds == ["ConfigMap", "Deployment", "Service"]


async def test_kustomize_output_format_names_files_like_kustomize_build_o(demo):
    conftest.require_binary("kubectl")
    await helpers.run_step(
        "kustomize-build",
        {"path": "src/stages/test", "outPath": "out", "outputFormat": "kustomize"},
        helpers.make_ctx(demo),
    )
    assert sorted(p.name for p in (demo / "out").iterdir()) == [
        "apps_v1_deployment_kargo-demo.yaml",
        "v1_configmap_kargo-demo-content.yaml",
        "v1_service_kargo-demo.yaml",
    ]


async def test_resources_in_several_namespaces_get_namespace_prefixes(tmp_path):
    conftest.require_binary("kubectl")
    (tmp_path / "k").mkdir()
    (tmp_path / "k/kustomization.yaml").write_text("resources:\n- cms.yaml\n")
    (tmp_path / "k/cms.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: one}\n---\n"
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: two}\n---\n"
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: one}\n"
    )
    ctx = helpers.make_ctx(tmp_path)
    await helpers.run_step("kustomize-build", {"path": "k", "outPath": "kargo"}, ctx)
    await helpers.run_step(
        "kustomize-build", {"path": "k", "outPath": "kus", "outputFormat": "kustomize"}, ctx
    )
    assert sorted(p.name for p in (tmp_path / "kargo").iterdir()) == [
        "namespace-one.yaml",
        "one-configmap-a.yaml",
        "two-configmap-a.yaml",
    ]
    assert sorted(p.name for p in (tmp_path / "kus").iterdir()) == [
        "one_v1_configmap_a.yaml",
        "two_v1_configmap_a.yaml",
        "v1_namespace_one.yaml",
    ]


async def test_kustomize_build_failure_is_reported_without_the_temp_dir(tmp_path):
    conftest.require_binary("kubectl")
    (tmp_path / "k").mkdir()
    (tmp_path / "k/kustomization.yaml").write_text("resources:\n- missing.yaml\n")
    with pytest.raises(errors.StepError, match="kustomize build of 'k' failed") as info:
        await helpers.run_step(
            "kustomize-build", {"path": "k", "outPath": "o"}, helpers.make_ctx(tmp_path)
        )
    assert str(tmp_path) not in info.value.message


async def test_kustomize_build_without_any_kustomize_names_both_tools(tmp_path, monkeypatch):
    (tmp_path / "k").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(errors.TerminalStepError, match="neither 'kustomize' nor 'kubectl'"):
        await helpers.run_step(
            "kustomize-build", {"path": "k", "outPath": "o"}, helpers.make_ctx(tmp_path)
        )


async def test_set_image_without_images_uses_every_freight_image(tmp_path):
    (tmp_path / "kustomization.yaml").write_text("resources: [a.yaml]\n")
    freight = {"Warehouse/a": {"images": [{"repoURL": "r/a", "tag": "1"}]}}
    result = await helpers.run_step(
        "kustomize-set-image", {"path": "."}, helpers.make_ctx(tmp_path, freight)
    )
    assert YAML(typ="safe").load((tmp_path / "kustomization.yaml").read_text())["images"] == [
        {"name": "r/a", "newTag": "1"}
    ]
    assert result.output["commitMessage"] == "Updated . to use new image\n\n- r/a:1"


async def test_set_image_with_the_same_repository_in_two_freight_is_ambiguous(tmp_path):
    (tmp_path / "kustomization.yaml").write_text("resources: []\n")
    freight = {
        "Warehouse/a": {"images": [{"repoURL": "r/a", "tag": "1"}]},
        "Warehouse/b": {"images": [{"repoURL": "r/a", "tag": "2"}]},
    }
    with pytest.raises(errors.TerminalStepError, match="ambiguous"):
        await helpers.run_step(
            "kustomize-set-image", {"path": "."}, helpers.make_ctx(tmp_path, freight)
        )


async def test_set_image_needs_exactly_one_kustomization_file(tmp_path):
    with pytest.raises(errors.TerminalStepError, match="could not find a kustomization"):
        await helpers.run_step(
            "kustomize-set-image",
            {"path": ".", "images": [{"image": "x", "tag": "1"}]},
            helpers.make_ctx(tmp_path),
        )
    (tmp_path / "kustomization.yaml").write_text("a: 1\n")
    (tmp_path / "kustomization.yml").write_text("a: 1\n")
    with pytest.raises(errors.TerminalStepError, match="several kustomization files"):
        await helpers.run_step(
            "kustomize-set-image",
            {"path": ".", "images": [{"image": "x", "tag": "1"}]},
            helpers.make_ctx(tmp_path),
        )


async def test_set_image_asterisk_keeps_the_existing_value(tmp_path):
    (tmp_path / "kustomization.yaml").write_text(
        "images:\n- name: app\n  newName: mirror/app\n  newTag: '1'\n"
    )
    await helpers.run_step(
        "kustomize-set-image",
        {"path": ".", "images": [{"image": "app", "tag": "2", "newName": "*"}]},
        helpers.make_ctx(tmp_path),
    )
    assert (tmp_path / "kustomization.yaml").read_text() == (
        "images:\n- name: app\n  newName: mirror/app\n  newTag: '2'\n"
    )


async def test_set_image_with_a_flow_style_images_list_falls_back_to_a_round_trip(tmp_path):
    (tmp_path / "kustomization.yaml").write_text("# c\nimages: []\nresources:\n- a.yaml\n")
    await helpers.run_step(
        "kustomize-set-image",
        {"path": ".", "images": [{"image": "app", "digest": "sha256:1"}]},
        helpers.make_ctx(tmp_path),
    )
    data = YAML(typ="safe").load((tmp_path / "kustomization.yaml").read_text())
    assert data["images"] == [{"name": "app", "digest": "sha256:1"}]
    assert (tmp_path / "kustomization.yaml").read_text().startswith("# c\n")


async def test_helm_charts_without_a_helm_binary_say_what_is_missing(tmp_path, monkeypatch):
    kubectl = conftest.require_binary("kubectl")
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin/kubectl").symlink_to(kubectl)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    (tmp_path / "k").mkdir()
    (tmp_path / "k/kustomization.yaml").write_text(
        "helmCharts:\n- name: x\n  repo: http://127.0.0.1:1\n  version: 1.0.0\n"
    )
    with pytest.raises(errors.StepError, match="needs a 'helm' binary"):
        await helpers.run_step(
            "kustomize-build", {"path": "k", "outPath": "o"}, helpers.make_ctx(tmp_path)
        )
