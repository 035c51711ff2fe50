"""insecureSkipTLSVerify applies to its own users only, against a real HTTPS git server whose
certificate is self-signed (so git refuses it unless told not to verify)."""

import pytest

from kargo import errors
from kargo.credentials.interface import Credentials
from kargo.discovery import git as discovery
from kargo.git import cli, mirror as mirrors
from tests.fixtures.git import GIT_PASSWORD, GIT_USER

GOOD = Credentials(username=GIT_USER, password=GIT_PASSWORD)


@pytest.fixture
def tls_repo(git_server_factory):
    server = git_server_factory(https=True)
    url = server.create_repo("app")
    sha = server.writer("app").commit({"a.txt": "1"}, "first")
    return url, sha


async def _ssl_verify(mirror: mirrors.Mirror) -> str:
    return (await mirror.git(["config", "--get-all", "http.sslVerify"], check=False)).stdout.strip()


async def test_an_insecure_mirror_is_separate_and_the_normal_one_still_verifies(tmp_path, tls_repo):
    url, sha = tls_repo
    cache = mirrors.MirrorCache(tmp_path / "cache")
    insecure = cache.get(url, insecure_skip_tls_verify=True)
    normal = cache.get(url)
    assert insecure is not normal
    assert insecure.path != normal.path
    assert insecure is cache.get(url.removesuffix(".git"), insecure_skip_tls_verify=True)
    # pushes to one URL and branch are leased by `key`: the same for both mirrors
    assert insecure.key == normal.key
    await insecure.fetch(GOOD)
    assert await insecure.rev_parse(mirrors.HEADS + "main") == sha
    assert await _ssl_verify(insecure) == "false"  # its worktrees (lazy fetches) follow it
    with pytest.raises(cli.GitError, match="certificate") as caught:
        await normal.fetch(GOOD)
    assert GIT_PASSWORD not in str(caught.value)
    assert await _ssl_verify(normal) == ""


async def test_a_mirror_an_older_version_left_unverified_verifies_again(tmp_path, tls_repo):
    url, sha = tls_repo
    old = mirrors.MirrorCache(tmp_path / "cache").get(url)
    async with old.lock:
        await old.ensure()
    await old.git(["config", "http.sslVerify", "false"])  # what skip_tls_verify() used to write
    await old.fetch(GOOD)
    assert await old.rev_parse(mirrors.HEADS + "main") == sha

    restarted = mirrors.MirrorCache(tmp_path / "cache").get(url)
    assert restarted.path == old.path
    with pytest.raises(cli.GitError, match="certificate"):
        await restarted.fetch(GOOD)
    assert await _ssl_verify(restarted) == ""


async def test_an_insecure_mirror_made_before_its_setting_existed_gets_it(tmp_path, tls_repo):
    url, sha = tls_repo
    first = mirrors.MirrorCache(tmp_path / "cache").get(url, insecure_skip_tls_verify=True)
    async with first.lock:
        await first.ensure()
    await first.git(["config", "--unset-all", "http.sslVerify"])
    again = mirrors.MirrorCache(tmp_path / "cache").get(url, insecure_skip_tls_verify=True)
    await again.fetch(GOOD)
    assert await again.rev_parse(mirrors.HEADS + "main") == sha
    assert await _ssl_verify(again) == "false"


@pytest.mark.parametrize("insecure_first", [True, False])
async def test_discovery_skips_verification_only_for_an_insecure_subscription(
    tmp_path, tls_repo, insecure_first
):
    url, sha = tls_repo
    cache = mirrors.MirrorCache(tmp_path / "cache")
    insecure = {"git": {"repoURL": url, "insecureSkipTLSVerify": True}}
    verified = {"git": {"repoURL": url}}

    async def refused() -> None:
        with pytest.raises(errors.DiscoveryError, match="certificate") as caught:
            await discovery.discover_commits(verified, cache, GOOD, None)
        assert url in str(caught.value)
        assert "set insecureSkipTLSVerify: true" in str(caught.value)  # how to fix it
        assert GIT_PASSWORD not in str(caught.value)

    if not insecure_first:
        await refused()
    commits, _ = await discovery.discover_commits(insecure, cache, GOOD, None)
    assert [c["id"] for c in commits] == [sha]
    await refused()
