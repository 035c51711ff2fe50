"""Admin authentication: the bcrypt password hash, the token-signing key and bearer tokens.

Kargo's admin account is a bcrypt hash plus an HMAC-signed JWT with a 24 h TTL (§6.2). Here:
- the hash lives in the server's configuration file (`Settings.config_file`, TOML, mode 0600);
  when none is set a password is generated, returned ONCE by `bootstrap` for the caller to print,
  and only its hash is kept. `KARGO_ADMIN_PASSWORD` (for automation) replaces the stored hash.
- the signing key is generated and persisted (mode 0600) when absent.
- tokens are HS256 JWTs; expiry is checked against the injected clock, not the wall clock.

Used by `kargo.server.app` (login route, bearer dependency) and `kargo.cli.server_cmd`.
"""

from __future__ import annotations

import hmac
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import bcrypt
import jwt
import tomlkit

from kargo import clock as clock_mod, errors
from kargo.server import settings as settings_mod

ISSUER = "kargo"
ADMIN_SUBJECT = "admin"
ALGORITHM = "HS256"


@dataclass(frozen=True)
class AuthState:
    """What the running server needs to check passwords and tokens."""

    password_hash: bytes
    signing_key: bytes
    token_ttl: timedelta

    def __repr__(self) -> str:
        return "AuthState(<redacted>)"


@dataclass(frozen=True)
class Bootstrap:
    """The outcome of `bootstrap`: the auth state and, at first start only, the new password."""

    state: AuthState
    generated_password: str | None


def _write_private(path: Path, data: bytes) -> None:
    """Write a file readable by its owner only (created 0600, replaced atomically)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def hash_password(password: str) -> bytes:
    """The bcrypt hash of a password."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt())


def _read_config(path: Path) -> tomlkit.TOMLDocument:
    if not path.exists():
        return tomlkit.document()
    try:
        return tomlkit.parse(path.read_text())
    except Exception as err:  # tomlkit raises several unrelated types
        raise errors.ValidationError(
            f"server configuration file {path} is not valid TOML: {err}; fix or delete it "
            "(deleting it generates a new admin password)"
        ) from None


def bootstrap(settings: settings_mod.Settings) -> Bootstrap:
    """Load (or create) the admin password hash and the signing key in the data directory."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    doc = _read_config(settings.config_file)
    admin = doc.get("admin")
    stored = str(admin.get("password_hash", "")) if isinstance(admin, dict) else ""
    generated: str | None = None
    if settings.admin_password is not None:
        if not (stored and _check(settings.admin_password, stored.encode())):
            stored = hash_password(settings.admin_password).decode()
            _store_hash(doc, settings.config_file, stored)
    elif not stored:
        generated = secrets.token_urlsafe(18)
        stored = hash_password(generated).decode()
        _store_hash(doc, settings.config_file, stored)
    if not stored.startswith("$2"):
        raise errors.ValidationError(
            f"{settings.config_file}: admin.password_hash is not a bcrypt hash; set it with "
            "KARGO_ADMIN_PASSWORD or delete the key to generate a new password"
        )
    key_file = settings.signing_key_file
    if key_file.exists():
        key = key_file.read_bytes().strip()
        if len(key) < 32:
            raise errors.ValidationError(
                f"token signing key {key_file} is shorter than 32 bytes; delete it to have a new "
                "one generated (existing tokens become invalid)"
            )
    else:
        key = secrets.token_hex(32).encode()
        _write_private(key_file, key + b"\n")
    state = AuthState(
        password_hash=stored.encode(),
        signing_key=key,
        token_ttl=timedelta(seconds=settings.token_ttl_seconds),
    )
    return Bootstrap(state=state, generated_password=generated)


def _store_hash(doc: tomlkit.TOMLDocument, path: Path, value: str) -> None:
    table = doc.get("admin")
    if not isinstance(table, dict):
        table = tomlkit.table()
        doc["admin"] = table
    table["password_hash"] = value
    _write_private(path, tomlkit.dumps(doc).encode())


def _check(password: str, hashed: bytes) -> bool:
    try:
        return bcrypt.checkpw(password.encode(), hashed)
    except ValueError:
        return False


def login(state: AuthState, password: str, now: datetime) -> tuple[str, datetime]:
    """Exchange the admin password for a bearer token; returns (token, expiry)."""
    if not _check(password, state.password_hash):
        raise errors.UnauthenticatedError("login failed: wrong admin password")
    return issue_token(state, now)


def issue_token(state: AuthState, now: datetime) -> tuple[str, datetime]:
    """Sign a token for the admin, valid for the configured TTL from `now`."""
    expires = now + state.token_ttl
    claims = {
        "iss": ISSUER,
        "sub": ADMIN_SUBJECT,
        "iat": int(now.timestamp()),
        "exp": int(expires.timestamp()),
        "jti": secrets.token_hex(8),
    }
    return jwt.encode(claims, state.signing_key, algorithm=ALGORITHM), expires


def verify_token(state: AuthState, token: str, now: datetime) -> str:
    """The subject of a valid token; UnauthenticatedError for a bad or expired one."""
    try:
        claims = jwt.decode(
            token,
            state.signing_key,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"verify_exp": False, "require": ["exp", "sub", "iss"]},
        )
    except jwt.PyJWTError:
        raise errors.UnauthenticatedError(
            "invalid bearer token; log in again with `kargo login SERVER --admin`"
        ) from None
    if int(claims["exp"]) <= int(now.timestamp()):
        raise errors.UnauthenticatedError(
            f"bearer token expired at {clock_mod.format_time(datetime.fromtimestamp(int(claims['exp']), now.tzinfo))}; "
            "log in again with `kargo login SERVER --admin`"
        )
    subject = str(claims["sub"])
    if not hmac.compare_digest(subject, ADMIN_SUBJECT):
        raise errors.UnauthenticatedError("invalid bearer token: unknown subject")
    return subject
