"""Server settings: defaults, environment, and refusal of unsafe values with a how-to-fix."""

from __future__ import annotations

import pytest

from kargo import errors
from kargo.server import settings as settings_mod


def test_defaults_listen_locally_and_keep_sqlite_in_the_data_dir(tmp_path):
    s = settings_mod.Settings.from_env({}, data_dir=tmp_path)
    assert s.host == "127.0.0.1"
    assert s.port == settings_mod.DEFAULT_PORT
    assert s.components == ("api", "controllers")
    assert s.database_url == f"sqlite:///{(tmp_path / 'kargo.db').absolute()}"


def test_environment_is_read_and_flags_win(tmp_path):
    env = {"KARGO_PORT": "9999", "KARGO_COMPONENTS": "api", "KARGO_DATA_DIR": str(tmp_path)}
    s = settings_mod.Settings.from_env(env, port=7000)
    assert s.port == 7000
    assert s.components == ("api",)
    assert s.data_dir == tmp_path


def test_unknown_component_is_refused_with_the_valid_names():
    with pytest.raises(errors.ValidationError) as err:
        settings_mod.parse_components("api,webhookz")
    assert "'webhookz'" in err.value.message
    assert "api,controllers" in err.value.message


@pytest.mark.parametrize("password", ["admin", "short", "changeme"])
def test_weak_admin_password_is_refused_with_a_fix(tmp_path, password):
    with pytest.raises(errors.ValidationError) as err:
        settings_mod.Settings.from_env({"KARGO_ADMIN_PASSWORD": password}, data_dir=tmp_path)
    problem = err.value.problems[0]
    assert problem.path == "KARGO_ADMIN_PASSWORD"
    assert "openssl rand" in problem.hint
    assert password not in str(err.value.message)


def test_world_readable_signing_key_is_refused_with_chmod_hint(tmp_path):
    key = tmp_path / "token-signing.key"
    key.write_text("x" * 64)
    key.chmod(0o644)
    with pytest.raises(errors.ValidationError) as err:
        settings_mod.Settings.from_env({}, data_dir=tmp_path)
    assert f"chmod 600 {key}" in err.value.problems[0].hint


def test_invalid_port_is_a_validation_error(tmp_path):
    with pytest.raises(errors.ValidationError, match="port"):
        settings_mod.Settings.from_env({"KARGO_PORT": "70000"}, data_dir=tmp_path)


def test_password_is_not_in_repr(tmp_path):
    s = settings_mod.Settings.from_env(
        {"KARGO_ADMIN_PASSWORD": "a-long-enough-password"}, data_dir=tmp_path
    )
    assert "a-long-enough-password" not in repr(s)
