"""Built-in promotion steps, one module per family, loaded explicitly into a registry.

Each family module (`meta.py`, `git.py`, ...) exposes `register(registry)`. Families are
independent of each other (an import-linter contract); `load_builtin_steps` is the only place
that knows them all. A family listed here but not written yet is skipped by an explicit check
that its module exists, never by swallowing import errors: a broken family fails loudly.
"""

from __future__ import annotations

import importlib
import importlib.util

from kargo.promotion import registry as registry_mod

BUILTIN_FAMILIES = (
    "meta",
    "git",
    "kustomize",
    "yaml",
    "jsonfile",
    "tomlfile",
    "files",
    "archives",
    "helm",
)


def available_families() -> list[str]:
    """The built-in families whose module exists in this installation."""
    return [
        family
        for family in BUILTIN_FAMILIES
        if importlib.util.find_spec(f"{__name__}.{family}") is not None
    ]


def load_builtin_steps(registry: registry_mod.StepRegistry) -> registry_mod.StepRegistry:
    """Register every built-in step family that exists on `registry`; returns the registry."""
    for family in available_families():
        module = importlib.import_module(f"{__name__}.{family}")
        module.register(registry)
    return registry
