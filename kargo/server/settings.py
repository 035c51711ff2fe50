"""Settings of `kargo server`: flags and `KARGO_*` environment variables, checked for safety.

`Settings` is a plain pydantic model; `Settings.from_env()` reads the environment and the CLI
(`kargo.cli.server_cmd`) overlays its flags. Nothing here opens a database or a socket: the app
factory (`kargo.server.app.create_app`) and `kargo.server.auth` act on these values.

Unsafe values are refused with a message that says how to fix them (`ValidationError`).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from kargo import errors
from kargo.git import push as pushes

Component = Literal["api", "controllers"]
ALL_COMPONENTS: tuple[Component, ...] = ("api", "controllers")
DEFAULT_PORT = 8080
DEFAULT_DATA_DIR = "kargo-data"
MIN_ADMIN_PASSWORD_LENGTH = 12
WEAK_PASSWORDS = frozenset({"admin", "password", "changeme", "changethis", "kargo", "secret"})


def parse_components(value: str | list[str] | tuple[str, ...]) -> tuple[Component, ...]:
    """Parse `api,controllers` (or a list) into known components, refusing unknown names."""
    items = value.split(",") if isinstance(value, str) else list(value)
    names = [item.strip() for item in items if item.strip()]
    unknown = [n for n in names if n not in ALL_COMPONENTS]
    if unknown or not names:
        raise errors.ValidationError(
            f"invalid --components {','.join(names) or '(empty)'}: unknown "
            f"{', '.join(repr(u) for u in unknown) or 'list'}; "
            f"use a comma-separated subset of {','.join(ALL_COMPONENTS)}"
        )
    return tuple(c for c in ALL_COMPONENTS if c in names)


class Settings(BaseModel):
    """Everything `kargo server` needs to start; secrets are never printed by `repr`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(default=DEFAULT_PORT, ge=0, le=65535)
    data_dir: Path = Path(DEFAULT_DATA_DIR)
    db: str | None = None  # database URL; None = SQLite file <data_dir>/kargo.db
    components: tuple[Component, ...] = ALL_COMPONENTS
    admin_password: str | None = Field(default=None, repr=False)  # KARGO_ADMIN_PASSWORD
    token_ttl_seconds: int = Field(default=24 * 3600, gt=0)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    max_body_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    # GIT_PUSH_INTEGRATION_POLICY, Kargo's name: how git-push integrates a moved branch
    git_push_integration_policy: pushes.IntegrationPolicy = pushes.IntegrationPolicy.REBASE_OR_MERGE

    @field_validator("components", mode="before")
    @classmethod
    def _components(cls, value: object) -> tuple[Component, ...]:
        if isinstance(value, str | list | tuple):
            return parse_components(value)
        raise ValueError("components must be a comma-separated string or a list")

    @property
    def database_url(self) -> str:
        """The database URL in force (a SQLite file in the data dir by default)."""
        if self.db:
            return self.db
        return f"sqlite:///{(self.data_dir / 'kargo.db').absolute()}"

    @property
    def config_file(self) -> Path:
        """The server's own configuration file (holds the admin password's bcrypt hash)."""
        return self.data_dir / "server.toml"

    @property
    def signing_key_file(self) -> Path:
        """The token-signing key, generated on first start with mode 0600."""
        return self.data_dir / "token-signing.key"

    @property
    def work_root(self) -> Path:
        """Where promotions keep their working trees and git mirrors."""
        return self.data_dir / "work"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Read `KARGO_*` variables, then apply non-None `overrides` (CLI flags win)."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        mapping = {
            "KARGO_HOST": "host",
            "KARGO_PORT": "port",
            "KARGO_DATA_DIR": "data_dir",
            "KARGO_DB": "db",
            "KARGO_DATABASE_URL": "db",
            "KARGO_COMPONENTS": "components",
            "KARGO_ADMIN_PASSWORD": "admin_password",
            "KARGO_TOKEN_TTL_SECONDS": "token_ttl_seconds",
            "KARGO_LOG_LEVEL": "log_level",
        }
        for var, name in mapping.items():
            if env.get(var):
                values[name] = env[var]
        if env.get(pushes.POLICY_ENV, "").strip():
            values["git_push_integration_policy"] = policy_from_env(env)
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            settings = cls.model_validate(values)
        except errors.ValidationError:
            raise
        except ValueError as err:  # pydantic.ValidationError subclasses ValueError
            raise errors.ValidationError(f"invalid server settings: {err}") from None
        settings.check_safe()
        return settings

    def check_safe(self) -> None:
        """Refuse settings that would leave the server open; the message says how to fix it."""
        problems: list[errors.Problem] = []
        pw = self.admin_password
        if pw is not None and (len(pw) < MIN_ADMIN_PASSWORD_LENGTH or pw.lower() in WEAK_PASSWORDS):
            problems.append(
                errors.Problem(
                    f"the admin password is too weak (fewer than {MIN_ADMIN_PASSWORD_LENGTH} "
                    "characters or a well-known value)",
                    path="KARGO_ADMIN_PASSWORD",
                    hint="set a long random value, e.g. `export KARGO_ADMIN_PASSWORD=$(openssl "
                    "rand -base64 24)`, or unset it to have one generated at first start",
                )
            )
        if self.host in ("", "*"):
            problems.append(
                errors.Problem(
                    f"--host {self.host!r} is not an address",
                    path="host",
                    hint="use 127.0.0.1 (local only) or an explicit interface address",
                )
            )
        else:
            try:
                ipaddress.ip_address(self.host)
            except ValueError:
                if self.host != "localhost" and not _looks_like_hostname(self.host):
                    problems.append(
                        errors.Problem(
                            f"--host {self.host!r} is neither an IP address nor a host name",
                            path="host",
                            hint="use 127.0.0.1, 0.0.0.0 or a host name",
                        )
                    )
        for path in (self.config_file, self.signing_key_file):
            if path.exists() and path.stat().st_mode & 0o077:
                problems.append(
                    errors.Problem(
                        f"{path} is readable by other users (mode {path.stat().st_mode & 0o777:o})",
                        path=str(path),
                        hint=f"run `chmod 600 {path}`",
                    )
                )
        if problems:
            raise errors.ValidationError("unsafe server settings", problems)


def policy_from_env(env: Mapping[str, str] | None = None) -> pushes.IntegrationPolicy:
    """GIT_PUSH_INTEGRATION_POLICY (default RebaseOrMerge), refused at startup when unknown:
    a typo would otherwise surface only when a promotion's push meets a moved branch."""
    env = os.environ if env is None else env
    raw = env.get(pushes.POLICY_ENV, "")
    if not raw.strip():
        return pushes.IntegrationPolicy.REBASE_OR_MERGE
    try:
        return pushes.parse_policy(raw)
    except ValueError:
        allowed = ", ".join(p.value for p in pushes.IntegrationPolicy)
        raise errors.ValidationError(
            "invalid server settings",
            [
                errors.Problem(
                    f"{raw!r} is not a git push integration policy",
                    path=pushes.POLICY_ENV,
                    hint=f"use one of {allowed} (case-sensitive), or unset it for the default "
                    "RebaseOrMerge",
                )
            ],
        ) from None


def _looks_like_hostname(value: str) -> bool:
    labels = value.rstrip(".").split(".")
    return all(
        0 < len(label) <= 63 and label.replace("-", "").isalnum() and not label.startswith("-")
        for label in labels
    )
