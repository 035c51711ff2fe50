"""The CLI user's configuration file: server address, bearer token and default project.

Lives at `$KARGO_CONFIG`, else `$XDG_CONFIG_HOME/kargo/config`, else `~/.config/kargo/config`
(Kargo's location), as YAML with Kargo's keys (`apiAddress`, `bearerToken`, `project`).
It holds a token, so it is written atomically with mode 0600 in a 0700 directory.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kargo import errors


def config_path(env: dict[str, str] | None = None) -> Path:
    """Where the config file is (it may not exist yet)."""
    env = dict(os.environ) if env is None else env
    if env.get("KARGO_CONFIG"):
        return Path(env["KARGO_CONFIG"])
    base = Path(env["XDG_CONFIG_HOME"]) if env.get("XDG_CONFIG_HOME") else Path.home() / ".config"
    return base / "kargo" / "config"


@dataclass
class UserConfig:
    """What `kargo login` and `kargo config` remember between commands."""

    api_address: str | None = None
    bearer_token: str | None = None
    project: str | None = None

    def to_dict(self, *, raw: bool = True) -> dict[str, Any]:
        """Serialise with Kargo's keys; `raw=False` hides the token."""
        out: dict[str, Any] = {}
        if self.api_address:
            out["apiAddress"] = self.api_address
        if self.bearer_token:
            out["bearerToken"] = self.bearer_token if raw else "REDACTED"
        if self.project:
            out["project"] = self.project
        return out


def load(path: Path | None = None) -> UserConfig:
    """Read the config file; an absent file is an empty config."""
    path = path or config_path()
    if not path.exists():
        return UserConfig()
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise errors.ValidationError(
            f"{path}: not valid YAML ({err.__class__.__name__}); fix it or delete it and run "
            "`kargo login` again"
        ) from None
    if not isinstance(data, dict):
        raise errors.ValidationError(f"{path}: expected a mapping; delete it and log in again")
    return UserConfig(
        api_address=_str(data.get("apiAddress")),
        bearer_token=_str(data.get("bearerToken")),
        project=_str(data.get("project")),
    )


def _str(value: object) -> str | None:
    return str(value) if value not in (None, "") else None


def save(config: UserConfig, path: Path | None = None) -> Path:
    """Write the config file with mode 0600 (atomically); returns its path."""
    path = path or config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, yaml.safe_dump(config.to_dict(), sort_keys=False).encode())
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return path
