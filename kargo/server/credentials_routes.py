"""Secrets at rest and repository credentials: the server's key, a sealing store, and the route
`POST /v1beta1/projects/{project}/repo-credentials` (and its shared twin).

- The key: `KARGO_SECRETS_KEY`, else `<data dir>/secrets.key`, generated on first start with
  mode 0600 (a Fernet key, `kargo.credentials.sealing`). Losing it makes stored credentials
  unreadable; that is the point of encrypting them.
- `SealingStore` wraps the server's store: every Secret is sealed before it is written and
  unsealed as it is read (values come back under `stringData`), so the database only ever holds
  ciphertext while the API, the controllers and promotion steps see plain objects. The API still
  never returns a secret: `kargo.server.redact` hides every value but repoURL and username.
- The route builds a Secret labelled `kargo.akuity.io/cred-type: git|image|helm` from a typed
  body, so `kargo create repo-credentials` never puts a password in argv or a manifest file.

Neighbours: `kargo.credentials` (sealing, lookup), `kargo.server.app` (wraps the store it opens
and calls `install`), `kargo.server.objects` (list/get/delete of the same Secrets).
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Body, FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from kargo import errors
from kargo.credentials import sealing
from kargo.server import deps, objects, redact, settings as settings_mod
from kargo.store import interface

KEY_ENV = "KARGO_SECRETS_KEY"
KEY_FILE = "secrets.key"
CRED_TYPE_LABEL = "kargo.akuity.io/cred-type"
DESCRIPTION_ANNOTATION = "kargo.akuity.io/description"


def secrets_key(settings: settings_mod.Settings, env: dict[str, str] | None = None) -> str:
    """The key Secrets are sealed with: $KARGO_SECRETS_KEY, else the data dir's key file
    (created 0600 on first use; refused when others can read it)."""
    source = dict(os.environ) if env is None else env
    if source.get(KEY_ENV):
        return source[KEY_ENV]
    path = Path(settings.data_dir) / KEY_FILE
    if path.exists():
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise errors.ValidationError(
                f"{path} is readable by other users (mode {mode:o}); run `chmod 600 {path}`"
            )
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = sealing.generate_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(key + "\n")
    return key


class SealingStore:
    """A `Store` that seals Secrets on the way in and unseals them on the way out."""

    def __init__(self, inner: interface.Store, cipher: sealing.SecretCipher) -> None:
        self.inner = inner
        self.cipher = cipher

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)  # backend extras (engine, url, ...)

    def _in(self, obj: interface.Object) -> interface.Object:
        return self.cipher.seal(obj) if obj.get("kind") == "Secret" else obj

    def _out(self, obj: interface.Object) -> interface.Object:
        if obj.get("kind") != "Secret":
            return obj
        out = {k: v for k, v in obj.items() if k not in ("data", "stringData")}
        plain = self.cipher.unseal_data(obj)
        if plain:
            out["stringData"] = plain
        return out

    async def create(self, obj: interface.Object) -> interface.Object:
        """Create (sealed)."""
        return self._out(await self.inner.create(self._in(obj)))

    async def get(self, kind: str, namespace: str, name: str) -> interface.Object:
        """Get (unsealed)."""
        return self._out(await self.inner.get(kind, namespace, name))

    async def list(
        self, kind: str, options: interface.ListOptions | None = None
    ) -> interface.ObjectList:
        """List (unsealed)."""
        page = await self.inner.list(kind, options)
        if kind == "Secret":
            page.items = [self._out(o) for o in page.items]
        return page

    async def update(self, obj: interface.Object) -> interface.Object:
        """Update (sealed)."""
        return self._out(await self.inner.update(self._in(obj)))

    async def update_status(self, obj: interface.Object) -> interface.Object:
        """Update status (sealed, since a Secret's content may ride along)."""
        return self._out(await self.inner.update_status(self._in(obj)))

    async def delete(self, kind: str, namespace: str, name: str) -> interface.Object | None:
        """Delete."""
        gone = await self.inner.delete(kind, namespace, name)
        return self._out(gone) if gone is not None else None

    async def watch(
        self,
        kind: str | None = None,
        options: interface.ListOptions | None = None,
        since: str | None = None,
    ) -> AsyncIterator[interface.WatchEvent]:
        """Watch (unsealed)."""
        async for event in self.inner.watch(kind, options, since):
            if event.object.get("kind") == "Secret":
                event = interface.WatchEvent(
                    event.type, self._out(event.object), event.resource_version
                )
            yield event

    async def cache_get(self, bucket: str, key: str) -> str | None:
        """Delegated."""
        return await self.inner.cache_get(bucket, key)

    async def cache_put(self, bucket: str, key: str, value: str) -> None:
        """Delegated."""
        await self.inner.cache_put(bucket, key, value)

    async def try_acquire_lease(self, name: str, holder: str, ttl_seconds: float) -> bool:
        """Delegated."""
        return await self.inner.try_acquire_lease(name, holder, ttl_seconds)

    async def release_lease(self, name: str, holder: str) -> None:
        """Delegated."""
        await self.inner.release_lease(name, holder)

    async def current_resource_version(self) -> str:
        """Delegated."""
        return await self.inner.current_resource_version()

    async def close(self) -> None:
        """Delegated."""
        await self.inner.close()


def sealing_store(store: interface.Store, settings: settings_mod.Settings) -> interface.Store:
    """`store` behind a `SealingStore` keyed by the server's configuration (idempotent)."""
    if isinstance(store, SealingStore):
        return store
    return SealingStore(store, sealing.SecretCipher(secrets_key(settings)))


class RepoCredentialsRequest(BaseModel):
    """`POST .../repo-credentials`: one repository credential (the password is write-only)."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    name: str = Field(min_length=1, max_length=253, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
    type: Literal["git", "image", "helm"]
    repo_url: str = Field(alias="repoURL", min_length=1)
    repo_url_is_regex: bool = Field(default=False, alias="repoURLIsRegex")
    username: str = ""
    password: str = Field(default="", repr=False)
    description: str = ""


def credentials_secret(body: RepoCredentialsRequest, namespace: str) -> dict[str, Any]:
    """The Secret Kargo keeps repository credentials in."""
    data = {"repoURL": body.repo_url, "username": body.username, "password": body.password}
    if body.repo_url_is_regex:
        data["repoURLIsRegex"] = "true"
    meta: dict[str, Any] = {
        "name": body.name,
        "namespace": namespace,
        "labels": {CRED_TYPE_LABEL: body.type},
    }
    if body.description:
        meta["annotations"] = {DESCRIPTION_ANNOTATION: body.description}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "stringData": data}


async def create_credentials(
    store: interface.Store, namespace: str, body: RepoCredentialsRequest
) -> dict[str, Any]:
    """Store the credentials (sealed when `store` is the server's); the redacted Secret."""
    if body.repo_url_is_regex:
        try:
            re.compile(body.repo_url)
        except re.error as err:
            raise errors.ValidationError(
                f"repoURL is not a valid regular expression ({err}); fix it or drop --regex"
            ) from None
    secret = credentials_secret(body, namespace)
    try:
        created = await store.create(secret)
    except errors.AlreadyExistsError:
        raise errors.AlreadyExistsError(
            f"credentials {body.name!r} already exist in {namespace}; delete them first "
            f"(`kargo delete repo-credentials {body.name}`) or choose another name"
        ) from None
    return redact.redact(created)


def install(app: FastAPI) -> None:
    """Add the repo-credentials create routes (project and shared)."""

    @app.post("/v1beta1/projects/{project}/repo-credentials", tags=["credentials"], status_code=201)
    async def create_project_credentials(
        project: str,
        body: Annotated[RepoCredentialsRequest, Body()],
        state: deps.State,
        _actor: deps.Actor,
    ) -> JSONResponse:
        """Create repository credentials in a project (a labelled, sealed Secret)."""
        await objects.require_project(state.store, project)
        return JSONResponse(await create_credentials(state.store, project, body), 201)

    @app.post("/v1beta1/shared/repo-credentials", tags=["credentials"], status_code=201)
    async def create_shared_credentials(
        body: Annotated[RepoCredentialsRequest, Body()],
        state: deps.State,
        _actor: deps.Actor,
    ) -> JSONResponse:
        """Create repository credentials every project may use."""
        secret_ns = objects.SHARED_NAMESPACE
        return JSONResponse(await create_credentials(state.store, secret_ns, body), 201)
