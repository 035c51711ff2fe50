"""Registry faults: 429 with Retry-After, 5xx, stalls and truncated bodies are retried with
backoff, then reported clearly; tag lists are followed across Link pages."""

from __future__ import annotations

import pytest

from kargo import errors
from kargo.discovery import images, ratelimit
from tests.fixtures.registry import unique_repo


@pytest.fixture
def repo(pusher):
    name = unique_repo()
    for tag in ["1.0.0", "1.1.0", "1.2.0"]:
        pusher.image(name, tag)
    return name


async def test_429_waits_for_retry_after_then_succeeds(fault_proxy, repo, make_client, sleeps):
    fault_proxy.fail("429", times=2, path="/tags/list", retry_after="7")
    client = make_client(fault_proxy.host)
    assert sorted(await client.list_tags(repo)) == ["1.0.0", "1.1.0", "1.2.0"]
    assert sleeps.waits == [7.0, 7.0]
    assert client.counters["tag-list"] == 3


async def test_429_without_retry_after_backs_off_exponentially(
    fault_proxy, repo, make_client, sleeps
):
    fault_proxy.fail("429", times=3, path="/tags/list")
    client = make_client(fault_proxy.host, backoff_base=1.0, backoff_max=100)
    await client.list_tags(repo)
    assert len(sleeps.waits) == 3
    # jittered around 1, 2, 4 seconds
    for wait, base in zip(sleeps.waits, [1, 2, 4], strict=True):
        assert 0.5 * base <= wait <= 1.5 * base


async def test_server_errors_are_retried_then_reported(fault_proxy, repo, make_client, sleeps):
    fault_proxy.fail("500", times=2, path="/manifests/")
    client = make_client(fault_proxy.host)
    sub = {"repoURL": f"{fault_proxy.host}/{repo}"}
    refs = await images.discover_images(sub, client, images_cache := _cache())
    assert len(refs) == 3
    assert client.retries == 2

    fault_proxy.fail("500", times=100, path="/tags/list")
    with pytest.raises(errors.DiscoveryError) as info:
        await images.discover_images(
            sub, make_client(fault_proxy.host, max_attempts=3), images_cache
        )
    message = str(info.value)
    assert f"error listing tags of {fault_proxy.host}/{repo}" in message
    assert "HTTP 500" in message
    assert "gave up after 3 attempts" in message


async def test_stalled_responses_time_out_and_are_retried(fault_proxy, repo, make_client):
    fault_proxy.fail("slow", times=1, path="/tags/list", delay=2.0)
    client = make_client(fault_proxy.host, timeout=0.3)
    assert len(await client.list_tags(repo)) == 3
    assert client.retries == 1

    fault_proxy.fail("slow", times=2, path="/tags/list", delay=2.0)
    with pytest.raises(errors.DiscoveryError, match="timed out; gave up after 2 attempts"):
        await make_client(fault_proxy.host, timeout=0.3, max_attempts=2).list_tags(repo)


@pytest.mark.parametrize("path", ["/tags/list", "/manifests/sha256", "/blobs/"])
async def test_truncated_bodies_are_retried(fault_proxy, repo, make_client, path):
    fault_proxy.fail("truncate", times=1, path=path, method="GET")
    client = make_client(fault_proxy.host)
    sub = {"repoURL": f"{fault_proxy.host}/{repo}"}
    refs = await images.discover_images(sub, client, _cache())
    assert [r["tag"] for r in refs] == ["1.2.0", "1.1.0", "1.0.0"]
    assert client.retries == 1


async def test_always_truncated_body_ends_in_a_clear_error(fault_proxy, repo, make_client):
    fault_proxy.fail("truncate", times=100, path="/tags/list")
    client = make_client(fault_proxy.host, max_attempts=2)
    with pytest.raises(errors.DiscoveryError, match="incomplete response"):
        await client.list_tags(repo)


async def test_tag_lists_follow_link_pagination(fault_proxy, pusher, make_client):
    name = unique_repo()
    for i in range(7):
        pusher.image(name, f"1.{i}.0")
    fault_proxy.page_size = 3
    client = make_client(fault_proxy.host)
    tags = await client.list_tags(name)
    assert sorted(tags) == [f"1.{i}.0" for i in range(7)]
    assert client.counters["tag-list"] == 3


async def test_token_bucket_spaces_requests_at_the_rate():
    now = [0.0]
    waits: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    bucket = ratelimit.TokenBucket(10, burst=2, monotonic=lambda: now[0], sleep=fake_sleep)
    for _ in range(5):
        await bucket.acquire()
    # two from the burst, then one every 0.1s
    assert waits == pytest.approx([0.1, 0.1, 0.1])


def test_shared_bucket_is_one_per_registry_host():
    a = ratelimit.shared_bucket("Example.com:5000", 20)
    assert ratelimit.shared_bucket("example.com:5000", 20) is a
    assert ratelimit.shared_bucket("other:5000", 20) is not a


def _cache():
    from kargo.discovery import cache

    return cache.InMemoryMetadataCache()
