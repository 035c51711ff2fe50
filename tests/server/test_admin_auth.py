"""Admin auth: a generated password shown once, hashes and keys at rest, tokens and expiry."""

from __future__ import annotations

from datetime import timedelta

import pytest

from kargo import clock, errors
from kargo.server import auth, settings as settings_mod


def _settings(tmp_path, **kw):
    return settings_mod.Settings.from_env({}, data_dir=tmp_path, **kw)


def test_first_start_generates_a_password_once_and_stores_only_its_hash(tmp_path):
    first = auth.bootstrap(_settings(tmp_path))
    assert first.generated_password
    config = (tmp_path / "server.toml").read_text()
    assert first.generated_password not in config
    assert "$2" in config
    second = auth.bootstrap(_settings(tmp_path))
    assert second.generated_password is None
    token, _ = auth.login(second.state, first.generated_password, clock.ManualClock().now())
    assert token


def test_secret_files_are_private(tmp_path):
    auth.bootstrap(_settings(tmp_path))
    for name in ("server.toml", "token-signing.key"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o600


def test_admin_password_from_environment_replaces_the_stored_hash(tmp_path):
    auth.bootstrap(_settings(tmp_path))
    state = auth.bootstrap(_settings(tmp_path, admin_password="correct-horse-battery")).state
    now = clock.ManualClock().now()
    auth.login(state, "correct-horse-battery", now)
    with pytest.raises(errors.UnauthenticatedError, match="wrong admin password"):
        auth.login(state, "something-else-entirely", now)


def test_token_is_valid_until_its_ttl_then_rejected_with_how_to_log_in(tmp_path):
    state = auth.bootstrap(_settings(tmp_path)).state
    manual = clock.ManualClock()
    token, expires = auth.issue_token(state, manual.now())
    assert expires - manual.now() == timedelta(hours=24)
    assert auth.verify_token(state, token, manual.now()) == "admin"
    manual.advance(timedelta(hours=24))
    with pytest.raises(errors.UnauthenticatedError, match="kargo login"):
        auth.verify_token(state, token, manual.now())


def test_token_signed_with_another_key_is_rejected(tmp_path):
    mine = auth.bootstrap(_settings(tmp_path / "a")).state
    theirs = auth.bootstrap(_settings(tmp_path / "b")).state
    now = clock.ManualClock().now()
    token, _ = auth.issue_token(theirs, now)
    with pytest.raises(errors.UnauthenticatedError, match="invalid bearer token"):
        auth.verify_token(mine, token, now)


def test_signing_key_survives_restart_so_tokens_stay_valid(tmp_path):
    now = clock.ManualClock().now()
    token, _ = auth.issue_token(auth.bootstrap(_settings(tmp_path)).state, now)
    assert auth.verify_token(auth.bootstrap(_settings(tmp_path)).state, token, now) == "admin"


def test_auth_state_repr_hides_secrets(tmp_path):
    state = auth.bootstrap(_settings(tmp_path)).state
    assert state.signing_key.decode() not in repr(state)
