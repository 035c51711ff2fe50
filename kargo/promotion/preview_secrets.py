"""The secrets a promotion preview's steps were given, and masking them in what it returns.

The engine masks step messages (`EngineServices.redact`); a preview also returns diffs and step
outputs, where a secret written into a file, a commit message or an output would otherwise show
in plain text. `Secrets.listen` hooks the preview's copy of the engine services so every value
read through an expression (`secret(...)`, `sharedSecret(...)`) or handed out as repository
credentials is remembered; `Secrets.redactor` masks them. Neighbour: `kargo.promotion.preview`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from kargo.credentials import interface as credentials_interface, redaction
from kargo.promotion import engine as engine_mod


class Secrets:
    """Every secret value handed to the preview's steps, so the answer can be masked.

    The engine masks step messages only; a preview also returns diffs and step outputs, where a
    secret written into a file or a commit message would otherwise show in plain text."""

    def __init__(self) -> None:
        self.values: set[str] = set()

    def add(self, values: Iterable[str]) -> None:
        """Remember more secret values."""
        self.values.update(v for v in values if v)

    def redactor(self) -> redaction.Redactor:
        """Masks each value, each line of a multi-line value (a diff prefixes every line with
        `+`, so the whole value never appears in one piece) and its JSON-escaped form (how
        json-update and quoted YAML write it)."""
        forms: set[str] = set()
        for value in self.values:
            forms.add(value)
            forms.update(line.strip() for line in value.splitlines())
            forms.add(json.dumps(value)[1:-1])
        return redaction.Redactor(forms)

    def listen(self, services: engine_mod.EngineServices) -> None:
        """Make `services` (the preview's own copy) report every secret value here, besides
        whoever already listens (the server's redactor)."""
        prior = services.remember_secrets

        def remember(values: Iterable[str]) -> None:
            values = list(values)
            self.add(values)
            if prior is not None:
                prior(values)

        services.remember_secrets = remember
        if services.credentials is not None:
            services.credentials = RememberingCredentials(services.credentials, self)


class RememberingCredentials:
    """Tells `Secrets` every credential a step is given (a token may end up in a file)."""

    def __init__(self, inner: credentials_interface.CredentialsProvider, seen: Secrets) -> None:
        self.inner = inner
        self.seen = seen

    async def get(
        self, project: str, cred_type: credentials_interface.CredentialType, repo_url: str
    ) -> credentials_interface.Credentials | None:
        """The inner provider's answer, its secrets remembered."""
        found = await self.inner.get(project, cred_type, repo_url)
        if found is not None:
            self.seen.add(found.secrets())
        return found


def mask_tree(value: Any, mask: engine_mod.Redactor) -> Any:
    """`value` (step outputs: JSON-like) with every string, keys included, masked."""
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {mask(str(k)): mask_tree(v, mask) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_tree(v, mask) for v in value]
    return value
