"""Encryption at rest for Secret data: values are sealed before the store sees them.

A sealed Secret keeps Kubernetes' shape (`data: {key: value}`) but every value is a Fernet token
prefixed with `sealed:`; `stringData` is folded into `data` first. The key comes from the server's
configuration (a urlsafe-base64 32-byte Fernet key); losing it makes the stored secrets unreadable,
which is the point.
"""

from __future__ import annotations

import base64
import copy
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from kargo.errors import KargoError

SEALED_PREFIX = "sealed:"


def generate_key() -> str:
    """A fresh key for `SecretCipher`."""
    return Fernet.generate_key().decode()


class SecretCipher:
    """Seals and unseals the data of v1 Secret objects."""

    def __init__(self, key: str) -> None:
        try:
            self._fernet = Fernet(key.encode())
        except (ValueError, TypeError) as err:
            raise KargoError(
                "invalid secrets encryption key: expected 32 url-safe base64-encoded bytes; "
                "generate one with `python -c 'from kargo.credentials import sealing; "
                "print(sealing.generate_key())'`"
            ) from err

    def seal(self, secret: dict[str, Any]) -> dict[str, Any]:
        """A copy of `secret` whose values are encrypted; `stringData` is folded into `data`."""
        out = copy.deepcopy(secret)
        plain: dict[str, str] = {}
        for key, value in (out.get("data") or {}).items():
            if isinstance(value, str) and value.startswith(SEALED_PREFIX):
                plain[key] = self._open(value)
            else:
                plain[key] = base64.b64decode(str(value or "")).decode("utf-8", "replace")
        for key, value in (out.pop("stringData", None) or {}).items():
            plain[key] = "" if value is None else str(value)
        out["data"] = {
            k: SEALED_PREFIX + self._fernet.encrypt(v.encode()).decode() for k, v in plain.items()
        }
        return out

    def unseal_data(self, secret: dict[str, Any]) -> dict[str, str]:
        """The plain-text values of a (sealed or plain) Secret's data."""
        plain: dict[str, str] = {}
        for key, value in (secret.get("data") or {}).items():
            if isinstance(value, str) and value.startswith(SEALED_PREFIX):
                plain[key] = self._open(value)
            else:
                plain[key] = base64.b64decode(str(value or "")).decode("utf-8", "replace")
        for key, value in (secret.get("stringData") or {}).items():
            plain[key] = "" if value is None else str(value)
        return plain

    def _open(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token[len(SEALED_PREFIX) :].encode()).decode()
        except InvalidToken as err:
            raise KargoError(
                "a stored secret cannot be decrypted with the configured encryption key; "
                "was the server's secrets key changed?"
            ) from err


def redact_secret(secret: dict[str, Any]) -> dict[str, Any]:
    """A copy of a Secret fit for API responses and CLI output: keys kept, values hidden."""
    out = copy.deepcopy(secret)
    keys = sorted(set(out.get("data") or {}) | set(out.get("stringData") or {}))
    out.pop("stringData", None)
    out["data"] = {k: "REDACTED" for k in keys}
    return out
