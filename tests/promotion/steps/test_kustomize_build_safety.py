"""kustomize-build stays inside the work directory and never lets git run a program.

Every test runs the real `kubectl kustomize` (and real git), so a refusal that comes too late
would show up as the attack's marker file appearing.
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from kargo import errors
from kargo.promotion.steps import kustomize
from tests import conftest
from tests.promotion.steps import helpers


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def attack(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A git repository on disk, a script, and the marker file the script would create."""
    conftest.require_binary("git")
    repo = tmp_path / "repo"
    _write(repo / "kustomization.yaml", "resources: []\n")
    git = ["git", "-C", str(repo), "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "init"], check=True)
    marker = tmp_path / "PWNED"
    script = _write(tmp_path / "evil.sh", f"#!/bin/sh\ntouch {marker}\n")
    script.chmod(0o755)
    return repo, script, marker


async def _build(work: Path, path: str = "app", out: str = "out") -> None:
    await helpers.run_step(
        "kustomize-build", {"path": path, "outPath": out}, helpers.make_ctx(work)
    )


async def test_a_ref_that_is_a_git_option_is_refused_before_git_runs(tmp_path, attack):
    conftest.require_binary("kubectl")
    repo, script, marker = attack
    work = tmp_path / "work"
    entry = f"file://{repo}//.?ref=--upload-pack={script}"
    _write(work / "app/kustomization.yaml", f"resources:\n- {entry}\n")
    with pytest.raises(errors.TerminalStepError) as info:
        await _build(work)
    message = info.value.message
    assert "app/kustomization.yaml" in message
    assert entry in message
    assert "query parameter ref '--upload-pack=" in message
    assert "must not begin with '-'" in message
    assert not marker.exists()
    assert not (work / "out").exists()


async def test_a_percent_encoded_option_in_a_nested_kustomization_is_refused(tmp_path, attack):
    conftest.require_binary("kubectl")
    _repo, script, marker = attack
    work = tmp_path / "work"
    _write(work / "app/kustomization.yaml", "resources:\n- ../base\n")
    _write(
        work / "base/kustomization.yaml",
        f"components:\n- https://example.invalid/r//c?version=%2D%2Dupload-pack={script}\n",
    )
    with pytest.raises(errors.TerminalStepError, match=r"base/kustomization.yaml: components"):
        await _build(work)
    assert not marker.exists()


async def test_git_cannot_use_the_file_transport_even_if_the_check_is_bypassed(tmp_path, attack):
    """The second line of defence: kustomize's git runs with GIT_ALLOW_PROTOCOL."""
    conftest.require_binary("kubectl")
    repo, script, marker = attack
    work = tmp_path / "work"
    app = work / "app"
    _write(
        app / "kustomization.yaml", f"resources:\n- file://{repo}//.?ref=--upload-pack={script}\n"
    )
    cfg = kustomize.KustomizeBuildConfig(path="app", out_path="out")
    with pytest.raises(errors.StepError, match="kustomize build of 'app' failed"):
        await kustomize.run_kustomize(work, app, cfg, restricted=True)
    assert not marker.exists()


async def test_a_git_repository_on_the_servers_disk_is_refused(tmp_path, attack):
    conftest.require_binary("kubectl")
    repo, _script, _marker = attack
    work = tmp_path / "work"
    _write(work / "app/kustomization.yaml", f"resources:\n- git::file://{repo}//.?ref=main\n")
    with pytest.raises(errors.TerminalStepError, match=r"file:// or ext::.*git-clone"):
        await _build(work)
    _write(work / "app/kustomization.yaml", f"resources:\n- file://{repo}\n")
    with pytest.raises(errors.TerminalStepError, match="git repository on this machine's disk"):
        await _build(work)


async def test_a_directory_outside_the_work_dir_is_refused(tmp_path):
    conftest.require_binary("kubectl")
    _write(tmp_path / "outside/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    _write(tmp_path / "outside/kustomization.yaml", "resources: [cm.yaml]\n")
    work = tmp_path / "work"
    _write(work / "app/kustomization.yaml", "resources:\n- ../../outside\n")
    with pytest.raises(errors.TerminalStepError) as info:
        await _build(work)
    message = info.value.message
    assert message.startswith("app/kustomization.yaml: resources entry '../../outside' leads ")
    assert "outside the promotion's work directory" in message
    assert "git-clone" in message
    assert not (work / "out").exists()


async def test_a_symlink_that_leaves_the_work_dir_is_refused(tmp_path):
    conftest.require_binary("kubectl")
    _write(tmp_path / "outside/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    work = tmp_path / "work"
    _write(work / "app/kustomization.yaml", "resources:\n- cm.yaml\n")
    (work / "app/cm.yaml").symlink_to(tmp_path / "outside/cm.yaml")
    with pytest.raises(errors.TerminalStepError, match="resources entry 'cm.yaml' leads outside"):
        await _build(work)


@pytest.mark.parametrize(
    ("kustomization", "named"),
    [
        ("patches:\n- path: ../../secret.yaml\n", "patches[0].path '../../secret.yaml'"),
        ("patchesStrategicMerge:\n- /etc/hostname\n", "patchesStrategicMerge entry"),
        (
            "configMapGenerator:\n- name: c\n  files:\n  - key=../../secret.yaml\n",
            "configMapGenerator[0].files[0] '../../secret.yaml'",
        ),
        ("secretGenerator:\n- name: s\n  envs: [../../secret.env]\n", "secretGenerator[0].envs"),
        ("helmGlobals:\n  chartHome: ../../charts\n", "helmGlobals.chartHome"),
        ("replacements:\n- path: ../../r.yaml\n", "replacements[0].path"),
        ("openapi:\n  path: /etc/hostname\n", "openapi.path '/etc/hostname'"),
        ("crds:\n- ../../crd.yaml\n", "crds entry"),
        (
            "transformers:\n- |-\n  apiVersion: builtin\n  kind: PatchTransformer\n"
            "  metadata: {name: p}\n  path: ../../secret.yaml\n",
            "transformers.path '../../secret.yaml'",
        ),
    ],
)
async def test_every_field_naming_a_file_is_kept_inside_the_work_dir(
    tmp_path, kustomization, named
):
    _write(tmp_path / "secret.yaml", "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n")
    work = tmp_path / "work"
    _write(work / "app/kustomization.yaml", kustomization)
    with pytest.raises(errors.TerminalStepError) as info:
        await _build(work)
    assert info.value.message.startswith(f"app/kustomization.yaml: {named}")
    assert "leads outside the promotion's work directory" in info.value.message


async def test_a_transformer_config_is_checked_from_the_kustomization_using_it(tmp_path):
    """Its paths are resolved from the kustomization listing the transformer (`app`), which
    may be above the configuration's own directory."""
    _write(tmp_path / "secret.yaml", "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n")
    work = tmp_path / "work"
    _write(work / "app/kustomization.yaml", "transformers:\n- t/deep\n")
    _write(work / "app/t/deep/kustomization.yaml", "resources: [patch.yaml]\n")
    _write(
        work / "app/t/deep/patch.yaml",
        "apiVersion: builtin\nkind: PatchTransformer\nmetadata: {name: p}\n"
        "path: ../../secret.yaml\n",
    )
    with pytest.raises(errors.TerminalStepError) as info:
        await _build(work)
    assert info.value.message.startswith(
        "app/t/deep/kustomization.yaml: resources.path '../../secret.yaml' leads outside"
    )


async def test_a_file_from_another_directory_of_the_work_dir_is_rendered(tmp_path):
    conftest.require_binary("kubectl")
    work = tmp_path / "work"
    _write(work / "base/deploy.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: base}\n")
    _write(work / "stages/test/kustomization.yaml", "resources:\n- ../../base/deploy.yaml\n")
    await _build(work, "stages/test", "out/all.yaml")
    assert "name: base" in (work / "out/all.yaml").read_text()


async def test_an_existing_file_where_a_directory_is_expected_says_what_to_do(tmp_path):
    conftest.require_binary("kubectl")
    work = tmp_path / "work"
    _write(work / "app/kustomization.yaml", "resources: [cm.yaml]\n")
    _write(work / "app/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n")
    _write(work / "out/manifests", "old\n")
    with pytest.raises(errors.TerminalStepError, match=r"outPath 'out/manifests' is an existing"):
        await _build(work, out="out/manifests")
    (work / "out/dir.yaml").mkdir()
    with pytest.raises(errors.TerminalStepError, match=r"outPath 'out/dir.yaml' is a directory"):
        await _build(work, out="out/dir.yaml")


async def test_kustomize_errors_are_shown_without_klogs_prefix(tmp_path):
    conftest.require_binary("kubectl")
    work = tmp_path / "work"
    _write(work / "app/kustomization.yaml", "resources:\n- missing.yaml\n")
    with pytest.raises(errors.StepError) as info:
        await _build(work)
    message = info.value.message
    assert message.startswith("kustomize build of 'app' failed: accumulating resources:")
    assert "run.go" not in message
    assert "command failed" not in message


def test_klogs_multi_line_error_is_unwrapped():
    stderr = (
        'E1201 03:50:51.086406    6802 run.go:72] "command failed" err=<\n'
        "\ttrouble configuring builtin HelmChartInflationGenerator with config: `\n"
        "\tname: x\n\t`: must specify --enable-helm\n >\n"
    )
    assert kustomize.clean_error(stderr) == (
        "trouble configuring builtin HelmChartInflationGenerator with config: `\n"
        "name: x\n`: must specify --enable-helm"
    )


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never answers (a stuck remote base)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


async def test_a_build_that_hangs_is_stopped_and_says_so(tmp_path, silent_server, monkeypatch):
    conftest.require_binary("kubectl")
    monkeypatch.setattr(kustomize, "BUILD_TIMEOUT", 1.0)
    work = tmp_path / "work"
    _write(
        work / "app/kustomization.yaml", f"resources:\n- http://127.0.0.1:{silent_server}/x.yaml\n"
    )
    with pytest.raises(errors.StepError, match=r"did not finish within 1 seconds and was stopped"):
        await _build(work)


def test_git_gets_only_network_transports_and_no_prompt():
    env = kustomize.kustomize_env()
    assert env["GIT_ALLOW_PROTOCOL"] == "http:https:ssh:git"
    assert env["GIT_TERMINAL_PROMPT"] == "0"


KINDS = [
    ("flowcontrol.apiserver.k8s.io/v1", "FlowSchema"),
    ("flowcontrol.apiserver.k8s.io/v1beta1", "FlowSchema"),
    ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy"),
    ("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration"),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"),
    ("rbac.authorization.k8s.io/v1alpha1", "ClusterRole"),
    ("storage.k8s.io/v1", "StorageClass"),
    ("v1", "Namespace"),
    ("v1", "PersistentVolume"),
    ("v1", "ConfigMap"),
    ("apps/v1", "Deployment"),
    ("example.com/v1", "Widget"),
]


async def test_kustomize_output_format_names_files_as_kubectl_kustomize_o_does(tmp_path):
    kubectl = conftest.require_binary("kubectl")
    work = tmp_path / "work"
    docs = ["apiVersion: v1\nkind: ConfigMap\nmetadata: {name: other, namespace: two}\n"]
    docs += [
        f"apiVersion: {api}\nkind: {kind}\nmetadata: {{name: x, namespace: one}}\n"
        for api, kind in KINDS
    ]
    _write(work / "app/r.yaml", "---\n".join(docs))
    _write(work / "app/kustomization.yaml", "resources: [r.yaml]\n")
    (tmp_path / "kubectl-out").mkdir()
    subprocess.run(
        [kubectl, "kustomize", str(work / "app"), "-o", f"{tmp_path}/kubectl-out/"], check=True
    )
    await helpers.run_step(
        "kustomize-build",
        {"path": "app", "outPath": "out", "outputFormat": "kustomize"},
        helpers.make_ctx(work),
    )
    ours = sorted(p.name for p in (work / "out").iterdir())
    assert ours == sorted(p.name for p in (tmp_path / "kubectl-out").iterdir())
    assert "flowcontrol.apiserver.k8s.io_v1beta1_flowschema_x.yaml" in ours
    assert "one_flowcontrol.apiserver.k8s.io_v1_flowschema_x.yaml" in ours
