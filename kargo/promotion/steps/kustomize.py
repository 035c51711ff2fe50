"""The kustomize step family: kustomize-set-image and kustomize-build.

kustomize-set-image edits the `images` list of a kustomization file itself (kubectl has no
`kustomize edit`), through a ruamel.yaml round trip that keeps the file's comments, quoting and
indentation; entries it does not touch stay as they were. kustomize-build runs the real tool: a
`kustomize` binary on PATH, else `kubectl kustomize`.

Neighbours: kargo.promotion.workdir (safe paths, YAML round trips), kargo.promotion.context
(the Freight whose images are set when no images are listed).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from kargo import errors
from kargo.promotion import registry as reg, workdir
from kargo.promotion.context import StepContext, StepResult

KUSTOMIZATION_FILE_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
PRESERVE = "*"  # Kargo: "*" keeps the existing newName/newTag/digest


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, alias_generator=to_camel)


class KustomizeImage(_Config):
    """One image to set in the kustomization."""

    image: str = Field(
        min_length=1,
        description="The image repository Kargo subscribes to (and makes Freight for).",
    )
    tag: str | None = Field(
        default=None, description="Tag to set. Mutually exclusive with `digest`."
    )
    digest: str | None = Field(
        default=None, description="Digest to set. Mutually exclusive with `tag`."
    )
    new_name: str | None = Field(
        default=None, description="Replacement image name, to rename the image in manifests."
    )
    name: str | None = Field(
        default=None,
        description="The image's name as the kustomization knows it, when it differs from "
        "`image`.",
    )

    @model_validator(mode="after")
    def _tag_xor_digest(self) -> KustomizeImage:
        if bool(self.tag) == bool(self.digest):
            raise ValueError("exactly one of tag or digest must be set")
        return self


class KustomizeSetImageConfig(_Config):
    """Configuration of kustomize-set-image."""

    path: str = Field(
        min_length=1, description="Path to the directory holding the kustomization file."
    )
    images: list[KustomizeImage] | None = Field(
        default=None,
        description="Images to set. When omitted or empty, every image of the Freight being "
        "promoted is set (an error if two Freight carry the same repository).",
    )


class HelmPluginConfig(_Config):
    """Settings for kustomize's built-in Helm chart inflator."""

    api_versions: list[str] | None = Field(
        default=None, description="API versions to report to the chart's templates."
    )
    kube_version: str | None = Field(
        default=None, description="Kubernetes version to report to the chart's templates."
    )


class KustomizePluginConfig(_Config):
    """Settings for kustomize's built-in plugins."""

    helm: HelmPluginConfig | None = Field(default=None, description="Helm chart inflation.")


class KustomizeBuildConfig(_Config):
    """Configuration of kustomize-build."""

    path: str = Field(
        min_length=1, description="Path to the directory holding the kustomization file."
    )
    out_path: str = Field(
        min_length=1,
        description="Where to write the manifests: a `.yaml`/`.yml` file gets all of them; "
        "anything else is a directory with one file per resource.",
    )
    output_format: Literal["kargo", "kustomize"] | None = Field(
        default=None,
        description="File names in a directory: `kargo` (default) `[namespace-]kind-name.yaml`; "
        "`kustomize` `[namespace_]group_version_kind_name.yaml` as `kustomize build -o dir/`.",
    )
    plugin: KustomizePluginConfig | None = Field(
        default=None, description="Settings for kustomize's built-in plugins."
    )


# ---------------------------------------------------------------------------------------------
# kustomize-set-image


@dataclass
class TargetImage:
    """An entry of a kustomization's `images` list."""

    name: str
    new_name: str = ""
    new_tag: str = ""
    digest: str = ""

    def ref(self) -> str:
        """The image reference the entry produces, as Kargo's commit message writes it."""
        ref = self.new_name or self.name
        if self.new_tag:
            ref = f"{ref}:{self.new_tag}"
        if self.digest:
            ref = f"{ref}@{self.digest}"
        return ref


def _regular_file(path: Path) -> bool:
    """A file that is not a symlink (one lstat, not is_file's stat and is_symlink's lstat)."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def find_kustomization(work_dir: Path, path: str) -> Path:
    """The one kustomization file in `path`; none or several is an error."""
    directory = workdir.resolve(work_dir, path)
    found = [directory / n for n in KUSTOMIZATION_FILE_NAMES if _regular_file(directory / n)]
    if not found:
        raise errors.TerminalStepError(
            f"could not find a kustomization file in {path!r} (looked for "
            f"{', '.join(KUSTOMIZATION_FILE_NAMES)})"
        )
    # "kustomization.yaml" and "Kustomization" may be the same file on a case-insensitive disk
    if len(found) > 1 and len({os.path.realpath(p) for p in found}) > 1:
        raise errors.TerminalStepError(
            f"ambiguous result: found several kustomization files in {path!r}: "
            f"{', '.join(p.name for p in found)}; keep only one"
        )
    return found[0]


def targets_from_config(images: list[KustomizeImage]) -> dict[str, TargetImage]:
    """The images a user listed, keyed by their name in the kustomization."""
    out: dict[str, TargetImage] = {}
    for img in images:
        name = img.name or img.image
        out[name] = TargetImage(
            name=name,
            new_name=img.new_name or "",
            new_tag="" if img.digest else (img.tag or ""),
            digest=img.digest or "",
        )
    return out


def targets_from_freight(ctx: StepContext) -> dict[str, TargetImage]:
    """Every image of the promoted Freight; two Freight with the same repository is ambiguous."""
    out: dict[str, TargetImage] = {}
    origins: dict[str, str] = {}
    for origin, freight in sorted(ctx.freight.items.items()):
        for img in freight.get("images") or []:
            repo = str(img.get("repoURL") or "")
            if not repo:
                continue
            if repo in origins and origins[repo] != origin:
                raise errors.TerminalStepError(
                    f"manual configuration required due to ambiguous result: image {repo!r} "
                    f"comes from both {origins[repo]} and {origin}; list it under images"
                )
            origins[repo] = origin
            out[repo] = TargetImage(
                name=repo, new_tag=str(img.get("tag") or ""), digest=str(img.get("digest") or "")
            )
    return out


_FIELDS = (("newName", "new_name"), ("newTag", "new_tag"), ("digest", "digest"))


def _apply(entry: CommentedMap, target: TargetImage) -> None:
    """Set an existing `images` entry to `target`, honouring "*" (keep) and dropping blanks."""
    for key, attr in _FIELDS:
        value = getattr(target, attr)
        if value == PRESERVE:
            continue
        if value:
            if str(entry.get(key, "")) != value:
                entry[key] = value
        elif key in entry:
            del entry[key]


def _new_entry(target: TargetImage) -> CommentedMap:
    entry = CommentedMap()
    entry["name"] = target.name
    for key, attr in _FIELDS:
        value = getattr(target, attr)
        if value and value != PRESERVE:
            entry[key] = value
    return entry


def _entry(target: TargetImage) -> dict[str, str]:
    entry = {"name": target.name}
    for key, attr in _FIELDS:
        value = getattr(target, attr)
        if value and value != PRESERVE:
            entry[key] = value
    return entry


def image_edits(doc: Any, targets: dict[str, TargetImage]) -> list[workdir.YAMLEdit]:
    """The text edits that set `targets` in a kustomization's `images` list."""
    if doc is not None and not isinstance(doc, dict):
        raise errors.TerminalStepError("the kustomization file is not a YAML mapping")
    images = doc.get("images") if doc else None
    if images is None:
        entries = [_entry(targets[n]) for n in sorted(targets)]
        return [workdir.YAMLEdit("images", ["images"], entries)]
    if not isinstance(images, list):
        raise errors.TerminalStepError("the kustomization's images field is not a list")
    index = {str(e.get("name")): i for i, e in enumerate(images) if isinstance(e, dict)}
    edits: list[workdir.YAMLEdit] = []
    for name in sorted(targets):
        target = targets[name]
        if name not in index:
            edits.append(workdir.YAMLEdit("images.-1", ["images", "-1"], _entry(target)))
            continue
        entry = images[index[name]]
        for key, attr in _FIELDS:
            value = getattr(target, attr)
            if value == PRESERVE:
                continue
            parts = ["images", str(index[name]), key]
            if value and str(entry.get(key, "")) != value:
                edits.append(workdir.YAMLEdit(".".join(parts), parts, value))
            elif not value and key in entry:
                edits.append(workdir.YAMLEdit(".".join(parts), parts, delete=True))
    return edits


def _round_trip(text: str, targets: dict[str, TargetImage]) -> str:
    loaded = workdir.load_yaml(text, prefer="images")
    doc = loaded.docs[0]
    if doc is None:
        doc = loaded.docs[0] = CommentedMap()
    if not isinstance(doc, CommentedMap):
        raise errors.TerminalStepError("the kustomization file is not a YAML mapping")
    images = doc.get("images")
    if images is None:
        images = doc["images"] = CommentedSeq()
    if not isinstance(images, CommentedSeq):
        raise errors.TerminalStepError("the kustomization's images field is not a list")
    by_name = {
        str(e.get("name")): e for e in images if isinstance(e, CommentedMap) and e.get("name")
    }
    for name in sorted(targets):
        target = targets[name]
        if name in by_name:
            _apply(by_name[name], target)
            continue
        images.append(_new_entry(target))
    return loaded.dump()


def set_images(text: str, targets: dict[str, TargetImage]) -> str:
    """The kustomization `text` with `targets` set in its `images` list.

    Changed values are replaced in place and new entries or fields are inserted beside their
    siblings, so the diff shows only what changed; layouts the text editor cannot handle
    (flow-style lists, for instance) go through a round trip styled on `images`.
    """
    doc = workdir.safe_load(text)
    try:
        return workdir.edit_yaml(text, image_edits(doc, targets))
    except workdir.NeedsStructuralEdit:
        return _round_trip(text, targets)


def set_image_commit_message(path: str, targets: dict[str, TargetImage]) -> str:
    """Kargo's kustomize-set-image commit message fragment."""
    if not targets:
        return ""
    head = f"Updated {path} to use new image" + ("s" if len(targets) > 1 else "")
    return "\n".join([head, ""] + [f"- {targets[n].ref()}" for n in sorted(targets)])


async def kustomize_set_image(ctx: StepContext, cfg: KustomizeSetImageConfig) -> StepResult:
    """Sets images in a kustomization file, keeping its formatting."""
    file = find_kustomization(ctx.work_dir, cfg.path)
    targets = targets_from_config(cfg.images) if cfg.images else targets_from_freight(ctx)
    with file.open(encoding="utf-8", newline="") as fh:
        text = fh.read()
    try:
        new_text = set_images(text, targets) if targets else text
    except YAMLError as err:
        raise errors.TerminalStepError(
            f"could not parse {workdir.display(ctx.work_dir, file)!r}: {err}"
        ) from err
    if new_text != text:
        with file.open("w", encoding="utf-8", newline="") as fh:
            fh.write(new_text)
    message = set_image_commit_message(cfg.path, targets)
    return StepResult(output={"commitMessage": message} if message else {})


# ---------------------------------------------------------------------------------------------
# kustomize-build


def kustomize_command() -> list[str]:
    """How to run `kustomize build` here: a kustomize binary, else kubectl's built-in copy."""
    if exe := shutil.which("kustomize"):
        return [exe, "build"]
    if exe := shutil.which("kubectl"):
        return [exe, "kustomize"]
    raise errors.TerminalStepError(
        "kustomize-build needs a kustomize binary: neither 'kustomize' nor 'kubectl' is on PATH; "
        "install one of them (kubectl includes kustomize as 'kubectl kustomize')"
    )


# Kinds kustomize treats as cluster-scoped when grouping resources by namespace.
CLUSTER_SCOPED_KINDS = frozenset(
    {
        "APIService",
        "CSIDriver",
        "CSINode",
        "CertificateSigningRequest",
        "ClusterRole",
        "ClusterRoleBinding",
        "ComponentStatus",
        "CustomResourceDefinition",
        "IngressClass",
        "MutatingWebhookConfiguration",
        "Namespace",
        "Node",
        "PersistentVolume",
        "PodSecurityPolicy",
        "PriorityClass",
        "RuntimeClass",
        "StorageClass",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "ValidatingWebhookConfiguration",
        "VolumeAttachment",
    }
)


@dataclass(frozen=True)
class Resource:
    """One rendered manifest: its text as kustomize printed it, and its identity."""

    text: str
    api_version: str
    kind: str
    name: str
    namespace: str

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


def write_output(stream: str, out: Path, output_format: str) -> list[Path]:
    """Write kustomize's output to a file, or one file per resource in a directory."""
    if out.suffix in (".yaml", ".yml"):
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(stream, encoding="utf-8")
        return [out]
    out.mkdir(parents=True, exist_ok=True)
    resources = split_resources(stream)
    namespaces = {r.namespace or "default" for r in resources if r.kind not in CLUSTER_SCOPED_KINDS}
    written: list[Path] = []
    for res in resources:
        multi = len(namespaces) > 1 and res.kind not in CLUSTER_SCOPED_KINDS
        target = out / file_name(res, output_format, multi)
        target.write_text(res.text, encoding="utf-8")
        written.append(target)
    return written


async def run_kustomize(work_dir: Path, directory: Path, cfg: KustomizeBuildConfig) -> str:
    """Run kustomize build on `directory` and return the manifests it prints."""
    cmd = [*kustomize_command(), str(directory)]
    helm_cfg = cfg.plugin.helm if cfg.plugin else None
    if shutil.which("helm"):
        cmd.append("--enable-helm")
        if helm_cfg and helm_cfg.kube_version:
            cmd += ["--helm-kube-version", helm_cfg.kube_version]
        for api in (helm_cfg.api_versions or []) if helm_cfg else []:
            cmd += ["--helm-api-versions", api]
    proc = await asyncio.create_subprocess_exec(
        *cmd,
        cwd=str(work_dir),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await proc.communicate()
    if proc.returncode != 0:
        detail = stderr.decode("utf-8", "replace").strip().replace(str(work_dir) + os.sep, "")
        if "--enable-helm" in detail and not shutil.which("helm"):
            detail += "; inflating Helm charts needs a 'helm' binary on PATH"
        raise errors.StepError(f"kustomize build failed: {detail}")
    return stdout.decode("utf-8")


async def kustomize_build(ctx: StepContext, cfg: KustomizeBuildConfig) -> StepResult:
    """Renders manifests with kustomize into a file or a directory of files."""
    directory = workdir.resolve(ctx.work_dir, cfg.path)
    if not directory.is_dir():
        raise errors.TerminalStepError(f"path {cfg.path!r} is not a directory in the work dir")
    out = workdir.resolve(ctx.work_dir, cfg.out_path)
    stream = await run_kustomize(ctx.work_dir, directory, cfg)
    write_output(stream, out, cfg.output_format or "kargo")
    return StepResult()


def register(registry: reg.StepRegistry) -> None:
    """Register kustomize-set-image and kustomize-build."""
    # kustomize-set-image edits one kustomization file; kustomize-build follows references
    # anywhere (`../../base`), so it declares nothing and gets the whole checkout
    registry.step("kustomize-set-image", KustomizeSetImageConfig, paths=lambda c: [c.path])(
        kustomize_set_image
    )
    registry.step("kustomize-build", KustomizeBuildConfig)(kustomize_build)


DOCS = {
    "kustomize-set-image": {
        "about": "Sets images in a kustomization file's `images` list (kustomization.yaml, "
        ".yml or Kustomization in `path`). Changed values are replaced in place and new entries "
        "appended beside their siblings, so comments and layout are kept. Without `images`, "
        "every image of the Freight being promoted is set; two Freight with the same repository "
        "make that ambiguous and the step fails. A value of `*` keeps the existing one.",
        "outputs": {
            "commitMessage": "A description of the images set, for a later git-commit step."
        },
        "example": {
            "path": "./src/base",
            "images": [
                {"image": "${{ vars.imageRepo }}", "tag": "${{ imageFrom(vars.imageRepo).Tag }}"}
            ],
        },
    },
    "kustomize-build": {
        "about": "Renders manifests with the real kustomize: a `kustomize` binary on PATH, else "
        "`kubectl kustomize`. A `.yaml`/`.yml` outPath gets one stream; any other outPath is a "
        "directory with one file per resource. Files outside a kustomization's directory are "
        "loaded only as other kustomizations (kustomize's default load restrictor). Helm chart "
        "inflation needs a `helm` binary.",
        "example": {"path": "./src/stages/${{ ctx.stage }}", "outPath": "./out"},
    },
}
