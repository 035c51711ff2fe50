"""A mirror a crash damaged is repaired: rebuilt when it is no repository any more, and rid of
the lock files a killed git process left (which would make every later command fail)."""

import logging
import os
import time

import pytest

from kargo.credentials.interface import Credentials
from kargo.git import cli, mirror as mirrors
from tests.fixtures.git import GIT_PASSWORD, GIT_USER

GOOD = Credentials(username=GIT_USER, password=GIT_PASSWORD)


def age(path, seconds):
    then = time.time() - seconds
    os.utime(path, (then, then))


@pytest.fixture
def repo(git_server):
    url = git_server.create_repo("app")
    git_server.writer("app").commit({"a.txt": "1"}, "first")
    return url


async def fetched_then_closed(tmp_path, url):
    """A mirror made and fetched by an earlier 'process' (a cache that let go of it)."""
    cache = mirrors.MirrorCache(tmp_path / "cache")
    mirror = cache.get(url, for_promotion=True)
    await mirror.fetch(GOOD)
    cache.close()
    return mirror.path


@pytest.mark.parametrize("damage", ["no HEAD", "no objects"])
async def test_a_half_written_mirror_is_rebuilt_with_a_warning(
    tmp_path, git_server, repo, caplog, damage
):
    path = await fetched_then_closed(tmp_path, repo)
    if damage == "no HEAD":
        (path / "HEAD").unlink()
    else:
        (path / "objects").rename(path / "objects-gone")
    caplog.set_level(logging.WARNING, logger="kargo.git.mirror")
    mirror = mirrors.MirrorCache(tmp_path / "cache").get(repo, for_promotion=True)
    await mirror.fetch(GOOD)
    assert await mirror.rev_parse(mirrors.HEADS + "main") == git_server.branch_head("app")
    assert "is broken" in caplog.text
    assert "rebuilding it" in caplog.text
    assert [p.name for p in path.parent.iterdir() if ".broken-" in p.name] == []


async def test_a_mirror_directory_without_head_is_rebuilt_on_first_use(tmp_path, git_server, repo):
    mirror = mirrors.MirrorCache(tmp_path / "cache").get(repo, for_promotion=True)
    mirror.path.mkdir(parents=True)
    (mirror.path / "config").write_text("[core]\n")  # what a crash in an older version left
    await mirror.fetch(GOOD)
    assert await mirror.rev_parse(mirrors.HEADS + "main") == git_server.branch_head("app")


@pytest.mark.parametrize(
    "lock", ["refs/mirror/heads/main.lock", "packed-refs.lock", "shallow.lock", "config.lock"]
)
async def test_lock_files_a_dead_process_left_are_removed_when_the_mirror_is_opened(
    tmp_path, git_server, repo, caplog, lock
):
    path = await fetched_then_closed(tmp_path, repo)
    stale = path / lock
    stale.write_text("")
    age(stale, 3600)  # older than this process: no git of ours made it
    newest = git_server.writer("app").commit({"a.txt": "2"}, "second")
    caplog.set_level(logging.WARNING, logger="kargo.git.mirror")
    mirror = mirrors.MirrorCache(tmp_path / "cache").get(repo, for_promotion=True)
    await mirror.fetch(GOOD)
    assert await mirror.rev_parse(mirrors.HEADS + "main") == newest
    assert not stale.exists()
    assert f"removed the stale lock file {lock}" in caplog.text


async def test_a_lock_file_makes_a_clear_error_then_is_removed_once_a_minute_old(
    tmp_path, git_server, repo
):
    mirror = mirrors.MirrorCache(tmp_path / "cache").get(repo, for_promotion=True)
    await mirror.fetch(GOOD)
    stale = mirror.path / "refs" / "mirror" / "heads" / "main.lock"
    stale.write_text("")  # as if a git process of ours had just been killed
    newest = git_server.writer("app").commit({"a.txt": "2"}, "second")
    with pytest.raises(cli.GitError) as info:
        await mirror.fetch(GOOD)
    err = info.value
    assert err.failure is cli.GitFailure.LOCKED
    message = str(err)
    assert "refs/mirror/heads/main.lock" in message
    assert str(mirror.path) in message
    assert "interrupted git process" in message
    assert "rejected" not in message
    assert GIT_PASSWORD not in message
    assert stale.exists()  # young: it could still be a running git's

    age(stale, 120)
    await mirror.fetch(GOOD)
    assert await mirror.rev_parse(mirrors.HEADS + "main") == newest
    assert not stale.exists()


async def test_a_shared_mirror_keeps_its_lock_files(tmp_path, git_server, repo, caplog):
    """A second owner (another process or cache on the same directory) never removes locks:
    they may be the first one's, in use."""
    first = mirrors.MirrorCache(tmp_path / "cache")
    await first.get(repo, for_promotion=True).fetch(GOOD)
    path = first.get(repo, for_promotion=True).path
    lock = path / "packed-refs.lock"
    lock.write_text("")
    age(lock, 3600)
    caplog.set_level(logging.WARNING, logger="kargo.git.mirror")
    second = mirrors.MirrorCache(tmp_path / "cache").get(repo, for_promotion=True)
    await second.fetch(GOOD)
    assert lock.exists()
    assert "in use by another process" in caplog.text
    first.close()


def test_a_lock_message_from_the_remote_is_not_ours():
    remote = "remote: error: Unable to create '/srv/x.git/refs/heads/main.lock': File exists."
    assert cli.lock_file(remote) is None
    refused = " ! [remote rejected] main -> main (cannot lock ref 'refs/heads/main': " + (
        "Unable to create '/srv/x.git/refs/heads/main.lock': File exists.)"
    )
    assert cli.lock_file(refused) is None
    local = "error: cannot lock ref 'refs/x': Unable to create '/m/refs/x.lock': File exists."
    assert cli.lock_file(local) == "/m/refs/x.lock"
    assert cli.classify(local) is cli.GitFailure.LOCKED
