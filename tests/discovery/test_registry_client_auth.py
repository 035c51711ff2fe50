"""Registry authentication: htpasswd basic auth and the bearer-token challenge flow."""

from __future__ import annotations

import pytest

from kargo import errors
from kargo.credentials.interface import Credentials
from kargo.discovery import images
from tests.fixtures.registry import AUTH_USER, Pusher, unique_repo

CANARY = "canary-pw-7f3a"


@pytest.fixture
def auth_repo(auth_registry):
    repo = unique_repo("auth")
    with Pusher(auth_registry.url, auth=auth_registry.auth) as pusher:
        pusher.image(repo, "1.0.0")
        pusher.image(repo, "1.1.0")
    return repo


async def test_basic_auth_with_good_credentials_lists_and_resolves(
    auth_registry, auth_repo, make_client, metadata_cache
):
    client = make_client(auth_registry.host, Credentials(*auth_registry.auth))
    refs = await images.discover_images(
        {"repoURL": f"{auth_registry.host}/{auth_repo}"}, client, metadata_cache
    )
    assert [r["tag"] for r in refs] == ["1.1.0", "1.0.0"]


async def test_basic_auth_without_credentials_says_to_add_them(
    auth_registry, auth_repo, make_client
):
    client = make_client(auth_registry.host)
    with pytest.raises(
        errors.DiscoveryError, match="requires authentication; add image credentials"
    ):
        await client.list_tags(auth_repo)


async def test_basic_auth_with_wrong_password_fails_without_showing_it(
    auth_registry, auth_repo, make_client
):
    client = make_client(auth_registry.host, Credentials("alice", CANARY))
    with pytest.raises(errors.DiscoveryError) as info:
        await client.list_tags(auth_repo)
    assert "authentication failed" in str(info.value)
    assert CANARY not in str(info.value)


async def test_bearer_challenge_gets_a_token_with_credentials_and_reuses_it(
    registry, pusher, fault_proxy, make_client, metadata_cache
):
    repo = unique_repo()
    pusher.image(repo, "1.0.0")
    pusher.image(repo, "2.0.0")
    fault_proxy.require_bearer(("bob", "hunter2"))
    client = make_client(fault_proxy.host, Credentials("bob", "hunter2"))
    refs = await images.discover_images(
        {"repoURL": f"{fault_proxy.host}/{repo}"}, client, metadata_cache
    )
    assert [r["tag"] for r in refs] == ["2.0.0", "1.0.0"]
    assert client.counters["token"] == 1  # one token for the scope, cached for the rest
    assert fault_proxy.count("GET", "/token?") == 1


async def test_anonymous_bearer_token_is_fetched_without_credentials(
    registry, pusher, fault_proxy, make_client
):
    repo = unique_repo()
    pusher.image(repo, "1.0.0")
    fault_proxy.require_bearer()
    client = make_client(fault_proxy.host)
    assert await client.list_tags(repo) == ["1.0.0"]


async def test_bearer_token_refused_for_bad_credentials_is_a_clear_error(
    registry, pusher, fault_proxy, make_client
):
    repo = unique_repo()
    pusher.image(repo, "1.0.0")
    fault_proxy.require_bearer(("bob", "hunter2"))
    client = make_client(fault_proxy.host, Credentials("bob", CANARY))
    with pytest.raises(errors.DiscoveryError) as info:
        await client.list_tags(repo)
    assert "token service refused the credentials" in str(info.value)
    assert CANARY not in str(info.value)


def test_loopback_and_configured_registries_use_plain_http_others_https():
    from kargo.discovery import registry as reg

    assert reg.RegistryClient("127.0.0.1:5000").base_url == "http://127.0.0.1:5000"
    assert reg.RegistryClient("localhost:5000").base_url == "http://localhost:5000"
    assert reg.RegistryClient("ghcr.io").base_url == "https://ghcr.io"
    plain = reg.RegistryClient("registry.lan:5000", plain_http_registries={"registry.lan:5000"})
    assert plain.base_url == "http://registry.lan:5000"
    assert reg.RegistryClient("docker.io").base_url == "https://registry-1.docker.io"


@pytest.mark.parametrize(
    ("url", "host", "repository"),
    [
        ("nginx", "registry-1.docker.io", "library/nginx"),
        ("docker.io/nginx", "registry-1.docker.io", "library/nginx"),
        ("bitnami/redis", "registry-1.docker.io", "bitnami/redis"),
        ("ghcr.io/acme/api", "ghcr.io", "acme/api"),
        ("127.0.0.1:5000/a/b/c", "127.0.0.1:5000", "a/b/c"),
        ("localhost/app", "localhost", "app"),
        ("oci://127.0.0.1:5000/charts/demo", "127.0.0.1:5000", "charts/demo"),
    ],
)
def test_repo_urls_split_into_host_and_repository(url, host, repository):
    from kargo.discovery import registry as reg

    ref = reg.parse_repo_url(url)
    assert (ref.host, ref.repository) == (host, repository)


async def test_concurrent_requests_share_one_bearer_token(
    registry, pusher, fault_proxy, make_client
):
    import asyncio

    repo = unique_repo()
    tags = [f"1.{i}.0" for i in range(6)]
    for tag in tags:
        pusher.image(repo, tag)
    fault_proxy.require_bearer(("bob", "hunter2"))
    client = make_client(fault_proxy.host, Credentials("bob", "hunter2"))
    found = await asyncio.gather(*(client.head_manifest(repo, t) for t in tags))
    assert all(d is not None for d in found)
    assert client.counters["token"] == 1


async def test_real_token_service_issues_a_token_the_registry_accepts(
    token_registry, make_client, metadata_cache
):
    reg = token_registry.registry
    repo = unique_repo("private")
    with Pusher(reg.url, auth=reg.auth) as pusher:
        pusher.image(repo, "1.0.0")
        pusher.image(repo, "1.1.0")
    client = make_client(reg.host, Credentials(*reg.auth))
    refs = await images.discover_images({"repoURL": f"{reg.host}/{repo}"}, client, metadata_cache)
    assert [r["tag"] for r in refs] == ["1.1.0", "1.0.0"]
    assert client.counters["token"] == 1


async def test_real_token_service_grants_anonymous_pull_of_public_repositories_only(
    token_registry, make_client
):
    reg = token_registry.registry
    public, private = unique_repo("public"), unique_repo("private")
    with Pusher(reg.url, auth=reg.auth) as pusher:
        pusher.image(public, "1.0.0")
        pusher.image(private, "1.0.0")
    client = make_client(reg.host)
    assert await client.list_tags(public) == ["1.0.0"]
    with pytest.raises(errors.DiscoveryError, match="refused the token"):
        await client.list_tags(private)


async def test_real_token_service_refuses_a_wrong_password_without_echoing_it(
    token_registry, make_client
):
    reg = token_registry.registry
    client = make_client(reg.host, Credentials(AUTH_USER, CANARY))
    with pytest.raises(errors.DiscoveryError) as info:
        await client.list_tags(unique_repo("private"))
    assert "token service refused the credentials (HTTP 401)" in str(info.value)
    assert CANARY not in str(info.value)


async def test_client_for_a_repo_url_talks_to_its_registry(registry, pusher):
    from kargo.discovery import registry as reg

    repo = unique_repo()
    pusher.image(repo, "1.0.0")
    async with reg.client_for(f"{registry.host}/{repo}") as client:
        assert client.host == registry.host
        assert await client.list_tags(repo) == ["1.0.0"]
