"""Kargo's quickstart manifests (read in place from shared/reference), with ${VAR}s substituted."""

from __future__ import annotations

import os
from pathlib import Path

QUICKSTART = (
    Path(__file__).resolve().parents[3] / "shared" / "reference" / "examples" / "quickstart.yaml"
)
CANARY_PAT = "canary-pat-7f3a9c1e5d"
VARS = {
    "GITOPS_REPO_URL": "http://127.0.0.1:1/kargo-demo-gitops.git",
    "GITHUB_USERNAME": "kargo-bot",
    "GITHUB_PAT": CANARY_PAT,
}


def quickstart_path() -> Path:
    """Where the quickstart is; KARGO_REFERENCE_DIR overrides the shared location."""
    base = os.environ.get("KARGO_REFERENCE_DIR")
    return Path(base) / "examples" / "quickstart.yaml" if base else QUICKSTART


def quickstart_yaml() -> str:
    """The quickstart with shell-style ${VAR}s filled (Kargo's ${{ }} expressions untouched)."""
    text = quickstart_path().read_text()
    for name, value in VARS.items():
        text = text.replace("${" + name + "}", value)
    assert "${G" not in text, "unsubstituted variable"
    return text


__all__ = ["CANARY_PAT", "quickstart_yaml"]
