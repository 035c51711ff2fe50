"""The top-level object shape shared by every kind: apiVersion, kind, metadata."""

from __future__ import annotations

from kargo.api.models.common import KargoModel, ObjectMeta


class KargoObject(KargoModel):
    """apiVersion + kind + metadata; each kind narrows apiVersion/kind and adds spec/status."""

    api_version: str
    kind: str
    metadata: ObjectMeta
