"""kustomize-build's output: kustomize's manifest stream as one file or one file per resource.

File names follow Kargo (`[namespace-]kind-name.yaml`) or `kustomize build -o dir/`
(`[namespace_]group_version_kind_name.yaml`, the namespace only when there are several, never
for what kustomize counts as cluster-scoped).

Neighbours: kargo.promotion.steps.kustomize (runs the build), kargo.promotion.workdir.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml import YAML

from kargo import errors
from kargo.promotion import workdir

# What kustomize (v5, as in kubectl 1.32) treats as cluster-scoped when it groups resources by
# namespace for `-o dir`: its precomputed table, by apiVersion and kind (checked against
# `kubectl kustomize -o` for every built-in kind at every API version); anything else, including
# newer kinds such as flowcontrol.apiserver.k8s.io/v1 FlowSchema or ValidatingAdmissionPolicy, is
# namespaced to it.
_CLUSTER_SCOPED = {
    "admissionregistration.k8s.io/v1": "MutatingWebhookConfiguration ValidatingWebhookConfiguration",
    "admissionregistration.k8s.io/v1beta1": "MutatingWebhookConfiguration "
    "ValidatingWebhookConfiguration",
    "apiextensions.k8s.io/v1": "CustomResourceDefinition",
    "apiextensions.k8s.io/v1beta1": "CustomResourceDefinition",
    "apiregistration.k8s.io/v1": "APIService",
    "apiregistration.k8s.io/v1beta1": "APIService",
    "certificates.k8s.io/v1": "CertificateSigningRequest",
    "certificates.k8s.io/v1beta1": "CertificateSigningRequest",
    "flowcontrol.apiserver.k8s.io/v1beta1": "FlowSchema PriorityLevelConfiguration",
    "networking.k8s.io/v1": "IngressClass",
    "networking.k8s.io/v1beta1": "IngressClass",
    "node.k8s.io/v1": "RuntimeClass",
    "node.k8s.io/v1beta1": "RuntimeClass",
    "policy/v1beta1": "PodSecurityPolicy",
    "rbac.authorization.k8s.io/v1": "ClusterRole ClusterRoleBinding",
    "rbac.authorization.k8s.io/v1beta1": "ClusterRole ClusterRoleBinding",
    "scheduling.k8s.io/v1": "PriorityClass",
    "scheduling.k8s.io/v1beta1": "PriorityClass",
    "storage.k8s.io/v1": "CSIDriver CSINode StorageClass VolumeAttachment",
    "storage.k8s.io/v1beta1": "CSIDriver CSINode StorageClass VolumeAttachment",
    "v1": "ComponentStatus Namespace Node NodeProxyOptions PersistentVolume",
}
CLUSTER_SCOPED = frozenset(
    (api_version, kind) for api_version, kinds in _CLUSTER_SCOPED.items() for kind in kinds.split()
)


@dataclass(frozen=True)
class Resource:
    """One rendered manifest: its text as kustomize printed it, and its identity."""

    text: str
    api_version: str
    kind: str
    name: str
    namespace: str

    def cluster_scoped(self) -> bool:
        """Whether kustomize files this resource apart from any namespace."""
        return (self.api_version, self.kind) in CLUSTER_SCOPED

    def gvk(self) -> str:
        """kustomize's `StringWoEmptyField` of the group/version/kind: non-empty parts with _."""
        group, _, version = self.api_version.rpartition("/")
        return "_".join(p for p in (group, version, self.kind) if p)


def split_resources(stream: str) -> list[Resource]:
    """Split kustomize's output into resources, keeping each document's text as printed."""
    loader = YAML(typ="safe", pure=True)
    out: list[Resource] = []
    chunks: list[list[str]] = [[]]
    for line in stream.splitlines(keepends=True):
        if line.rstrip("\r\n") == "---":
            chunks.append([])
        else:
            chunks[-1].append(line)
    for chunk in chunks:
        text = "".join(chunk)
        if not text.strip():
            continue
        data = loader.load(text)
        if not isinstance(data, dict):
            continue
        meta = data.get("metadata") or {}
        out.append(
            Resource(
                text=text,
                api_version=str(data.get("apiVersion") or ""),
                kind=str(data.get("kind") or ""),
                name=str(meta.get("name") or ""),
                namespace=str(meta.get("namespace") or ""),
            )
        )
    return out


def _safe_file_name(name: str) -> str:
    if name in ("", ".", "..") or "/" in name or "\\" in name or os.path.isabs(name):
        raise errors.TerminalStepError(f"unsafe generated resource filename {name!r}")
    return name


def file_name(res: Resource, output_format: str, multiple_namespaces: bool) -> str:
    """The file a resource is written to in a directory output."""
    if output_format == "kustomize":
        base = f"{res.gvk()}_{res.name}.yaml".lower()
        if multiple_namespaces and res.namespace:
            base = f"{res.namespace.lower()}_{base}"
        return _safe_file_name(base)
    if res.namespace:
        return _safe_file_name(f"{res.namespace}-{res.kind}-{res.name}.yaml".lower())
    return _safe_file_name(f"{res.kind}-{res.name}.yaml".lower())


def write_output(work_dir: Path, stream: str, out: Path, output_format: str) -> list[Path]:
    """Write kustomize's output to a file, or one file per resource in a directory."""
    where = workdir.display(work_dir, out)
    if out.suffix in (".yaml", ".yml"):
        if out.is_dir():
            raise errors.TerminalStepError(
                f"outPath {where!r} is a directory, but a name ending in {out.suffix} asks for "
                f"one file of manifests; remove the directory or choose another outPath"
            )
        workdir.check_parents(work_dir, out, where)
        out.parent.mkdir(parents=True, exist_ok=True)
        workdir.replace_text(work_dir, out, stream)
        return [out]
    if out.exists() and not out.is_dir():
        raise errors.TerminalStepError(
            f"outPath {where!r} is an existing file, but a name without a .yaml or .yml "
            f"extension asks for a directory with one file per resource; end outPath in .yaml "
            f"for a single file, or remove the file"
        )
    workdir.check_parents(work_dir, out, where)
    out.mkdir(parents=True, exist_ok=True)
    resources = split_resources(stream)
    namespaces = {r.namespace or "default" for r in resources if not r.cluster_scoped()}
    written: list[Path] = []
    for res in resources:
        multi = len(namespaces) > 1 and not res.cluster_scoped()
        target = out / file_name(res, output_format, multi)
        if target.is_dir() or target.is_symlink():
            raise errors.TerminalStepError(
                f"cannot write {workdir.display(work_dir, target)!r}: a directory or symbolic "
                f"link is in the way; empty outPath {where!r} first"
            )
        target.write_text(res.text, encoding="utf-8")
        written.append(target)
    return written
