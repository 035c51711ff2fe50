"""kustomize-build's check of a build before kustomize runs: what the kustomizations point at.

kustomize runs `git fetch <url> <ref>` for remote bases with the ref taken from the entry's
query and no `--` before it, so `?ref=--upload-pack=<cmd>` runs a command here; and with the
load restrictor off (needed for `../../base/deploy.yaml`) nothing else keeps it inside the
promotion's work directory. Kargo locks kustomize's file system to the work directory and
checks every kustomization it reads (kustomize_validator_fs.go); this module does the same
before the process starts, by reading every kustomization reachable from the build path.

Neighbours: kargo.promotion.steps.kustomize (runs the build), kargo.promotion.workdir.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from ruamel.yaml import YAML

from kargo import errors
from kargo.promotion import workdir

KUSTOMIZATION_FILE_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")

# Fields whose entries are kustomizations, files or remote references (Kargo checks the
# queries of these; `bases` is merged into `resources` by kustomize).
REFERENCE_FIELDS = ("resources", "bases", "components", "generators", "transformers", "validators")
PLUGIN_FIELDS = ("generators", "transformers", "validators")
# Keys naming local files in kustomization fields and builtin plugin configurations.
PATH_KEYS = frozenset(
    {
        "path",
        "paths",
        "files",
        "envs",
        "env",
        "valuesFile",
        "additionalValuesFiles",
        "chartHome",
        "configHome",
        "helmHome",
        "values",
    }
)
# kustomization fields that are lists of local files
FILE_LIST_FIELDS = ("crds", "configurations", "patchesStrategicMerge")
# kustomization fields holding objects (or lists of them) with PATH_KEYS inside
OBJECT_FIELDS = (
    "patches",
    "patchesJson6902",
    "configMapGenerator",
    "secretGenerator",
    "replacements",
    "openapi",
    "helmCharts",
    "helmGlobals",
    "helmChartInflationGenerator",
)
_REMOTE = re.compile(r"^(?:[A-Za-z][A-Za-z0-9+.-]*://|git::|gh:|[\w.-]+@[\w.-]+:|github\.com/)")
_LOCAL_GIT = re.compile(r"^(?:git::)?(?:file:|ext::)", re.IGNORECASE)


@dataclass
class ScanResult:
    """What the scan found: the kustomization files read and whether any base is remote."""

    kustomizations: list[Path] = field(default_factory=list)
    remote: list[str] = field(default_factory=list)


def _is_remote(entry: str) -> bool:
    return bool(_REMOTE.match(entry))


def check_query(where: str, field_name: str, entry: str) -> None:
    """Refuse an entry with a query value git would read as an option (Kargo's rule)."""
    _, sep, query = entry.partition("?")
    if not sep:
        return
    for param, value in sorted(parse_qsl(query, keep_blank_values=True, separator="&")):
        if value.startswith("-"):
            raise errors.TerminalStepError(
                f"{where}: {field_name} entry {entry!r} specifies query parameter {param} "
                f"{value!r}, which must not begin with '-' (kustomize passes it to git, which "
                f"would read it as an option); use a branch, tag or commit name"
            )


def _outside(where: str, what: str, entry: str) -> errors.TerminalStepError:
    return errors.TerminalStepError(
        f"{where}: {what} {entry!r} leads outside the promotion's work directory (with "
        f"'..' segments, an absolute path or a symbolic link); kustomize-build reads only "
        f"files inside the work directory: clone what it needs into the work directory with "
        f"git-clone (or copy it there) and refer to it by a path inside it"
    )


class _Scanner:
    def __init__(self, work_dir: Path) -> None:
        self.work_dir = work_dir
        self.root = os.path.realpath(work_dir)
        self.seen: set[str] = set()
        self.result = ScanResult()

    def _inside(self, real: str) -> bool:
        return real == self.root or real.startswith(self.root.rstrip(os.sep) + os.sep)

    def local(self, base: str, where: str, what: str, entry: str) -> str | None:
        """The real path of a local entry, refusing one outside the work directory; None for
        a remote entry (which kustomize fetches)."""
        joined = os.path.join(base, entry)
        real = os.path.realpath(joined)
        if self._inside(real):
            return real
        if _is_remote(entry) and not os.path.lexists(joined):
            return None
        raise _outside(where, what, entry)

    def scan_dir(self, real_dir: str, plugin_root: str | None = None) -> None:
        """Check the kustomization in `real_dir` and everything it reaches; `plugin_root` is
        the kustomization whose generators, transformers or validators it makes."""
        key = f"{real_dir}\0{plugin_root}"
        if key in self.seen:
            return
        self.seen.add(key)
        for name in KUSTOMIZATION_FILE_NAMES:
            file = os.path.join(real_dir, name)
            if os.path.lexists(file):
                self.scan_kustomization(real_dir, file, plugin_root)

    def scan_kustomization(self, kdir: str, file: str, plugin_root: str | None) -> None:
        where = workdir.display(self.work_dir, Path(file))
        real = os.path.realpath(file)
        if not self._inside(real):
            raise _outside(where, "the kustomization file", os.path.basename(file))
        self.result.kustomizations.append(Path(file))
        doc = self._load(real, where)
        if doc is None:
            return
        if not isinstance(doc, dict):
            raise errors.TerminalStepError(
                f"{where}: a kustomization must be a YAML mapping; fix the file"
            )
        for field_name in REFERENCE_FIELDS:
            for entry in _strings(doc.get(field_name), where, field_name):
                check_query(where, field_name, entry)
                if _LOCAL_GIT.match(entry):
                    raise errors.TerminalStepError(
                        f"{where}: {field_name} entry {entry!r} is a git repository on this "
                        f"machine's disk (file:// or ext::), which kustomize-build does not "
                        f"fetch; clone it into the work directory with git-clone and refer to "
                        f"it by its path there"
                    )
                root = plugin_root or (kdir if field_name in PLUGIN_FIELDS else None)
                if "\n" in entry:  # an inline plugin configuration
                    if root:
                        self.scan_plugin_text({kdir, root}, entry, where, field_name)
                    continue
                real_entry = self.local(kdir, where, f"{field_name} entry", entry)
                if real_entry is None:
                    self.result.remote.append(entry)
                elif os.path.isdir(real_entry):
                    self.scan_dir(real_entry, root)
                elif root and os.path.isfile(real_entry):
                    bases = {kdir, root, os.path.dirname(real_entry)}
                    self.scan_plugin_file(bases, real_entry, where, field_name)
        for field_name in FILE_LIST_FIELDS:
            for entry in _strings(doc.get(field_name), where, field_name):
                if "\n" not in entry:
                    self.local(kdir, where, f"{field_name} entry", entry)
        for field_name in OBJECT_FIELDS:
            self.scan_paths(kdir, doc.get(field_name), where, field_name)

    def scan_paths(self, base: str, value: Any, where: str, what: str, key: str = "") -> None:
        """Check every string under a PATH_KEYS key anywhere in `value`."""
        if isinstance(value, dict):
            for k, v in value.items():
                self.scan_paths(base, v, where, f"{what}.{k}", str(k))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                self.scan_paths(base, v, where, f"{what}[{i}]", key)
        elif isinstance(value, str) and key in PATH_KEYS and value and "\n" not in value:
            entry = value.split("=", 1)[1] if key == "files" and "=" in value else value
            self.local(base, where, what, entry)

    def scan_plugin_file(self, bases: set[str], real: str, where: str, field_name: str) -> None:
        """A builtin plugin's configuration names files too (a PatchTransformer's `path`)."""
        try:
            text = Path(real).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return  # kustomize cannot read it either
        self.scan_plugin_text(bases, text, where, field_name)

    def scan_plugin_text(self, bases: set[str], text: str, where: str, field_name: str) -> None:
        """Check a plugin configuration's files against every directory kustomize might
        resolve them from (the kustomization using the plugin, the one listing the file, the
        file's own)."""
        try:
            docs = list(YAML(typ="safe", pure=True).load_all(text))
        except Exception as err:  # any parse failure: refuse rather than guess
            raise errors.TerminalStepError(
                f"{where}: could not read the {field_name} configuration to check the files "
                f"it names: {err}; fix its YAML"
            ) from err
        for doc in docs:
            for base in sorted(bases):
                self.scan_paths(base, doc, where, field_name)

    def _load(self, real: str, where: str) -> Any:
        try:
            text = Path(real).read_text(encoding="utf-8")
            return workdir.safe_load(text)
        except Exception as err:  # refuse what cannot be checked
            raise errors.TerminalStepError(
                f"{where}: could not read the kustomization to check what it refers to: "
                f"{err}; fix the file"
            ) from err


def _strings(value: Any, where: str, field_name: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise errors.TerminalStepError(f"{where}: {field_name} must be a list; fix the file")
    return [str(v) for v in value if v is not None]


def check_build(work_dir: Path, directory: Path) -> ScanResult:
    """Refuse a build that would read outside `work_dir` or pass an option to git.

    Every kustomization reachable from `directory` through local references is read; remote
    ones are fetched by kustomize later and are returned so the caller can keep kustomize's
    own load restrictions for them.
    """
    scanner = _Scanner(work_dir)
    scanner.scan_dir(os.path.realpath(directory))
    return scanner.result
