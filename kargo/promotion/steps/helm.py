"""The helm step family: helm-update-chart and helm-template.

Both run the real Helm: a `helm` binary on PATH when there is one, else the Helm Go SDK packaged
as `helm-python-sdk` (the optional extra `kargo[helm]`), loaded in-process. helm-update-chart
edits `Chart.yaml` dependency versions in place (only the changed bytes move) and then runs a
dependency update; helm-template renders a chart into one file, Helm's `--output-dir` layout, or
a flat directory of one file per resource, as Kargo does.

Dependency updates and builds use the project's `helm` credentials, looked up by each
dependency's repository URL as Chart.yaml writes it. The binary gets them in a private
repositories file and registry config (never argv); the SDK route can only send one set of
credentials to all of a chart's HTTP repositories and none to OCI registries, so it refuses
charts whose repositories have different credentials rather than hand one repository's
password to another.

Neighbours: kargo.promotion.workdir (safe paths, YAML edits), kargo.credentials (lookup,
redaction).
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import contextlib
import hashlib
import importlib
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError

from kargo import errors
from kargo.credentials.interface import Credentials
from kargo.credentials.redaction import Redactor, strip_userinfo
from kargo.promotion import registry as reg, workdir
from kargo.promotion.context import StepContext, StepResult

HELM_SDK_VERSION = "0.2.2"  # the pinned helm-python-sdk (pyproject extra `helm`)

log = logging.getLogger(__name__)


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, alias_generator=to_camel)


class ChartDependencyUpdate(_Config):
    """A dependency in Chart.yaml whose version to set."""

    repository: str = Field(
        min_length=1,
        description="The dependency's `repository`, exactly as written in Chart.yaml (for OCI, "
        "the registry URL).",
    )
    name: str = Field(min_length=1, description="The dependency's `name` in Chart.yaml.")
    alias: str | None = Field(
        default=None,
        description="The dependency's `alias`, to pick one of several entries of the same chart.",
    )
    version: str = Field(min_length=1, description="The version to set.")


class HelmUpdateChartConfig(_Config):
    """Configuration of helm-update-chart."""

    path: str = Field(
        min_length=1, description="Path to a Helm chart (a directory holding Chart.yaml)."
    )
    charts: list[ChartDependencyUpdate] | None = Field(
        default=None,
        description="Dependency versions to set. When omitted, dependencies are updated within "
        "the ranges Chart.yaml declares.",
    )


class SetValue(_Config):
    """One `--set` value."""

    key: str = Field(min_length=1, description="The key, dot-separated (`image.tag`).")
    value: str = Field(description="The new value.")
    literal: bool = Field(
        default=False, description="Use --set-literal: the value is taken verbatim as a string."
    )


class HelmTemplateConfig(_Config):
    """Configuration of helm-template."""

    path: str = Field(min_length=1, description="Path to the Helm chart directory.")
    out_path: str = Field(
        min_length=1,
        description="A `.yaml`/`.yml` file receives all manifests; any other path is a "
        "directory laid out by `outLayout`.",
    )
    out_layout: Literal["helm", "flat"] | None = Field(
        default=None,
        description="`helm` (default): `<outPath>/<chart>/templates/...` like "
        "`helm template --output-dir`; `flat`: one file per resource directly in outPath.",
    )
    release_name: str = Field(min_length=1, description="The release name to render with.")
    use_release_name: bool = Field(
        default=False,
        description="In the helm layout, use the release name instead of the chart name as the "
        "directory.",
    )
    namespace: str | None = Field(
        default=None, description="The release namespace; defaults to the Project's name."
    )
    values_files: list[str] | None = Field(
        default=None, description="Values files, in order; later files win."
    )
    ignore_missing_value_files: bool = Field(
        default=False, description="Skip values files that do not exist instead of failing."
    )
    set_values: list[SetValue] | None = Field(
        default=None, description="Values set inline, applied after the values files."
    )
    build_dependencies: bool = Field(
        default=False, description="Build the chart's dependencies before rendering."
    )
    include_crds: bool = Field(
        default=False, alias="includeCRDs", description="Include the chart's CRDs."
    )
    disable_hooks: bool = Field(default=False, description="Leave hook resources out.")
    skip_tests: bool = Field(default=False, description="Leave test hooks out.")
    kube_version: str | None = Field(
        default=None, description="The Kubernetes version templates see in `.Capabilities`."
    )
    api_versions: list[str] | None = Field(
        default=None, description="Extra API versions templates see in `.Capabilities`."
    )


# ---------------------------------------------------------------------------------------------
# which Helm


def helm_binary() -> str | None:
    """The `helm` executable on PATH, if any."""
    return shutil.which("helm")


_SDK: Any = None


def helm_sdk() -> Any:
    """The helm-python-sdk module, or a clear error when neither it nor a helm binary exists."""
    global _SDK
    if _SDK is None:
        # Helm keeps caches under $HOME; give the in-process SDK its own private directories
        # (0700, this process only: charts of private repositories land in its cache)
        base = Path(tempfile.mkdtemp(prefix="kargo-helm-sdk-"))
        atexit.register(shutil.rmtree, base, True)
        for var, sub in (
            ("HELM_CACHE_HOME", "cache"),
            ("HELM_CONFIG_HOME", "config"),
            ("HELM_DATA_HOME", "data"),
        ):
            os.environ.setdefault(var, str(base / sub))
        try:
            _SDK = importlib.import_module("helm_python")
        except ImportError as err:
            raise errors.TerminalStepError(
                "this step needs Helm: no 'helm' binary is on PATH and the helm-python-sdk "
                f"package is not installed; install one (pip install 'kargo[helm]' brings "
                f"helm-python-sdk {HELM_SDK_VERSION})"
            ) from err
    return _SDK


class _HelmFailed(Exception):
    """A helm command or SDK call failed; `detail` is its message, work paths made relative."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


async def _exec(cmd: list[str], cwd: Path) -> str:
    proc = await asyncio.create_subprocess_exec(
        *cmd, cwd=str(cwd), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise _HelmFailed(err.decode("utf-8", "replace").strip().replace(str(cwd) + os.sep, ""))
    return out.decode("utf-8")


async def _run(cmd: list[str], cwd: Path) -> str:
    try:
        return await _exec(cmd, cwd)
    except _HelmFailed as err:
        raise errors.StepError(f"helm {cmd[1]} failed: {err.detail}") from err


def _sdk_error(what: str, err: Exception, work_dir: Path) -> errors.StepError:
    text = str(err).replace(str(work_dir) + os.sep, "")
    return errors.StepError(f"{what}: {text}")


# ---------------------------------------------------------------------------------------------
# dependency repositories and their credentials


def _is_http(url: str) -> bool:
    return url.lower().startswith(("http://", "https://"))


def _oci_host(url: str) -> str:
    return url[len("oci://") :].split("/", 1)[0]


def _declared_repositories(chart_dir: Path) -> list[str]:
    """Each dependency's `repository` in Chart.yaml order; "" for entries without one."""
    try:
        data = workdir.safe_load((chart_dir / "Chart.yaml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, YAMLError, errors.KargoError):
        return []  # Helm reports what is wrong with the file
    deps = data.get("dependencies") if isinstance(data, dict) else None
    return [
        str(d.get("repository") or "") if isinstance(d, dict) else ""
        for d in (deps if isinstance(deps, list) else [])
    ]


@dataclass(frozen=True)
class DependencyRepos:
    """A chart's remote dependency repositories (http(s) and oci) and their credentials."""

    project: str
    credentials: dict[str, Credentials | None]

    @property
    def http(self) -> dict[str, Credentials | None]:
        return {u: c for u, c in self.credentials.items() if _is_http(u)}

    @property
    def oci(self) -> dict[str, Credentials | None]:
        return {u: c for u, c in self.credentials.items() if u.startswith("oci://")}

    def redactor(self) -> Redactor:
        """Masks every password found, for any text that leaves the step."""
        return Redactor(s for c in self.credentials.values() if c for s in c.secrets())


async def dependency_repos(ctx: StepContext, chart_dir: Path) -> DependencyRepos:
    """The `helm` credentials of each remote repository Chart.yaml's dependencies name.

    Looked up by the repository URL exactly as Chart.yaml writes it (for OCI, `oci://host/...`),
    as Kargo's helm-update-chart does; `file://` and `@alias` repositories need none.
    """
    found: dict[str, Credentials | None] = {}
    for url in _declared_repositories(chart_dir):
        if url in found or not (_is_http(url) or url.startswith("oci://")):
            continue
        creds = None
        if ctx.credentials is not None:
            creds = await ctx.credentials.get(ctx.project, "helm", url)
        found[url] = creds if creds and (creds.username or creds.password) else None
    return DependencyRepos(ctx.project, found)


def _repo_name(url: str) -> str:
    return "kargo-" + hashlib.sha256(url.encode()).hexdigest()[:16]


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


@contextlib.contextmanager
def _binary_config(repos: DependencyRepos) -> Iterator[list[str]]:
    """Helm flags naming a private repositories file, registry config and repository cache.

    The credentials go into files in a fresh 0700 temp dir, removed afterwards, so they never
    reach argv, the user's Helm config, or another promotion's cache.
    """
    tmp = Path(tempfile.mkdtemp(prefix="kargo-helm-"))
    try:
        entries: list[dict[str, Any]] = []
        for url, creds in repos.http.items():
            entry: dict[str, Any] = {"name": _repo_name(url), "url": url}
            if creds:
                entry.update(username=creds.username, password=creds.password)
            entries.append(entry)
        auths = {
            _oci_host(url): {
                "auth": base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode()
            }
            for url, creds in repos.oci.items()
            if creds
        }
        # JSON is YAML: Helm reads repositories.yaml with a YAML parser
        repo_file, registry_file = tmp / "repositories.yaml", tmp / "registry.json"
        _write_private(repo_file, json.dumps({"apiVersion": "v1", "repositories": entries}))
        _write_private(registry_file, json.dumps({"auths": auths}))
        yield [
            "--repository-config", str(repo_file),
            "--registry-config", str(registry_file),
            "--repository-cache", str(tmp / "cache"),
        ]  # fmt: skip
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _sdk_http_credentials(repos: DependencyRepos, where: str) -> Credentials | None:
    """The one set of credentials the SDK may send to all of the chart's HTTP repositories."""
    http = repos.http
    distinct = {(c.username, c.password) if c else None for c in http.values()}
    if len(distinct) <= 1:
        return next((c for c in http.values() if c), None)
    each = "; ".join(
        f"{strip_userinfo(u)}: " + (f"user {c.username!r}" if c else "no credentials")
        for u, c in sorted(http.items())
    )
    raise errors.TerminalStepError(
        f"chart {where!r} depends on chart repositories with different credentials "
        f"({each}): the in-process helm-python-sdk sends one set of credentials to "
        "every repository of a chart, which would hand one repository's password to another. "
        "Install a 'helm' binary on PATH (it keeps credentials per repository), or give these "
        "repositories the same credentials"
    )


# libhelm_c names the repositories it registers for a chart `helm-c-dep-<index in Chart.yaml>`
_SDK_REPO_NAME = re.compile(r"helm-c-dep-(\d+)")
_NO_CACHED_INDEX = re.compile(
    r"no cached repository for (?P<repo>\S+) found\. \(try 'helm repo update'\): .*"
)


def _readable_sdk_detail(detail: str, chart_dir: Path) -> str:
    """The SDK's message with its private repository names turned back into URLs."""
    declared = _declared_repositories(chart_dir)

    def url(match: re.Match[str]) -> str:
        i = int(match.group(1))
        return strip_userinfo(declared[i]) if i < len(declared) and declared[i] else match[0]

    detail = _SDK_REPO_NAME.sub(url, detail)
    return _NO_CACHED_INDEX.sub(
        lambda m: f"could not fetch the index of chart repository {m['repo']}", detail
    )


async def _diagnose(repos: DependencyRepos, sdk_route: bool, detail: str) -> list[str]:
    """What is wrong with the repositories, found by asking them (only after a failure)."""
    hints: list[str] = []
    async with httpx.AsyncClient(timeout=10, follow_redirects=True) as http:
        for url, creds in repos.http.items():
            shown = strip_userinfo(url)
            auth = (creds.username, creds.password) if creds else None
            try:
                resp = await http.get(url.rstrip("/") + "/index.yaml", auth=auth)
            except httpx.HTTPError as err:
                hints.append(f"chart repository {shown} is unreachable ({type(err).__name__})")
                continue
            if resp.status_code in (401, 403) and creds is None:
                hints.append(
                    f"chart repository {shown} requires credentials (HTTP {resp.status_code}) and "
                    f"Kargo has none for it: add a credential of type 'helm' with repoURL "
                    f"{shown} to project {repos.project!r}"
                )
            elif resp.status_code in (401, 403) and creds is not None:
                hints.append(
                    f"chart repository {shown} rejected the credentials Kargo has for it (user "
                    f"{creds.username!r}, HTTP {resp.status_code}): correct the username and "
                    f"password of the 'helm' credential for {shown}"
                )
            elif resp.status_code >= 400:
                hints.append(
                    f"chart repository {shown} has no index.yaml (HTTP {resp.status_code}): "
                    "check the dependency's repository URL in Chart.yaml"
                )
    lowered = detail.lower()
    for url, creds in repos.oci.items():
        if _oci_host(url).lower() not in lowered:
            continue
        if creds is not None and sdk_route:
            hints.append(
                f"Kargo has credentials for {url}, but the in-process helm-python-sdk cannot "
                "pass registry credentials to a dependency update: install a 'helm' binary on "
                "PATH to use them"
            )
        elif creds is None and any(w in lowered for w in ("credential", "unauthorized", "401")):
            hints.append(
                f"OCI registry {_oci_host(url)} requires credentials and Kargo has none for "
                f"{url}: add a credential of type 'helm' with repoURL {url} to project "
                f"{repos.project!r}"
            )
    return hints


# ---------------------------------------------------------------------------------------------
# helm-update-chart


def _lock_versions(chart_dir: Path) -> dict[str, str]:
    lock = chart_dir / "Chart.lock"
    if not lock.is_file():
        return {}
    data = YAML(typ="safe", pure=True).load(lock.read_text(encoding="utf-8")) or {}
    return {
        str(d.get("name")): str(d.get("version"))
        for d in data.get("dependencies") or []
        if isinstance(d, dict)
    }


def set_dependency_versions(text: str, charts: Iterable[ChartDependencyUpdate]) -> str:
    """Chart.yaml `text` with the listed dependencies' versions set.

    Only the version scalars' bytes change (quoting, comments and layout stay), so a
    promotion's diff shows just the versions; a round trip is the fallback when a dependency
    has no `version` key to replace.
    """
    loaded = workdir.load_yaml(text)
    doc = loaded.docs[0]
    if not isinstance(doc, CommentedMap):
        raise errors.TerminalStepError("Chart.yaml is not a YAML mapping")
    deps = doc.get("dependencies")
    deps = deps if isinstance(deps, list) else []
    updates: list[tuple[str, list[str], Any]] = []
    for chart in charts:
        matches = [
            i
            for i, d in enumerate(deps)
            if isinstance(d, CommentedMap)
            and d.get("repository") == chart.repository
            and d.get("name") == chart.name
            and (chart.alias is None or d.get("alias") == chart.alias)
        ]
        if not matches:
            alias = f", alias {chart.alias!r}" if chart.alias else ""
            raise errors.TerminalStepError(
                f"no dependency in Chart.yaml has repository {chart.repository!r} and name "
                f"{chart.name!r}{alias}; the repository must match Chart.yaml exactly"
            )
        for i in matches:
            if str(deps[i].get("version")) != chart.version:
                parts = ["dependencies", str(i), "version"]
                updates.append((".".join(parts), parts, chart.version))
                deps[i]["version"] = chart.version
    if not updates:
        return text
    try:
        return workdir.splice_scalars(text, updates)
    except workdir.NeedsStructuralEdit:
        return loaded.dump()


def update_commit_message(path: str, before: dict[str, str], after: dict[str, str]) -> str:
    """Kargo's helm-update-chart commit message: each changed dependency and its new version."""
    changes = {n: v for n, v in after.items() if before.get(n) != v}
    changes.update({n: "" for n in before if n not in after})
    if not changes:
        return ""
    lines = [f"Updated chart dependencies for {path}", ""]
    lines += [f"- {n}: {changes[n] or 'removed'}" for n in sorted(changes)]
    return "\n".join(lines)


def _sdk_dependency(sdk: Any, action: str, chart_dir: Path, creds: Credentials | None) -> None:
    if creds is None:
        getattr(sdk, f"dependency_{action}")(str(chart_dir))
        return
    # helm-python-sdk 0.2.2's wrapper does not expose them, but its libhelm_c takes a username
    # and password in the options and gives them to the chart's HTTP repositories.
    options = json.dumps({"username": creds.username, "password": creds.password})
    sdk._native.call_status(f"helm_dependency_{action}", str(chart_dir), options)


async def run_dependencies(
    action: Literal["update", "build"], chart_dir: Path, work_dir: Path, repos: DependencyRepos
) -> None:
    """`helm dependency update|build` on `chart_dir` with the repositories' credentials."""
    where = workdir.display(work_dir, chart_dir)
    redact = repos.redactor()
    used = sorted(strip_userinfo(u) for u, c in repos.credentials.items() if c)
    if used:
        log.info("helm dependency %s for %s: using credentials for %s", action, where, used)
    exe = helm_binary()
    try:
        if exe:
            with _binary_config(repos) as flags:
                await _exec([exe, "dependency", action, str(chart_dir), *flags], work_dir)
        else:
            sdk = helm_sdk()
            creds = _sdk_http_credentials(repos, where)
            try:
                await asyncio.to_thread(_sdk_dependency, sdk, action, chart_dir, creds)
            except sdk.HelmError as err:
                detail = str(err).replace(str(work_dir) + os.sep, "")
                raise _HelmFailed(_readable_sdk_detail(detail, chart_dir)) from err
    except _HelmFailed as err:
        detail = err.detail
        for url in repos.http:  # the binary names them as _binary_config did
            detail = detail.replace(_repo_name(url), strip_userinfo(url))
        hints = await _diagnose(repos, exe is None, detail)
        problem = f"{'; '.join(hints)} (helm said: {detail})" if hints else detail
        # `from None`: the original exception's text has not been through the redactor
        raise errors.StepError(
            redact(f"helm dependency {action} failed for chart {where!r}: {problem}")
        ) from None


async def helm_update_chart(ctx: StepContext, cfg: HelmUpdateChartConfig) -> StepResult:
    """Updates dependency versions in a chart's Chart.yaml and runs a dependency update."""
    chart_dir = workdir.resolve(ctx.work_dir, cfg.path)
    chart_file = chart_dir / "Chart.yaml"
    if not chart_file.is_file():
        raise errors.TerminalStepError(f"no Chart.yaml in {cfg.path!r}")
    before = _lock_versions(chart_dir)
    if cfg.charts:
        with chart_file.open(encoding="utf-8", newline="") as fh:
            text = fh.read()
        try:
            new_text = set_dependency_versions(text, cfg.charts)
        except YAMLError as err:
            raise errors.TerminalStepError(f"Chart.yaml is not valid YAML: {err}") from err
        if new_text != text:
            workdir.replace_text(ctx.work_dir, chart_file, new_text)
    repos = await dependency_repos(ctx, chart_dir)
    await run_dependencies("update", chart_dir, ctx.work_dir, repos)
    message = update_commit_message(cfg.path, before, _lock_versions(chart_dir))
    return StepResult(output={"commitMessage": message} if message else {})


# ---------------------------------------------------------------------------------------------
# helm-template

# Helm's install order (releaseutil.InstallOrder); other kinds come after, in file order.
INSTALL_ORDER = [
    "PriorityClass", "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange",
    "PodSecurityPolicy", "PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList",
    "ConfigMap", "StorageClass", "PersistentVolume", "PersistentVolumeClaim",
    "CustomResourceDefinition", "ClusterRole", "ClusterRoleList", "ClusterRoleBinding",
    "ClusterRoleBindingList", "Role", "RoleList", "RoleBinding", "RoleBindingList", "Service",
    "DaemonSet", "Pod", "ReplicationController", "ReplicaSet", "Deployment",
    "HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress",
    "APIService", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
]  # fmt: skip


@dataclass(frozen=True)
class Manifest:
    """One rendered document and the template it came from."""

    path: str
    text: str
    kind: str
    hook_events: tuple[str, ...]
    api_version: str = ""
    name: str = ""
    namespace: str = ""


def _split_docs(text: str) -> list[str]:
    docs: list[list[str]] = [[]]
    for line in text.splitlines(keepends=True):
        if line.rstrip() == "---" or line.startswith("--- "):
            docs.append([])
        else:
            docs[-1].append(line)
    return ["".join(d).strip("\n") for d in docs if "".join(d).strip()]


def parse_manifests(rendered: dict[str, str]) -> list[Manifest]:
    """Helm's manifests from rendered templates: NOTES and empty documents dropped, sorted."""
    loader = YAML(typ="safe", pure=True)
    out: list[Manifest] = []
    for path in sorted(rendered):
        if path.endswith("NOTES.txt") or os.path.basename(path).startswith("_"):
            continue
        for doc in _split_docs(rendered[path]):
            try:
                data = loader.load(doc)
            except YAMLError as err:
                raise errors.StepError(f"template {path} rendered invalid YAML: {err}") from err
            if not isinstance(data, dict):
                continue
            meta = data.get("metadata") or {}
            annotations = meta.get("annotations") or {}
            hook = str(annotations.get("helm.sh/hook") or "")
            events = tuple(e.strip() for e in hook.split(",") if e.strip())
            out.append(
                Manifest(
                    path=path,
                    text=doc,
                    kind=str(data.get("kind") or ""),
                    hook_events=events,
                    api_version=str(data.get("apiVersion") or ""),
                    name=str(meta.get("name") or ""),
                    namespace=str(meta.get("namespace") or ""),
                )
            )
    order = {k: i for i, k in enumerate(INSTALL_ORDER)}
    return sorted(out, key=lambda m: order.get(m.kind, len(order)))


def _deep_merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _deep_merge(base[key], value)
        else:
            base[key] = value
    return base


def compose_values(ctx: StepContext, cfg: HelmTemplateConfig, sdk: Any) -> dict[str, Any]:
    """Values files merged in order, then --set values (the SDK route)."""
    values: dict[str, Any] = {}
    loader = YAML(typ="safe", pure=True)
    for path in cfg.values_files or []:
        file = workdir.resolve(ctx.work_dir, path)
        if not file.is_file():
            if cfg.ignore_missing_value_files:
                continue
            raise errors.TerminalStepError(f"values file {path!r} not found")
        try:
            data = loader.load(file.read_text(encoding="utf-8")) or {}
        except YAMLError as err:
            raise errors.TerminalStepError(
                f"values file {path!r} is not valid YAML: {err}"
            ) from err
        if not isinstance(data, dict):
            raise errors.TerminalStepError(f"values file {path!r} is not a YAML mapping")
        _deep_merge(values, data)
    for sv in cfg.set_values or []:
        parse = sdk.parse_set_literal if sv.literal else sdk.parse_set_string
        try:
            _deep_merge(values, parse(f"{sv.key}={sv.value}"))
        except sdk.HelmError as err:
            raise errors.TerminalStepError(f"setValues {sv.key!r}: {err}") from err
    return values


def _flat_name(m: Manifest) -> str:
    """Kargo's flat-layout file name: [group-]kind[-namespace]-name.yaml, lower case."""
    group = m.api_version.rpartition("/")[0]
    name = m.kind
    if group:
        name = group.replace(".", "_") + "-" + name
    if m.namespace:
        name += "-" + m.namespace
    name = f"{name}-{m.name}.yaml".lower()
    if "/" in name or "\\" in name or name in (".", ".."):
        raise errors.TerminalStepError(f"unsafe generated resource filename {name!r}")
    return name


def _source(m: Manifest) -> str:
    return f"---\n# Source: {m.path}\n{m.text}\n"


def write_rendered(
    manifests: list[Manifest], crds: list[tuple[str, str]], cfg: HelmTemplateConfig, out: Path
) -> None:
    """Write what was rendered as the outPath and outLayout ask."""
    main = [m for m in manifests if not m.hook_events]
    hooks = [] if cfg.disable_hooks else [m for m in manifests if m.hook_events]
    if cfg.skip_tests:
        hooks = [h for h in hooks if not {"test", "test-success"} & set(h.hook_events)]
    crd_docs = [f"---\n# Source: {p}\n{d.strip()}\n" for p, d in crds] if cfg.include_crds else []
    if out.suffix in (".yaml", ".yml"):
        out.parent.mkdir(parents=True, exist_ok=True)
        body = "".join(crd_docs + [_source(m) for m in main + hooks])
        out.write_text(body, encoding="utf-8")
        return
    out.mkdir(parents=True, exist_ok=True)
    if cfg.out_layout == "flat":
        for m in main + hooks:
            (out / _flat_name(m)).write_text(m.text + "\n", encoding="utf-8")
        for path, data in crds if cfg.include_crds else []:
            for doc in _split_docs(data):
                crd = parse_manifests({path: doc})
                if crd:
                    (out / _flat_name(crd[0])).write_text(doc + "\n", encoding="utf-8")
        return
    base = out / cfg.release_name if cfg.use_release_name else out
    written: set[Path] = set()
    entries = (
        [(p, f"---\n# Source: {p}\n{d.strip()}\n") for p, d in crds] if cfg.include_crds else []
    )
    entries += [(m.path, _source(m)) for m in main + hooks]
    for path, text in entries:
        target = base / path
        if not workdir.is_inside(out, target.parent):
            raise errors.TerminalStepError(f"template path {path!r} leads outside outPath")
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("a" if target in written else "w", encoding="utf-8") as fh:
            fh.write(text)
        written.add(target)


async def _template_with_binary(
    exe: str, ctx: StepContext, cfg: HelmTemplateConfig, chart: Path, out: Path
) -> None:
    cmd = [exe, "template", cfg.release_name, str(chart)]
    cmd += ["--namespace", cfg.namespace or ctx.project]
    for path in cfg.values_files or []:
        file = workdir.resolve(ctx.work_dir, path)
        if not file.is_file():
            if cfg.ignore_missing_value_files:
                continue
            raise errors.TerminalStepError(f"values file {path!r} not found")
        cmd += ["--values", str(file)]
    for sv in cfg.set_values or []:
        cmd += ["--set-literal" if sv.literal else "--set", f"{sv.key}={sv.value}"]
    if cfg.kube_version:
        cmd += ["--kube-version", cfg.kube_version]
    for api in cfg.api_versions or []:
        cmd += ["--api-versions", api]
    if cfg.include_crds:
        cmd.append("--include-crds")
    if cfg.disable_hooks:
        cmd.append("--no-hooks")
    if cfg.skip_tests:
        cmd.append("--skip-tests")
    stream = await _run(cmd, ctx.work_dir)
    rendered: dict[str, list[str]] = {}
    for doc in stream.split("\n---\n"):
        doc = doc.removeprefix("---\n")
        lines = doc.splitlines()
        if lines and lines[0].startswith("# Source: "):
            rendered.setdefault(lines[0][len("# Source: ") :], []).append("\n".join(lines[1:]))
    manifests = parse_manifests({p: "\n---\n".join(d) for p, d in rendered.items()})
    crds = [m for m in manifests if "/crds/" in m.path]
    plain = [m for m in manifests if "/crds/" not in m.path]
    keep = cfg.model_copy(update={"include_crds": bool(crds)})
    write_rendered(plain, [(m.path, m.text) for m in crds], keep, out)


async def _template_with_sdk(
    ctx: StepContext, cfg: HelmTemplateConfig, chart: Path, out: Path
) -> None:
    sdk = helm_sdk()
    if cfg.kube_version or cfg.api_versions:
        raise errors.TerminalStepError(
            "kubeVersion and apiVersions need a 'helm' binary on PATH; the in-process "
            "helm-python-sdk cannot set the capabilities templates see"
        )
    values = compose_values(ctx, cfg, sdk)

    def render() -> tuple[dict[str, str], list[tuple[str, str]]]:
        with sdk.Chart.load(str(chart)) as loaded:
            for dep in loaded.metadata.get("dependencies") or []:
                names = {d.get("name") for d in loaded.dependencies}
                if dep.get("name") not in names:
                    raise errors.StepError(
                        f"missing chart dependencies: {dep.get('name')!r} is not in charts/; "
                        f"set buildDependencies: true or vendor the dependency"
                    )
            rendered = loaded.render(
                values, name=cfg.release_name, namespace=cfg.namespace or ctx.project,
                is_install=True,
            )  # fmt: skip
            crds = [(c["filename"], c["data"]) for c in loaded.crds]
            return rendered, crds

    try:
        rendered, crds = await asyncio.to_thread(render)
    except sdk.HelmError as err:
        raise _sdk_error("failed to render chart", err, ctx.work_dir) from err
    write_rendered(parse_manifests(rendered), crds, cfg, out)


async def helm_template(ctx: StepContext, cfg: HelmTemplateConfig) -> StepResult:
    """Renders a Helm chart's manifests into a file or directory."""
    chart = workdir.resolve(ctx.work_dir, cfg.path)
    if not (chart / "Chart.yaml").is_file():
        raise errors.TerminalStepError(f"no Chart.yaml in {cfg.path!r}")
    out = workdir.resolve(ctx.work_dir, cfg.out_path)
    if cfg.build_dependencies:
        await run_dependencies("build", chart, ctx.work_dir, await dependency_repos(ctx, chart))
    if exe := helm_binary():
        await _template_with_binary(exe, ctx, cfg, chart, out)
    else:
        await _template_with_sdk(ctx, cfg, chart, out)
    return StepResult()


def register(registry: reg.StepRegistry) -> None:
    """Register helm-update-chart and helm-template."""
    creds = {reg.Capability.ACCESS_CREDENTIALS}
    registry.step("helm-update-chart", HelmUpdateChartConfig, capabilities=creds)(helm_update_chart)
    registry.step("helm-template", HelmTemplateConfig, capabilities=creds)(helm_template)


DOCS = {
    "helm-update-chart": {
        "about": "Sets dependency versions in a chart's Chart.yaml (matched by exact repository "
        "and name, and alias when given) and runs `helm dependency update`, which writes "
        "Chart.lock and vendors the charts into charts/. Chart.yaml keeps its comments and "
        "layout: only the changed versions' bytes move. Uses a `helm` binary when there is "
        "one, else helm-python-sdk. Repositories that need credentials get the Project's "
        "credentials of type `helm` whose repoURL matches the dependency's `repository` (for "
        "`oci://host/...`, that registry); the binary gets them in private temporary files, "
        "never on its command line. helm-python-sdk can send only one set of credentials to "
        "all of a chart's HTTP repositories, so it refuses a chart whose repositories have "
        "different credentials, and it cannot use OCI registry credentials.",
        "outputs": {
            "commitMessage": "Each dependency whose locked version changed, for a later "
            "git-commit step."
        },
        "example": {
            "path": "./src/charts/my-chart",
            "charts": [
                {
                    "repository": "https://charts.example.com",
                    "name": "some-chart",
                    "version": '${{ chartFrom("https://charts.example.com", "some-chart").Version }}',
                }
            ],
        },
    },
    "helm-template": {
        "about": "Renders a chart like `helm template` into a file, Helm's `--output-dir` "
        "layout, or a flat directory of one file per resource (`[group-]kind[-namespace]-name"
        ".yaml`). Uses a `helm` binary when there is one, else helm-python-sdk in-process, "
        "which cannot set `kubeVersion`/`apiVersions`. `buildDependencies` uses the "
        "Project's `helm` credentials as helm-update-chart does.",
        "example": {
            "path": "./src/charts/my-chart",
            "outPath": "./out",
            "releaseName": "my-release",
            "valuesFiles": ["./src/stages/${{ ctx.stage }}/values.yaml"],
        },
    },
}
