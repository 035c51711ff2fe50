"""What discovery and promotion steps see of credentials: a lookup by type and repoURL."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

CredentialType = Literal["git", "image", "helm", "generic"]


@dataclass(frozen=True)
class Credentials:
    """A username/password pair for one repository. `repr` never shows the password."""

    username: str = ""
    password: str = field(default="", repr=False)

    def secrets(self) -> list[str]:
        """The values the redactor must hide from any message."""
        return [s for s in (self.password,) if s]


class CredentialsProvider(Protocol):
    """Finds credentials for a repository, project first then shared."""

    async def get(
        self, project: str, cred_type: CredentialType, repo_url: str
    ) -> Credentials | None:
        """Credentials matching `repo_url`, or None."""
        ...


class NoCredentials:
    """A provider that never has credentials (anonymous access)."""

    async def get(
        self, project: str, cred_type: CredentialType, repo_url: str
    ) -> Credentials | None:
        """Always None."""
        del project, cred_type, repo_url
        return None


class StaticCredentials:
    """A provider backed by a fixed map of repoURL -> Credentials; for tools and tests."""

    def __init__(self, by_url: dict[str, Credentials]) -> None:
        self._by_url = dict(by_url)

    async def get(
        self, project: str, cred_type: CredentialType, repo_url: str
    ) -> Credentials | None:
        """Exact repoURL match."""
        del project, cred_type
        return self._by_url.get(repo_url)
