"""run_git keeps credentials out of argv and URLs and explains failures without leaking them."""

import os
import stat

import pytest

from kargo.credentials.interface import Credentials
from kargo.git import cli
from tests.fixtures.git import GIT_PASSWORD, GIT_USER

GOOD = Credentials(username=GIT_USER, password=GIT_PASSWORD)


async def test_credentials_reach_git_through_askpass(git_server, tmp_path):
    url = git_server.create_repo("app")
    git_server.writer("app").commit({"a": "1"}, "first")
    result = await cli.run_git(["ls-remote", url], cwd=tmp_path, credentials=GOOD)
    assert "refs/heads/main" in result.stdout


async def test_a_secret_in_argv_is_refused(tmp_path):
    with pytest.raises(ValueError, match="argv"):
        await cli.run_git(
            ["ls-remote", f"http://u:{GIT_PASSWORD}@127.0.0.1:1/x.git"],
            cwd=tmp_path,
            credentials=GOOD,
        )


async def test_wrong_password_says_what_and_how_to_fix_without_the_secret(git_server, tmp_path):
    url = git_server.create_repo("app")
    bad = Credentials(username=GIT_USER, password="wrong-" + GIT_PASSWORD)
    with pytest.raises(cli.GitError) as info:
        await cli.run_git(["ls-remote", url], cwd=tmp_path, credentials=bad, url=url)
    err = info.value
    assert err.failure is cli.GitFailure.AUTHENTICATION
    assert str(err) == (
        f"authentication failed for {url}: check the git credentials for this repoURL"
    )
    assert GIT_PASSWORD not in str(err) + err.stderr


async def test_missing_credentials_fail_fast_instead_of_prompting(git_server, tmp_path):
    url = git_server.create_repo("app")
    with pytest.raises(cli.GitError) as info:
        await cli.run_git(["ls-remote", url], cwd=tmp_path, url=url, timeout=30)
    assert info.value.failure is cli.GitFailure.AUTHENTICATION


async def test_unreachable_server_is_reported_as_such(tmp_path, git_down_url):
    url = git_down_url
    with pytest.raises(cli.GitError) as info:
        await cli.run_git(["ls-remote", url], cwd=tmp_path, url=url)
    assert info.value.failure is cli.GitFailure.UNREACHABLE
    assert str(info.value).startswith(f"cannot reach {url}: check the repoURL")


def test_messages_lose_url_userinfo_and_secrets():
    text = "fatal: unable to access 'https://bob:hunter2@example.com/r.git/': token hunter2"
    assert cli.redact(text, ["hunter2"]) == (
        "fatal: unable to access 'https://example.com/r.git/': token ***"
    )


def test_askpass_helper_is_private_and_holds_no_secret():
    path = cli.askpass_script()
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    assert GIT_PASSWORD not in path.read_text()
    env = cli.git_environment(GOOD)
    assert env["GIT_TERMINAL_PROMPT"] == "0"
    assert env["GIT_ASKPASS"] == str(path)
