"""run_git keeps credentials out of argv and URLs and explains failures without leaking them."""

import asyncio
import os
import socket
import stat
import subprocess
import tempfile
import time

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
    with cli.askpass_helper() as path:
        assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o700
        assert GIT_PASSWORD not in path.read_text()
        env = cli.git_environment(GOOD, askpass=path)
        assert env["GIT_TERMINAL_PROMPT"] == "0"
        assert env["GIT_ASKPASS"] == str(path)
    assert not path.parent.exists()


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    """Helpers go to a temp dir of this test's own, so leftovers can be counted."""
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


def helpers(root):
    return sorted(p.name for p in root.glob(f"{cli.ASKPASS_PREFIX}*"))


@pytest.fixture
def silent_server():
    """A TCP port that accepts connections and never answers (git waits until it times out)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/slow.git"


async def test_no_askpass_directory_is_left_after_success_failure_timeout_or_cancel(
    git_server, tmp_path, private_tmp, silent_server
):
    url = git_server.create_repo("app")
    git_server.writer("app").commit({"a": "1"}, "first")
    await cli.run_git(["ls-remote", url], cwd=tmp_path, credentials=GOOD)
    assert helpers(private_tmp) == []

    bad = Credentials(username=GIT_USER, password="wrong")
    with pytest.raises(cli.GitError):
        await cli.run_git(["ls-remote", url], cwd=tmp_path, credentials=bad, url=url)
    assert helpers(private_tmp) == []

    with pytest.raises(cli.GitError) as info:
        await cli.run_git(["ls-remote", silent_server], cwd=tmp_path, credentials=GOOD, timeout=0.5)
    assert info.value.failure is cli.GitFailure.TIMEOUT
    assert helpers(private_tmp) == []

    task = asyncio.create_task(
        cli.run_git(["ls-remote", silent_server], cwd=tmp_path, credentials=GOOD)
    )
    while not helpers(private_tmp):  # the helper exists while git runs
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert helpers(private_tmp) == []


def test_helpers_of_processes_that_died_are_swept(private_tmp, monkeypatch):
    dead = subprocess.Popen(["true"])
    dead.wait()
    left = private_tmp / f"{cli.ASKPASS_PREFIX}{dead.pid}-abcd1234"
    mine = private_tmp / f"{cli.ASKPASS_PREFIX}{os.getpid()}-efgh5678"
    for directory in (left, mine):
        directory.mkdir()
        (directory / "askpass.sh").write_text("#!/bin/sh\n")
        os.utime(directory, (time.time() - 3600, time.time() - 3600))
    monkeypatch.setattr(cli, "_askpass_swept", False)
    with cli.askpass_helper():
        pass
    assert helpers(private_tmp) == [mine.name]  # a live process's stays
