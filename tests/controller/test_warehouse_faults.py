"""WarehouseReconciler under faults and with credentials: a registry answering 429, 500, slowly
or with truncated bodies, a git server that is down, wrong and right credentials (sealed Secrets),
and one slow Warehouse never holding up another under the manager."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest

from kargo import errors
from kargo.clock import SystemClock
from kargo.controller import promotions, runtime, warehouses
from kargo.credentials import database, sealing
from kargo.git import mirror
from tests.controller import test_warehouse_reconciler as base
from tests.controller.test_warehouse_reconciler import (
    KEY,
    NS,
    all_freight,
    conditions,
    make_reconciler,
    warehouse,
)
from tests.fixtures.git import GIT_PASSWORD, GIT_USER
from tests.fixtures.registry import AUTH_PASSWORD, AUTH_USER, Pusher, unique_repo

# the fixtures of the reconciler tests, shared
store = base.store
clock = base.clock
events = base.events
reconciler = base.reconciler


@pytest.fixture
def proxied_repo(fault_proxy, pusher):
    name = unique_repo("faulty")
    for tag in ("1.0.0", "1.1.0"):
        pusher.image(name, tag)
    return f"{fault_proxy.host}/{name}"


def status_text(obj) -> str:
    return json.dumps(obj.get("status") or {})


@pytest.mark.parametrize(
    ("fault", "kwargs", "expect"),
    [
        ("500", {}, "HTTP 500"),
        ("429", {"retry_after": "2"}, "429"),
        ("truncate", {}, ""),
    ],
)
async def test_registry_faults_set_ready_false_then_discovery_recovers(
    store, clock, events, tmp_path, fault_proxy, proxied_repo, fault, kwargs, expect
):
    rec = make_reconciler(
        store, clock, events, tmp_path, registry_max_attempts=2, registry_backoff_base=0.01
    )
    await store.create(warehouse([{"image": {"repoURL": proxied_repo}}]))
    fault_proxy.fail(fault, times=1000, path="/tags/list", **kwargs)

    with pytest.raises(errors.DiscoveryError):
        await rec.reconcile(KEY)  # raised: the work queue retries with backoff

    w = await store.get("Warehouse", NS, "w")
    ready = conditions(w)["Ready"]
    assert (ready["status"], ready["reason"]) == ("False", "DiscoveryFailed")
    assert proxied_repo in ready["message"]
    assert expect in ready["message"]
    assert conditions(w)["Healthy"]["status"] == "False"
    assert await all_freight(store) == []
    assert [e[1:3] for e in events.events] == [("Warning", "DiscoveryFailed")]

    # A retry of the same failure records nothing new (events on transitions only).
    with pytest.raises(errors.DiscoveryError):
        await rec.reconcile(KEY)
    assert len(events.events) == 1

    fault_proxy.faults.clear()
    result = await rec.reconcile(KEY)  # the retry after backoff rediscovers at once
    w = await store.get("Warehouse", NS, "w")
    assert conditions(w)["Ready"]["status"] == "True"
    assert [f["images"][0]["tag"] for f in await all_freight(store)] == ["1.1.0"]
    assert [e[2] for e in events.events] == ["DiscoveryFailed", "FreightCreated", "Recovered"]
    assert result.requeue_after == timedelta(minutes=5)


async def test_a_slow_registry_times_out_and_says_so(
    store, clock, events, tmp_path, fault_proxy, proxied_repo
):
    rec = make_reconciler(
        store, clock, events, tmp_path, registry_timeout=0.2, registry_max_attempts=1
    )
    await store.create(warehouse([{"image": {"repoURL": proxied_repo}}]))
    fault_proxy.fail("slow", times=10, path="/tags/list", delay=2.0)
    with pytest.raises(errors.DiscoveryError):
        await rec.reconcile(KEY)
    ready = conditions(await store.get("Warehouse", NS, "w"))["Ready"]
    assert ready["reason"] == "DiscoveryFailed"
    assert proxied_repo in ready["message"]


async def test_a_git_server_that_is_down_is_reported_and_retried(store, reconciler, git_down_url):
    await store.create(warehouse([{"git": {"repoURL": git_down_url}}]))
    with pytest.raises(errors.DiscoveryError):
        await reconciler.reconcile(KEY)
    w = await store.get("Warehouse", NS, "w")
    ready = conditions(w)["Ready"]
    assert (ready["status"], ready["reason"]) == ("False", "DiscoveryFailed")
    assert git_down_url in ready["message"]
    # the next attempt (the queue's backoff retry) tries again rather than waiting an interval
    assert reconciler.should_discover(w, reconciler.clock.now(), timedelta(minutes=5))


async def test_one_failing_subscription_fails_the_pass_but_names_only_itself(
    store, reconciler, registry, pusher, git_down_url
):
    name = unique_repo("ok")
    pusher.image(name, "1.0.0")
    await store.create(
        warehouse(
            [
                {"image": {"repoURL": f"{registry.host}/{name}"}},
                {"git": {"repoURL": git_down_url}},
            ]
        )
    )
    with pytest.raises(errors.DiscoveryError) as info:
        await reconciler.reconcile(KEY)
    assert git_down_url in str(info.value)
    assert registry.host not in str(info.value)


def sealed_secret(cipher, name, cred_type, repo_url, username, password):
    return cipher.seal(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": name,
                "namespace": NS,
                "labels": {database.CRED_TYPE_LABEL: cred_type},
            },
            "stringData": {"repoURL": repo_url, "username": username, "password": password},
        }
    )


async def test_credentials_from_sealed_secrets_open_an_htpasswd_registry_and_a_git_server(
    store, clock, events, tmp_path, auth_registry, git_server
):
    name = unique_repo("private")
    with Pusher(auth_registry.url, auth=auth_registry.auth) as p:
        p.image(name, "3.1.4")
    git_url = git_server.create_repo("private")
    head = git_server.writer("private").commit({"x": "1"}, "private commit")
    cipher = sealing.SecretCipher(sealing.generate_key())
    image_url = f"{auth_registry.host}/{name}"
    await store.create(sealed_secret(cipher, "reg", "image", image_url, AUTH_USER, AUTH_PASSWORD))
    await store.create(sealed_secret(cipher, "git", "git", git_url, GIT_USER, GIT_PASSWORD))
    provider = database.StoreCredentials(store, cipher, allow_over_http=True)
    rec = make_reconciler(store, clock, events, tmp_path, credentials=provider)
    await store.create(
        warehouse([{"image": {"repoURL": image_url}}, {"git": {"repoURL": git_url}}])
    )

    await rec.reconcile(KEY)

    [freight] = await all_freight(store)
    assert freight["images"][0]["tag"] == "3.1.4"
    assert freight["commits"][0]["id"] == head
    raw = json.dumps(await store.get("Secret", NS, "reg"))
    assert AUTH_PASSWORD not in raw  # sealed at rest


async def test_wrong_credentials_are_reported_without_the_password(
    store, clock, events, tmp_path, git_server
):
    git_url = git_server.create_repo("private")
    git_server.writer("private").commit({"x": "1"}, "c")
    cipher = sealing.SecretCipher(sealing.generate_key())
    canary = "wrong-canary-" + GIT_PASSWORD[::-1]
    await store.create(sealed_secret(cipher, "git", "git", git_url, GIT_USER, canary))
    provider = database.StoreCredentials(store, cipher, allow_over_http=True)
    rec = make_reconciler(store, clock, events, tmp_path, credentials=provider)
    await store.create(warehouse([{"git": {"repoURL": git_url}}]))
    with pytest.raises(errors.DiscoveryError) as info:
        await rec.reconcile(KEY)
    w = await store.get("Warehouse", NS, "w")
    assert canary not in str(info.value)
    assert canary not in status_text(w)
    assert conditions(w)["Ready"]["status"] == "False"


async def test_credentials_over_plain_http_are_refused_unless_allowed(
    store, clock, events, tmp_path, git_server
):
    git_url = git_server.create_repo("private")
    git_server.writer("private").commit({"x": "1"}, "c")
    cipher = sealing.SecretCipher(sealing.generate_key())
    await store.create(sealed_secret(cipher, "git", "git", git_url, GIT_USER, GIT_PASSWORD))
    provider = database.StoreCredentials(store, cipher)
    rec = make_reconciler(store, clock, events, tmp_path, credentials=provider)
    await store.create(warehouse([{"git": {"repoURL": git_url}}]))
    result = await rec.reconcile(KEY)  # a user error: no backoff, the next interval
    w = await store.get("Warehouse", NS, "w")
    ready = conditions(w)["Ready"]
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSubscription")
    assert "plain http" in ready["message"]
    assert GIT_PASSWORD not in status_text(w)
    assert result.requeue_after == timedelta(minutes=5)


async def test_a_slow_warehouse_never_blocks_another_under_the_manager(
    store, tmp_path, registry, pusher, fault_proxy
):
    fast_name = unique_repo("fast")
    slow_name = unique_repo("slow")
    pusher.image(fast_name, "1.0.0")
    pusher.image(slow_name, "1.0.0")
    fault_proxy.fail("slow", times=5, path=f"{slow_name}/tags/list", delay=3.0)
    system_clock = SystemClock()
    manager = runtime.Manager(store, system_clock, resync=None)
    slow_reconciler = warehouses.WarehouseReconciler(
        store,
        system_clock,
        mirrors=mirror.MirrorCache(tmp_path / "m"),
        config=warehouses.WarehouseConfig(registry_rate_limit=10_000.0, registry_timeout=10),
        events=promotions.MemoryEvents(),
    )
    manager.register("Warehouse", slow_reconciler, concurrency=2)
    slow = warehouse([{"image": {"repoURL": f"{fault_proxy.host}/{slow_name}"}}])
    slow["metadata"]["name"] = "slow"
    await store.create(slow)
    fast = warehouse([{"image": {"repoURL": f"{registry.host}/{fast_name}"}}])
    fast["metadata"]["name"] = "fast"
    await store.create(fast)
    stop = asyncio.Event()
    task = asyncio.create_task(manager.run(stop))
    try:
        fast_done = False
        for _ in range(200):  # bounded polling; no timing is asserted
            obj = await store.get("Warehouse", NS, "fast")
            if (obj.get("status") or {}).get("lastFreightID"):
                fast_done = True
                break
            await asyncio.sleep(0.02)
        slow_obj = await store.get("Warehouse", NS, "slow")
        assert fast_done
        assert not (slow_obj.get("status") or {}).get("lastFreightID")  # still discovering
    finally:
        stop.set()
        await task


async def test_new_credentials_wake_the_warehouses_that_may_use_them(store):
    await store.create(warehouse([{"git": {"repoURL": "https://git.example/a.git"}}]))
    wake = warehouses.CredentialsToWarehouses(store)
    cipher = sealing.SecretCipher(sealing.generate_key())
    secret = sealed_secret(cipher, "g", "git", "https://git.example/a.git", "u", "p")
    assert await wake(secret) == [KEY]
    secret["metadata"]["namespace"] = database.SHARED_NAMESPACE
    assert await wake(secret) == [KEY]  # shared credentials: every project's Warehouses
    secret["metadata"]["namespace"] = "other"
    assert await wake(secret) == []
    secret["metadata"]["labels"] = {database.CRED_TYPE_LABEL: "generic"}
    assert await wake(secret) == []


def test_server_settings_come_from_the_environment_and_bad_values_say_how_to_fix_them():
    config = warehouses.WarehouseConfig.from_env(
        {
            "KARGO_MIN_WAREHOUSE_INTERVAL": "5m0s",
            "KARGO_PLAIN_HTTP_REGISTRIES": "reg.local:5000, other:80",
            "KARGO_REGISTRY_RATE_LIMIT": "2.5",
            "MAX_CONCURRENT_WAREHOUSE_RECONCILES": "8",
        }
    )
    assert config.min_interval == timedelta(minutes=5)
    assert config.plain_http_registries == frozenset({"reg.local:5000", "other:80"})
    assert config.registry_rate_limit == 2.5
    assert warehouses.warehouse_concurrency(config) == 8
    with pytest.raises(errors.ValidationError, match="use e.g. 5m0s"):
        warehouses.WarehouseConfig.from_env({"KARGO_MIN_WAREHOUSE_INTERVAL": "soon"})
    with pytest.raises(errors.ValidationError, match="positive"):
        warehouses.WarehouseConfig.from_env({"KARGO_REGISTRY_RATE_LIMIT": "-1"})
