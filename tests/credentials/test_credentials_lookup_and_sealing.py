"""Credentials: sealed at rest, matched by normalised repoURL or regex, project before shared."""

import base64
import sqlite3

import pytest

from kargo.credentials.database import SHARED_NAMESPACE, StoreCredentials
from kargo.credentials.redaction import Redactor, strip_userinfo
from kargo.credentials.sealing import SecretCipher, generate_key, redact_secret
from kargo.errors import KargoError, PermissionDeniedError
from kargo.store import open_store

CANARY = "canary-s3cret-value"


def secret(name, namespace, cred_type, repo_url, password=CANARY, regex=False, username="alice"):
    data = {"repoURL": repo_url, "username": username, "password": password}
    if regex:
        data["repoURLIsRegex"] = "true"
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"kargo.akuity.io/cred-type": cred_type},
        },
        "stringData": data,
    }


@pytest.fixture
async def env(tmp_path):
    store = await open_store(str(tmp_path / "kargo.db"))
    cipher = SecretCipher(generate_key())
    try:
        yield store, cipher, tmp_path / "kargo.db"
    finally:
        await store.close()


async def put(store, cipher, obj):
    await store.create(cipher.seal(obj))


async def test_secret_values_are_encrypted_in_the_database_file(env):
    store, cipher, db = env
    await put(store, cipher, secret("repo", "proj", "git", "https://github.com/acme/gitops"))
    raw = b"".join(
        row[0].encode() if isinstance(row[0], str) else bytes(row[0]) for row in _all_text(db)
    )
    assert CANARY.encode() not in raw
    assert base64.b64encode(CANARY.encode()) not in raw


def _all_text(db):
    con = sqlite3.connect(db)
    try:
        rows = []
        for (table,) in con.execute("select name from sqlite_master where type='table'"):
            for row in con.execute(f"select * from {table}"):
                rows.extend((str(v),) for v in row)
        return rows
    finally:
        con.close()


async def test_git_url_matches_after_normalisation(env):
    store, cipher, _ = env
    await put(store, cipher, secret("repo", "proj", "git", "https://github.com/acme/gitops.git"))
    creds = await StoreCredentials(store, cipher).get(
        "proj", "git", "https://GitHub.com/acme/gitops/"
    )
    assert creds is not None
    assert (creds.username, creds.password) == ("alice", CANARY)
    assert CANARY not in repr(creds)


async def test_regex_credentials_and_type_separation(env):
    store, cipher, _ = env
    await put(store, cipher, secret("any-acme", "proj", "image", r"^ghcr\.io/acme/.*$", regex=True))
    provider = StoreCredentials(store, cipher)
    assert await provider.get("proj", "image", "ghcr.io/acme/api") is not None
    assert await provider.get("proj", "image", "ghcr.io/other/api") is None
    assert await provider.get("proj", "git", "ghcr.io/acme/api") is None


async def test_project_credentials_win_over_shared_and_first_name_wins(env):
    store, cipher, _ = env
    await store.create(
        {"apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Project", "metadata": {"name": "proj"}}
    )
    url = "https://github.com/acme/gitops"
    await put(
        store, cipher, secret("b-shared", SHARED_NAMESPACE, "git", url, password="shared-pass")
    )
    await put(store, cipher, secret("b-proj", "proj", "git", url, password="second-pass"))
    await put(store, cipher, secret("a-proj", "proj", "git", url, password="first-pass"))
    provider = StoreCredentials(store, cipher)
    assert (await provider.get("proj", "git", url)).password == "first-pass"
    assert (await provider.get("other", "git", url)).password == "shared-pass"


async def test_credentials_are_refused_over_plain_http_unless_allowed(env):
    store, cipher, _ = env
    await put(store, cipher, secret("repo", "proj", "git", "http://git.example.com/acme/gitops"))
    with pytest.raises(PermissionDeniedError, match="plain http") as err:
        await StoreCredentials(store, cipher).get(
            "proj", "git", "http://git.example.com/acme/gitops"
        )
    assert CANARY not in str(err.value)
    allowed = StoreCredentials(store, cipher, allow_over_http=True)
    assert (await allowed.get("proj", "git", "http://git.example.com/acme/gitops")) is not None


def test_wrong_key_is_a_clear_error():
    sealed = SecretCipher(generate_key()).seal(secret("s", "p", "git", "https://x/y"))
    with pytest.raises(KargoError, match="encryption key"):
        SecretCipher(generate_key()).unseal_data(sealed)
    with pytest.raises(KargoError, match="invalid secrets encryption key"):
        SecretCipher("not-a-key")


def test_redaction_hides_values_and_url_userinfo():
    redact = Redactor([CANARY])
    text = f"clone of https://alice:{CANARY}@github.com/acme/x failed: bad password {CANARY}"
    assert CANARY not in redact(text)
    assert "alice" not in redact(text)
    assert strip_userinfo("https://u:p@h/x") == "https://h/x"
    shown = redact_secret(secret("s", "p", "git", "https://x/y"))
    assert CANARY not in str(shown)
    assert set(shown["data"]) == {"repoURL", "username", "password"}
