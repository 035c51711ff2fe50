"""Redaction: removes known secret values and URL userinfo from any text before it is shown."""

from __future__ import annotations

import re
from collections.abc import Iterable

_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s:]+(:[^/@\s]*)?@")
MASK = "***"


class Redactor:
    """Remembers secret values and masks them (and URL credentials) in text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self.add(*secrets)

    def add(self, *secrets: str) -> None:
        """Register more values to hide. Very short values are ignored (they would mask noise)."""
        for s in secrets:
            if s and len(s) >= 4:
                self._secrets.add(s)

    def __call__(self, text: str) -> str:
        """`text` with every known secret and every URL userinfo masked."""
        out = _USERINFO.sub(lambda m: m.group("scheme") + MASK + "@", text)
        for s in sorted(self._secrets, key=len, reverse=True):
            out = out.replace(s, MASK)
        return out


def strip_userinfo(url: str) -> str:
    """A URL without `user:password@`, for messages and logs."""
    return _USERINFO.sub(lambda m: m.group("scheme"), url)
