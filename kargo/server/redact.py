"""Never return a secret: Secret values are replaced before any object leaves the server.

Applied by every route and the watch stream (`kargo.server.objects`, `kargo.server.resources`,
`kargo.server.watch`). Like Kargo's credentials API, the repository URL (and the username of
repository credentials) stay visible so a user can tell credentials apart; every other value of
`data` and `stringData` is replaced by `REDACTED`.
"""

from __future__ import annotations

import copy
from typing import Any

REDACTED = "*** REDACTED ***"
CRED_TYPE_LABEL = "kargo.akuity.io/cred-type"
_VISIBLE_KEYS = frozenset({"repoURL", "repoURLIsRegex"})
_VISIBLE_REPO_KEYS = _VISIBLE_KEYS | {"username"}
_DROPPED_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",)


def redact(obj: dict[str, Any]) -> dict[str, Any]:
    """A copy of `obj` safe to return to a client (the same object when nothing is secret)."""
    if obj.get("kind") != "Secret":
        return obj
    out = copy.deepcopy(obj)
    labels = (out.get("metadata") or {}).get("labels") or {}
    repo = labels.get(CRED_TYPE_LABEL) in ("git", "helm", "image")
    visible = _VISIBLE_REPO_KEYS if repo else _VISIBLE_KEYS
    for field in ("data", "stringData"):
        values = out.get(field)
        if isinstance(values, dict):
            out[field] = {k: (v if k in visible else REDACTED) for k, v in values.items()}
        elif values is not None:
            out[field] = REDACTED
    annotations = (out.get("metadata") or {}).get("annotations")
    if isinstance(annotations, dict):
        for key in _DROPPED_ANNOTATIONS:
            annotations.pop(key, None)
    return out
