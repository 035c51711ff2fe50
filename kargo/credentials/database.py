"""Credentials looked up from Secrets in the store, as Kargo's credentials database does.

Secrets labelled `kargo.akuity.io/cred-type: git|image|helm` hold `repoURL`, `username` and
`password`. Lookup order: the project's Secrets sorted by name, then the shared namespace's;
the first match wins. `repoURL` must equal the URL after type-specific normalisation, or, with
`repoURLIsRegex: "true"`, the regex must match the raw or the normalised URL. Credentials are
refused for plain-http URLs unless the server allows it.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from kargo.api import urls
from kargo.credentials.interface import Credentials, CredentialType
from kargo.credentials.redaction import strip_userinfo
from kargo.credentials.sealing import SecretCipher
from kargo.errors import PermissionDeniedError
from kargo.store import interface

CRED_TYPE_LABEL = "kargo.akuity.io/cred-type"
SHARED_NAMESPACE = "kargo-shared-resources"

_NORMALIZERS: dict[str, Callable[[str], str]] = {
    "git": urls.normalize_git,
    "image": urls.normalize_image,
    "helm": urls.normalize_chart,
}


def normalize(cred_type: CredentialType, repo_url: str) -> str:
    """The URL as credentials of this type are matched against it."""
    fn = _NORMALIZERS.get(cred_type)
    return fn(repo_url) if fn else repo_url


class StoreCredentials:
    """A `CredentialsProvider` over Secrets in the store, decrypted with the server's key."""

    def __init__(
        self,
        store: interface.Store,
        cipher: SecretCipher,
        *,
        allow_over_http: bool = False,
        shared_namespace: str = SHARED_NAMESPACE,
    ) -> None:
        self._store = store
        self._cipher = cipher
        self._allow_http = allow_over_http
        self._shared = shared_namespace

    async def get(
        self, project: str, cred_type: CredentialType, repo_url: str
    ) -> Credentials | None:
        """The first matching credentials, project before shared; None when nothing matches."""
        wanted = normalize(cred_type, repo_url)
        for namespace in (project, self._shared):
            if not namespace:
                continue
            page = await self._store.list(
                "Secret",
                interface.ListOptions(
                    namespace=namespace, label_selector=f"{CRED_TYPE_LABEL}={cred_type}"
                ),
            )
            for secret in sorted(page.items, key=lambda s: str(s["metadata"]["name"])):
                data = self._cipher.unseal_data(secret)
                if not _matches(data, cred_type, wanted, repo_url):
                    continue
                if repo_url.lower().startswith("http://") and not self._allow_http:
                    raise PermissionDeniedError(
                        f"refusing to send credentials over plain http to {strip_userinfo(repo_url)}: "
                        "use https, or start the server with --allow-credentials-over-http"
                    )
                return Credentials(
                    username=data.get("username", ""), password=data.get("password", "")
                )
        return None


def _matches(data: dict[str, str], cred_type: CredentialType, normalized: str, raw: str) -> bool:
    pattern = data.get("repoURL", "")
    if not pattern:
        return False
    if data.get("repoURLIsRegex", "").lower() == "true":
        try:
            rx = re.compile(pattern)
        except re.error:
            return False
        return bool(rx.search(raw) or rx.search(normalized))
    return pattern == raw or normalize(cred_type, pattern) == normalized
