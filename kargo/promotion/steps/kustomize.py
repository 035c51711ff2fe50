"""The kustomize step family: kustomize-set-image and kustomize-build.

kustomize-set-image edits the `images` list of a kustomization file itself (kubectl has no
`kustomize edit`), through a ruamel.yaml round trip that keeps the file's comments, quoting and
indentation; entries it does not touch stay as they were. kustomize-build runs the real tool: a
`kustomize` binary on PATH, else `kubectl kustomize`, after kustomize_scan has checked what the
kustomizations refer to.

Neighbours: kargo.promotion.workdir (safe paths, YAML round trips), kargo.promotion.context
(the Freight whose images are set when no images are listed), kustomize_scan (the pre-build
check), kustomize_output (writing the manifests).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import stat
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from kargo import errors
from kargo.promotion import registry as reg, workdir
from kargo.promotion.context import StepContext, StepResult
from kargo.promotion.steps import kustomize_output, kustomize_scan

KUSTOMIZATION_FILE_NAMES = kustomize_scan.KUSTOMIZATION_FILE_NAMES
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


def set_images(text: str, targets: dict[str, TargetImage], doc: Any = None) -> str:
    """The kustomization `text` with `targets` set in its `images` list (`doc`: `text` already
    parsed, when the caller has it).

    Changed values are replaced in place and new entries or fields are inserted beside their
    siblings, so the diff shows only what changed; layouts the text editor cannot handle
    (flow-style lists, for instance) go through a round trip styled on `images`.
    """
    if doc is None:
        doc = workdir.safe_load(text)
    try:
        return workdir.edit_yaml(text, image_edits(doc, targets))
    except workdir.NeedsStructuralEdit:
        return _round_trip(text, targets)


def merged_images(doc: Any, targets: dict[str, TargetImage]) -> dict[str, TargetImage]:
    """The images Kargo's commit message lists: every entry of the file after the edit.

    Kargo merges the file's entries into its map of targets and writes the message from that
    map, so untouched entries are listed too and a `*` shows the value it kept (a `*` for an
    image the file did not have stays `*`, as in Kargo).
    """
    merged = dict(targets)
    current = doc.get("images") if isinstance(doc, dict) else None
    for entry in current if isinstance(current, list) else []:
        if not isinstance(entry, dict):
            continue
        name = str(entry.get("name") or "")
        existing = {key: str(entry.get(key) or "") for key, _ in _FIELDS}
        target = merged.get(name)
        if target is None:
            merged[name] = TargetImage(
                name, existing["newName"], existing["newTag"], existing["digest"]
            )
            continue
        values = {
            attr: existing[key] if getattr(target, attr) == PRESERVE else getattr(target, attr)
            for key, attr in _FIELDS
        }
        merged[name] = TargetImage(name=name, **values)
    return merged


def set_image_commit_message(path: str, images: dict[str, TargetImage]) -> str:
    """Kargo's kustomize-set-image commit message fragment, for `merged_images`' result."""
    if not images:
        return ""
    head = f"Updated {path} to use new image" + ("s" if len(images) > 1 else "")
    return "\n".join([head, ""] + [f"- {images[n].ref()}" for n in sorted(images)])


async def kustomize_set_image(ctx: StepContext, cfg: KustomizeSetImageConfig) -> StepResult:
    """Sets images in a kustomization file, keeping its formatting."""
    file = find_kustomization(ctx.work_dir, cfg.path)
    targets = targets_from_config(cfg.images) if cfg.images else targets_from_freight(ctx)
    with file.open(encoding="utf-8", newline="") as fh:
        text = fh.read()
    try:
        doc = workdir.safe_load(text)
        new_text = set_images(text, targets, doc) if targets else text
    except YAMLError as err:
        raise errors.TerminalStepError(
            f"could not parse {workdir.display(ctx.work_dir, file)!r}: {err}"
        ) from err
    if new_text != text:
        workdir.replace_text(ctx.work_dir, file, new_text)
    message = set_image_commit_message(cfg.path, merged_images(doc, targets))
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


BUILD_TIMEOUT = 300.0  # seconds; Kargo's default step timeout
# Transports git may use when kustomize fetches a remote base: none that runs a local program
# (file:// with `--upload-pack`, ext::) and no prompt that would wait for ever.
GIT_ENV = {"GIT_ALLOW_PROTOCOL": "http:https:ssh:git", "GIT_TERMINAL_PROMPT": "0"}
_KLOG = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+\s+\d+ [^\]]*\] ?", re.MULTILINE)


def kustomize_env() -> dict[str, str]:
    """The environment kustomize (and the git and helm it runs) gets."""
    return {**os.environ, **GIT_ENV}


def clean_error(stderr: str) -> str:
    """kubectl's error without klog's `E1201 03:50:51.0 6797 run.go:72]` wrapping."""
    text = _KLOG.sub("", stderr.strip())
    if m := re.fullmatch(r'"command failed" err=("(?:[^"\\]|\\.)*")', text, re.DOTALL):
        try:
            return str(json.loads(m.group(1)))
        except ValueError:
            return m.group(1)[1:-1]
    if m := re.fullmatch(r'"command failed" err=<\n(.*)\n\s*>', text, re.DOTALL):
        return textwrap.dedent(m.group(1).replace("\t", "    ")).strip()
    return text.removeprefix("error: ").strip()


async def run_kustomize(
    work_dir: Path, directory: Path, cfg: KustomizeBuildConfig, restricted: bool = False
) -> str:
    """Run kustomize build on `directory` and return the manifests it prints.

    Files outside a kustomization's directory may be loaded (the scan has kept them in the
    work directory) unless `restricted`: remote bases, which nothing checked, keep kustomize's
    default restrictor.
    """
    cmd = [*kustomize_command(), str(directory)]
    if not restricted:
        cmd.append("--load-restrictor=LoadRestrictionsNone")
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
        env=kustomize_env(),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,  # its own process group: a timeout ends git and helm too
    )
    try:
        stdout, stderr = await asyncio.wait_for(proc.communicate(), BUILD_TIMEOUT)
    except (TimeoutError, asyncio.CancelledError) as err:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        if isinstance(err, asyncio.CancelledError):
            raise
        raise errors.StepError(
            f"kustomize build of {cfg.path!r} did not finish within {BUILD_TIMEOUT:g} seconds "
            f"and was stopped; check that the remote bases and Helm chart repositories it "
            f"fetches answer"
        ) from err
    if proc.returncode != 0:
        detail = clean_error(stderr.decode("utf-8", "replace"))
        detail = detail.replace(os.path.realpath(work_dir) + os.sep, "")
        detail = detail.replace(str(work_dir) + os.sep, "")
        if "--enable-helm" in detail and not shutil.which("helm"):
            detail += "; inflating Helm charts needs a 'helm' binary on PATH"
        if restricted and "is not in or below" in detail:
            detail += (
                "; this build has remote bases, so kustomize's default rule applies: a "
                "kustomization loads only files in or below its own directory"
            )
        raise errors.StepError(f"kustomize build of {cfg.path!r} failed: {detail}")
    return stdout.decode("utf-8")


async def kustomize_build(ctx: StepContext, cfg: KustomizeBuildConfig) -> StepResult:
    """Renders manifests with kustomize into a file or a directory of files."""
    directory = workdir.resolve(ctx.work_dir, cfg.path)
    if not directory.is_dir():
        raise errors.TerminalStepError(f"path {cfg.path!r} is not a directory in the work dir")
    out = workdir.resolve(ctx.work_dir, cfg.out_path)
    scan = kustomize_scan.check_build(ctx.work_dir, directory)
    stream = await run_kustomize(ctx.work_dir, directory, cfg, restricted=bool(scan.remote))
    kustomize_output.write_output(ctx.work_dir, stream, out, cfg.output_format or "kargo")
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
            "commitMessage": "A description of the images, for a later git-commit step: as "
            "Kargo writes it, every image of the file after the edit, with the values a `*` kept."
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
        "directory with one file per resource. Before kustomize runs, every kustomization reachable "
        "from `path` is read: a file or directory it names must be inside the promotion's work "
        "directory (`../../base/deploy.yaml` is fine as long as it is), `file://` and `ext::` "
        "git repositories are refused, and so is a remote reference with a query value starting "
        "with `-` (which git would read as an option). Remote bases are fetched over http, "
        "https, ssh or git only; a build with remote bases keeps kustomize's default rule that "
        "a kustomization loads only files in or below its own directory. The build is stopped "
        "after 5 minutes. Helm chart inflation needs a `helm` binary.",
        "example": {"path": "./src/stages/${{ ctx.stage }}", "outPath": "./out"},
    },
}
