"""One mirror per repository, updated by fetch (never re-cloned), blobless with a fallback."""

import asyncio

from kargo.credentials.interface import Credentials
from kargo.git import cli, mirror as mirrors
from tests.fixtures.git import GIT_PASSWORD, GIT_USER

GOOD = Credentials(username=GIT_USER, password=GIT_PASSWORD)


async def test_one_mirror_per_normalised_url(tmp_path, git_server):
    cache = mirrors.MirrorCache(tmp_path / "cache")
    url = git_server.url("app")
    assert cache.get(url) is cache.get(url.removesuffix(".git") + "/")
    assert cache.get(url) is not cache.get(git_server.url("other"))


async def test_fetch_updates_the_same_mirror_instead_of_recloning(tmp_path, git_server):
    url = git_server.create_repo("app")
    writer = git_server.writer("app")
    first = writer.commit({"a.txt": "1"}, "first")
    cache = mirrors.MirrorCache(tmp_path / "cache")
    mirror = cache.get(url)
    await mirror.fetch(GOOD)
    inode = (mirror.path / "objects").stat().st_ino
    assert await mirror.rev_parse(mirrors.HEADS + "main") == first
    second = writer.commit({"a.txt": "2"}, "second")
    before = cli.COMMAND_COUNTS["clone"]
    await mirror.fetch(GOOD)
    assert await mirror.rev_parse(mirrors.HEADS + "main") == second
    assert (mirror.path / "objects").stat().st_ino == inode
    assert cli.COMMAND_COUNTS["clone"] == before


async def test_mirror_is_blobless_when_the_server_allows_it(tmp_path, git_server):
    url = git_server.create_repo("app")
    git_server.writer("app").commit({"big.txt": "x" * 5000}, "first")
    mirror = mirrors.MirrorCache(tmp_path / "cache").get(url)
    await mirror.fetch(GOOD)
    assert mirror.blobless
    missing = await mirror.git(["rev-list", "--objects", "--missing=print", "--all"])
    assert any(line.startswith("?") for line in missing.stdout.splitlines())


async def test_blobless_falls_back_when_the_server_refuses_filters(tmp_path, git_server):
    url = git_server.create_repo("app", allow_filter=False)
    sha = git_server.writer("app").commit({"a.txt": "1"}, "first")
    mirror = mirrors.MirrorCache(tmp_path / "cache").get(url)
    await mirror.fetch(GOOD)
    assert not mirror.blobless
    shown = await mirror.git(["show", f"{sha}:a.txt"])
    assert shown.stdout == "1"


async def test_concurrent_fetches_of_one_url_share_the_next_fetch(tmp_path, git_server):
    url = git_server.create_repo("app")
    sha = git_server.writer("app").commit({"a.txt": "1"}, "first")
    cache = mirrors.MirrorCache(tmp_path / "cache")
    await asyncio.gather(*(cache.get(url).fetch(GOOD) for _ in range(5)))
    assert await cache.get(url).rev_parse(mirrors.HEADS + "main") == sha
    assert cache.get(url).fetches == 2  # the first, then one for the four that queued behind it


async def test_ls_remote_maps_refs_to_shas(tmp_path, git_server):
    url = git_server.create_repo("app")
    writer = git_server.writer("app")
    sha = writer.commit({"a.txt": "1"}, "first")
    writer.tag("v1.0.0")
    refs = await mirrors.MirrorCache(tmp_path / "c").ls_remote(url, GOOD)
    assert refs["refs/heads/main"] == sha
    assert refs["refs/tags/v1.0.0"] == sha
    assert refs["HEAD"] == sha


async def test_credentials_in_the_url_are_moved_to_askpass(tmp_path, git_server):
    url = git_server.create_repo("app")
    git_server.writer("app").commit({"a.txt": "1"}, "first")
    with_userinfo = url.replace("http://", f"http://{GIT_USER}:{GIT_PASSWORD}@")
    mirror = mirrors.MirrorCache(tmp_path / "c").get(with_userinfo)
    assert GIT_PASSWORD not in mirror.url
    await mirror.fetch()
    assert GIT_PASSWORD not in (mirror.path / "config").read_text()


async def test_a_promotion_mirror_starts_shallow_and_discovery_deepens_it(tmp_path, git_server):
    url = git_server.create_repo("app")
    writer = git_server.writer("app")
    for i in range(3):
        last = writer.commit({"a.txt": str(i)}, f"change {i}")
    mirror = mirrors.MirrorCache(tmp_path / "cache").get(url, for_promotion=True)
    branches = f"+refs/heads/*:{mirrors.HEADS}*"
    await mirror.fetch(GOOD, [branches], prune=True, history=False)
    assert mirror.shallow
    assert not mirror.blobless  # the tip's files came with it: no lazy fetch on checkout
    count = await mirror.git(["rev-list", "--count", mirrors.HEADS + "main"])
    assert count.stdout.strip() == "1"
    newer = writer.commit({"a.txt": "3"}, "change 3")
    await mirror.fetch(GOOD, [branches], prune=True, history=False)  # only what is new
    assert await mirror.rev_parse(mirrors.HEADS + "main") == newer
    assert (await mirror.git(["rev-parse", f"{newer}^"])).stdout.strip() == last
    await mirror.fetch(GOOD)  # discovery needs the history
    assert not mirror.shallow
    count = await mirror.git(["rev-list", "--count", mirrors.HEADS + "main"])
    assert count.stdout.strip() == "4"
