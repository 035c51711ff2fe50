"""Freight aliases: human-friendly adjective-animal names such as `wonky-wombat`.

Kargo uses technosophos/moniker; we use the maintained `petname` word lists, which give the
same adjective-animal shape. Used by `kargo.api.admission`.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Collection

import petname  # type: ignore[import-untyped]  # petname ships no type hints

MAX_ATTEMPTS = 100


def generate() -> str:
    """A random adjective-animal pair joined by `-`."""
    return str(petname.generate(2, "-"))


def unique_alias(taken: Collection[str | None], new_alias: Callable[[], str] | None = None) -> str:
    """An alias not in `taken`; retried, then suffixed, so it always terminates."""
    make = new_alias or generate
    for _ in range(MAX_ATTEMPTS):
        alias = make()
        if alias not in taken:
            return alias
    while True:
        alias = f"{make()}-{secrets.token_hex(2)}"
        if alias not in taken:
            return alias
