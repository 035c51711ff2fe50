"""helm-template and helm-update-chart through the real Helm (the helm-python-sdk route here)."""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from kargo import errors
from kargo.credentials.interface import Credentials, StaticCredentials
from kargo.promotion import context
from kargo.promotion.steps import helm
from tests import conftest
from tests.fixtures import charts, registry
from tests.promotion.steps import helpers

CHART = {
    "Chart.yaml": "apiVersion: v2\nname: mychart\nversion: 0.1.0\n",
    "values.yaml": "image:\n  repository: nginx\n  tag: '1.0'\nreplicas: 1\n",
    "templates/_helpers.tpl": '{{- define "mychart.name" -}}mychart{{- end -}}\n',
    "templates/NOTES.txt": "Installed {{ .Release.Name }}\n",
    "templates/app.yaml": (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cm\n"
        "  namespace: {{ .Release.Namespace }}\ndata:\n"
        "  image: {{ .Values.image.repository }}:{{ .Values.image.tag }}\n"
        "  replicas: {{ .Values.replicas | quote }}\n---\n"
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\n"
        "spec:\n  replicas: {{ .Values.replicas }}\n"
    ),
    "templates/tests/test-connection.yaml": (
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {{ .Release.Name }}-test\n"
        '  annotations:\n    "helm.sh/hook": test\n'
    ),
    "templates/hooks/migrate.yaml": (
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: migrate\n"
        '  annotations:\n    "helm.sh/hook": pre-install,pre-upgrade\n'
    ),
    "crds/foo.yaml": (
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"
        "metadata:\n  name: foos.example.com\n"
    ),
}


@pytest.fixture(autouse=True)
def helm_available(monkeypatch, tmp_path):
    """The in-process Helm SDK, with no helm binary on PATH so that route is the one tested."""
    try:
        importlib.import_module("helm_python")
    except ImportError:
        conftest.missing_component("the helm-python-sdk package (pip install 'kargo[helm]')")
    monkeypatch.setenv("PATH", str(tmp_path / "no-helm-bin"))


@pytest.fixture
def work(tmp_path) -> Path:
    root = tmp_path / "work"
    for rel, text in CHART.items():
        (root / "chart" / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / "chart" / rel).write_text(text)
    return root


def _docs(path: Path) -> list[dict]:
    return [d for d in YAML(typ="safe", pure=True).load_all(path.read_text()) if d]


async def test_helm_template_to_a_file_renders_values_files_and_set_values(work):
    (work / "values-test.yaml").write_text("image:\n  tag: '2.0'\n")
    await helpers.run_step(
        "helm-template",
        {
            "path": "chart",
            "outPath": "out/all.yaml",
            "releaseName": "demo",
            "valuesFiles": ["values-test.yaml"],
            "setValues": [{"key": "replicas", "value": "3"}],
        },
        helpers.make_ctx(work),
    )
    text = (work / "out/all.yaml").read_text()
    assert "# Source: mychart/templates/app.yaml" in text
    assert "Installed" not in text  # NOTES.txt is not a manifest
    docs = {d["kind"]: d for d in _docs(work / "out/all.yaml")}
    assert docs["ConfigMap"]["data"] == {"image": "nginx:2.0", "replicas": "3"}
    assert docs["ConfigMap"]["metadata"]["namespace"] == "kargo-demo"  # the Project
    assert docs["Deployment"]["spec"]["replicas"] == 3
    assert set(docs) == {"ConfigMap", "Deployment", "Pod", "Job"}  # hooks and tests included
    kinds = [d["kind"] for d in _docs(work / "out/all.yaml")]
    assert kinds.index("ConfigMap") < kinds.index("Deployment")  # Helm's install order


@pytest.mark.parametrize(
    ("flags", "kinds"),
    [
        ({"disableHooks": True}, {"ConfigMap", "Deployment"}),
        ({"skipTests": True}, {"ConfigMap", "Deployment", "Job"}),
        (
            {"includeCRDs": True, "namespace": "prod"},
            {"ConfigMap", "Deployment", "Pod", "Job", "CustomResourceDefinition"},
        ),
    ],
)
async def test_helm_template_flags_select_hooks_tests_and_crds(work, flags, kinds):
    await helpers.run_step(
        "helm-template",
        {"path": "chart", "outPath": "out.yaml", "releaseName": "demo", **flags},
        helpers.make_ctx(work),
    )
    assert {d["kind"] for d in _docs(work / "out.yaml")} == kinds


async def test_helm_template_helm_layout_mirrors_helm_output_dir(work):
    await helpers.run_step(
        "helm-template",
        {"path": "chart", "outPath": "out", "releaseName": "demo", "disableHooks": True},
        helpers.make_ctx(work),
    )
    app = work / "out/mychart/templates/app.yaml"
    assert [d["kind"] for d in _docs(app)] == ["ConfigMap", "Deployment"]
    assert app.read_text().count("# Source: mychart/templates/app.yaml") == 2
    await helpers.run_step(
        "helm-template",
        {"path": "chart", "outPath": "rel", "releaseName": "demo", "useReleaseName": True},
        helpers.make_ctx(work),
    )
    assert (work / "rel/demo/mychart/templates/app.yaml").is_file()


async def test_helm_template_flat_layout_writes_one_file_per_resource(work):
    await helpers.run_step(
        "helm-template",
        {"path": "chart", "outPath": "flat", "outLayout": "flat", "releaseName": "demo"},
        helpers.make_ctx(work),
    )
    assert sorted(p.name for p in (work / "flat").iterdir()) == [
        "apps-deployment-demo.yaml",
        "batch-job-migrate.yaml",
        "configmap-kargo-demo-demo-cm.yaml",
        "pod-demo-test.yaml",
    ]


async def test_helm_template_missing_values_file_fails_unless_ignored(work):
    cfg = {"path": "chart", "outPath": "o.yaml", "releaseName": "d", "valuesFiles": ["nope.yaml"]}
    with pytest.raises(errors.TerminalStepError, match="values file 'nope.yaml' not found"):
        await helpers.run_step("helm-template", cfg, helpers.make_ctx(work))
    await helpers.run_step(
        "helm-template", {**cfg, "ignoreMissingValueFiles": True}, helpers.make_ctx(work)
    )
    assert (work / "o.yaml").is_file()


async def test_helm_template_kube_version_needs_a_helm_binary(work):
    with pytest.raises(errors.TerminalStepError, match="need a 'helm' binary"):
        await helpers.run_step(
            "helm-template",
            {"path": "chart", "outPath": "o.yaml", "releaseName": "d", "kubeVersion": "1.30.0"},
            helpers.make_ctx(work),
        )


async def test_helm_template_reports_missing_dependencies(work):
    chart = work / "chart/Chart.yaml"
    chart.write_text(
        chart.read_text()
        + "dependencies:\n- name: redis\n  version: 1.0.0\n  repository: http://127.0.0.1:1\n"
    )
    with pytest.raises(errors.StepError, match="buildDependencies"):
        await helpers.run_step(
            "helm-template",
            {"path": "chart", "outPath": "o.yaml", "releaseName": "d"},
            helpers.make_ctx(work),
        )


async def test_helm_update_chart_sets_the_version_and_vendors_the_dependency(work, chart_repo):
    chart_repo.add("redis", "1.0.0", "1.1.0")
    chart = work / "chart/Chart.yaml"
    original = chart.read_text() + (
        "dependencies:\n"
        f"- name: redis   # cache\n  repository: {chart_repo.url}\n  version: 1.0.0\n"
    )
    chart.write_text(original)
    result = await helpers.run_step(
        "helm-update-chart",
        {
            "path": "chart",
            "charts": [{"repository": chart_repo.url, "name": "redis", "version": "1.1.0"}],
        },
        helpers.make_ctx(work),
    )
    assert chart.read_text() == original.replace("version: 1.0.0", "version: 1.1.0")
    assert (work / "chart/charts/redis-1.1.0.tgz").is_file()
    assert (work / "chart/Chart.lock").is_file()
    assert result.output == {
        "commitMessage": "Updated chart dependencies for chart\n\n- redis: 1.1.0"
    }
    # the vendored chart now renders without buildDependencies
    await helpers.run_step(
        "helm-template",
        {"path": "chart", "outPath": "o.yaml", "releaseName": "d"},
        helpers.make_ctx(work),
    )


async def test_helm_update_chart_with_an_unknown_dependency_is_terminal(work):
    with pytest.raises(errors.TerminalStepError, match="must match Chart.yaml exactly"):
        await helpers.run_step(
            "helm-update-chart",
            {"path": "chart", "charts": [{"repository": "https://x", "name": "y", "version": "1"}]},
            helpers.make_ctx(work),
        )


def test_without_helm_binary_or_sdk_the_error_names_both(monkeypatch):
    monkeypatch.setattr(helm, "_SDK", None)
    monkeypatch.setitem(sys.modules, "helm_python", None)
    with pytest.raises(
        errors.TerminalStepError, match="no 'helm' binary is on PATH and the helm-python-sdk"
    ):
        helm.helm_sdk()


# ---------------------------------------------------------------------------------------------
# credentials: the project's `helm` credentials, matched by each dependency's repository URL


def _ctx(work: Path, creds: dict[str, Credentials] | None = None) -> context.StepContext:
    ctx = helpers.make_ctx(work)
    ctx.credentials = StaticCredentials(creds or {})
    return ctx


def _depend_on(work: Path, *deps: tuple[str, str, str]) -> None:
    """Give the test chart dependencies (name, version, repository)."""
    chart = work / "chart/Chart.yaml"
    lines = [f"- name: {n}\n  version: {v}\n  repository: {r}\n" for n, v, r in deps]
    chart.write_text(chart.read_text() + "dependencies:\n" + "".join(lines))


@pytest.fixture
def helm_logs(caplog) -> Iterator[pytest.LogCaptureFixture]:
    """Every log record, Helm's own (the SDK's native log) included, at DEBUG."""
    sdk = importlib.import_module("helm_python")
    caplog.set_level(logging.DEBUG)
    sdk.enable_logging(logging.DEBUG)
    try:
        yield caplog
    finally:
        sdk.disable_logging()


async def test_helm_update_chart_uses_the_projects_helm_credentials(
    work, auth_chart_repo, helm_logs
):
    auth_chart_repo.add("redis", "1.0.0", "1.1.0")
    _depend_on(work, ("redis", "1.0.0", auth_chart_repo.url))
    creds = {auth_chart_repo.url: Credentials(charts.CHART_USER, charts.CHART_PASSWORD)}
    result = await helpers.run_step(
        "helm-update-chart",
        {
            "path": "chart",
            "charts": [{"repository": auth_chart_repo.url, "name": "redis", "version": "1.1.0"}],
        },
        _ctx(work, creds),
    )
    assert (work / "chart/charts/redis-1.1.0.tgz").is_file()
    assert result.output["commitMessage"].endswith("- redis: 1.1.0")
    assert auth_chart_repo.count(200) >= 2  # the index and the archive, both authenticated
    assert auth_chart_repo.url in helm_logs.text  # it says which repositories got credentials
    assert charts.CHART_PASSWORD not in helm_logs.text


async def test_helm_update_chart_without_credentials_names_the_repository(
    work, auth_chart_repo, helm_logs
):
    auth_chart_repo.add("redis", "1.0.0")
    _depend_on(work, ("redis", "1.0.0", auth_chart_repo.url))
    with pytest.raises(errors.StepError) as caught:
        await helpers.run_step("helm-update-chart", {"path": "chart"}, _ctx(work))
    message = str(caught.value)
    assert f"chart repository {auth_chart_repo.url} requires credentials (HTTP 401)" in message
    assert "chart 'chart'" in message  # where
    assert f"add a credential of type 'helm' with repoURL {auth_chart_repo.url}" in message
    assert "helm-c-dep" not in message  # the SDK's private repository names are translated
    assert not (work / "chart/charts").exists()


async def test_helm_update_chart_with_wrong_credentials_says_they_were_rejected(
    work, auth_chart_repo, helm_logs
):
    auth_chart_repo.add("redis", "1.0.0")
    _depend_on(work, ("redis", "1.0.0", auth_chart_repo.url))
    wrong = "not-the-Pa55word-7"
    with pytest.raises(errors.StepError) as caught:
        await helpers.run_step(
            "helm-update-chart",
            {"path": "chart"},
            _ctx(work, {auth_chart_repo.url: Credentials(charts.CHART_USER, wrong)}),
        )
    message = str(caught.value)
    assert f"chart repository {auth_chart_repo.url} rejected the credentials" in message
    assert f"user {charts.CHART_USER!r}" in message
    assert wrong not in message
    assert wrong not in helm_logs.text
    assert charts.CHART_PASSWORD not in message


async def test_helm_template_build_dependencies_uses_the_credentials(work, auth_chart_repo):
    auth_chart_repo.add("redis", "1.0.0")
    _depend_on(work, ("redis", "1.0.0", auth_chart_repo.url))
    creds = {auth_chart_repo.url: Credentials(charts.CHART_USER, charts.CHART_PASSWORD)}
    await helpers.run_step("helm-update-chart", {"path": "chart"}, _ctx(work, creds))
    (work / "chart/charts/redis-1.0.0.tgz").unlink()  # Chart.lock stays: build restores it
    cfg = {"path": "chart", "outPath": "o.yaml", "releaseName": "d", "buildDependencies": True}

    with pytest.raises(errors.StepError, match="requires credentials") as caught:
        await helpers.run_step("helm-template", cfg, _ctx(work))
    assert "helm dependency build failed for chart 'chart'" in str(caught.value)

    await helpers.run_step("helm-template", cfg, _ctx(work, creds))
    assert (work / "chart/charts/redis-1.0.0.tgz").is_file()
    assert (work / "o.yaml").is_file()


async def test_sdk_refuses_to_send_one_repositorys_credentials_to_another(
    work, auth_chart_repo, chart_repo
):
    auth_chart_repo.add("redis", "1.0.0")
    chart_repo.add("postgres", "2.0.0")
    _depend_on(work, ("redis", "1.0.0", auth_chart_repo.url), ("postgres", "2.0.0", chart_repo.url))
    creds = {auth_chart_repo.url: Credentials(charts.CHART_USER, charts.CHART_PASSWORD)}
    with pytest.raises(errors.TerminalStepError) as caught:
        await helpers.run_step("helm-update-chart", {"path": "chart"}, _ctx(work, creds))
    message = str(caught.value)
    assert auth_chart_repo.url in message
    assert chart_repo.url in message
    assert "Install a 'helm' binary on PATH" in message
    assert charts.CHART_PASSWORD not in message
    assert chart_repo.authorizations == []  # nothing was sent anywhere
    assert auth_chart_repo.requests == []


async def test_sdk_shares_credentials_only_between_repositories_that_have_the_same(work, tmp_path):
    """Two repositories with identical credentials: the one set the SDK sends fits both."""
    user_pass = (charts.CHART_USER, charts.CHART_PASSWORD)
    with (
        charts.serving(tmp_path / "r1", user_pass) as first,
        charts.serving(tmp_path / "r2", user_pass) as second,
    ):
        first.add("redis", "1.0.0")
        second.add("postgres", "1.0.0")
        _depend_on(work, ("redis", "1.0.0", first.url), ("postgres", "1.0.0", second.url))
        same = Credentials(*user_pass)
        await helpers.run_step(
            "helm-update-chart", {"path": "chart"}, _ctx(work, {first.url: same, second.url: same})
        )
    assert {p.name for p in (work / "chart/charts").iterdir()} == {
        "redis-1.0.0.tgz",
        "postgres-1.0.0.tgz",
    }


async def test_sdk_says_it_cannot_use_oci_registry_credentials(work, auth_registry, helm_logs):
    """helm-python-sdk 0.2.2 gives a dependency update's registry client no credentials."""
    repo = registry.unique_repo("charts")
    with registry.Pusher(auth_registry.url, auth_registry.auth) as pusher:
        pusher.helm_chart(f"{repo}/redis", "1.0.0", charts.make_chart_tgz("redis", "1.0.0"))
    url = f"oci://{auth_registry.host}/{repo}"
    _depend_on(work, ("redis", "1.0.0", url))
    with pytest.raises(errors.StepError) as caught:
        await helpers.run_step(
            "helm-update-chart",
            {"path": "chart"},
            _ctx(work, {url: Credentials(registry.AUTH_USER, registry.AUTH_PASSWORD)}),
        )
    message = str(caught.value)
    assert f"Kargo has credentials for {url}, but the in-process helm-python-sdk" in message
    assert "install a 'helm' binary" in message
    assert registry.AUTH_PASSWORD not in message
    assert registry.AUTH_PASSWORD not in helm_logs.text


def test_binary_route_keeps_credentials_in_private_files_not_argv():
    """The helm binary's flags name files in a 0700 temp dir that is removed afterwards."""
    secret = "bin-route-Pa55-x1"
    repos = helm.DependencyRepos(
        "kargo-demo",
        {
            "https://charts.example.com": Credentials("u", secret),
            "https://public.example.com": None,
            "oci://registry.example.com:5000/charts": Credentials("r", secret),
        },
    )
    with helm._binary_config(repos) as flags:
        assert secret not in " ".join(flags)
        opts = dict(zip(flags[::2], flags[1::2], strict=True))
        repo_file = Path(opts["--repository-config"])
        assert repo_file.parent.stat().st_mode & 0o777 == 0o700
        assert repo_file.stat().st_mode & 0o777 == 0o600
        entries = YAML(typ="safe", pure=True).load(repo_file.read_text())["repositories"]
        assert {e["url"]: e.get("password") for e in entries} == {
            "https://charts.example.com": secret,
            "https://public.example.com": None,
        }
        auths = YAML(typ="safe", pure=True).load(Path(opts["--registry-config"]).read_text())
        assert list(auths["auths"]) == ["registry.example.com:5000"]
    assert not repo_file.parent.exists()
