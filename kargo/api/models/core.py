"""Kubernetes core/v1 Secret and ConfigMap: credentials and plain settings in a project.

Secret `data` values are base64 (checked here); `stringData` values are plain strings. The
credentials layer (`kargo.credentials`) decides what a Secret means (labels such as
`kargo.akuity.io/cred-type`).
"""

from __future__ import annotations

import base64
import binascii
from typing import Literal

from pydantic import field_validator

from kargo.api.models.common import problem
from kargo.api.models.meta import KargoObject


class Secret(KargoObject):
    """A v1 Secret."""

    api_version: Literal["v1"]
    kind: Literal["Secret"]
    type: str | None = None
    data: dict[str, str] | None = None
    string_data: dict[str, str] | None = None
    immutable: bool | None = None

    @field_validator("data")
    @classmethod
    def _base64(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for key, encoded in (value or {}).items():
            try:
                base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError) as err:
                # Never echo the value: it is a secret.
                raise problem(
                    f"data.{key} is not valid base64",
                    "encode it (base64 -w0) or put the plain value under stringData",
                ) from err
        return value


class ConfigMap(KargoObject):
    """A v1 ConfigMap."""

    api_version: Literal["v1"]
    kind: Literal["ConfigMap"]
    data: dict[str, str] | None = None
    binary_data: dict[str, str] | None = None
    immutable: bool | None = None
