"""WarehouseReconciler on a real SQLite store against the real registry, git and chart servers:
Freight creation (ID, alias, lastFreightID), Manual policy, criteria, zero results, refresh and
the interval (ManualClock), and events on transitions only."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from kargo.api import freight_id
from kargo.clock import ManualClock
from kargo.controller import promotions, warehouses
from kargo.credentials import interface as creds
from kargo.git import mirror
from kargo.store import open_store
from kargo.store.interface import ListOptions, ObjectKey
from tests.fixtures.registry import unique_repo

NS = "demo"
KEY = ObjectKey("Warehouse", NS, "w")


@pytest.fixture
async def store(tmp_path):
    s = await open_store(f"sqlite:///{tmp_path}/kargo.db")
    await s.create(
        {"apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Project", "metadata": {"name": NS}}
    )
    yield s
    await s.close()


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture
def events():
    return promotions.MemoryEvents()


def make_reconciler(store, clock, events, tmp_path, credentials=None, **config: Any):
    config.setdefault("registry_rate_limit", 10_000.0)
    return warehouses.WarehouseReconciler(
        store,
        clock,
        credentials=credentials or creds.NoCredentials(),
        mirrors=mirror.MirrorCache(tmp_path / "mirrors"),
        config=warehouses.WarehouseConfig(**config),
        events=events,
    )


@pytest.fixture
def reconciler(store, clock, events, tmp_path):
    return make_reconciler(store, clock, events, tmp_path)


def warehouse(subscriptions: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "kargo.akuity.io/v1alpha1",
        "kind": "Warehouse",
        "metadata": {"name": "w", "namespace": NS},
        "spec": {"subscriptions": subscriptions, **spec},
    }


def conditions(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in (obj.get("status") or {}).get("conditions") or []}


async def all_freight(store) -> list[dict[str, Any]]:
    return (await store.list("Freight", ListOptions(namespace=NS))).items


@pytest.fixture
def image_repo(registry, pusher):
    name = unique_repo("wh")
    pushed = {tag: pusher.image(name, tag) for tag in ("1.0.0", "1.2.0", "1.1.0", "latest")}
    return f"{registry.host}/{name}", pushed


async def test_image_git_and_chart_warehouse_creates_one_freight_with_the_kargo_id(
    store, reconciler, events, image_repo, git_open_server, chart_repo
):
    image_url, pushed = image_repo
    git_url = git_open_server.create_repo("app")
    writer = git_open_server.writer("app")
    writer.commit({"a.txt": "1"}, "first")
    head = writer.commit({"a.txt": "2"}, "second change")
    chart_repo.add("mychart", "0.1.0", "0.2.0")
    await store.create(
        warehouse(
            [
                {"image": {"repoURL": image_url, "constraint": "^1.0.0"}},
                {"git": {"repoURL": git_url}},
                {"chart": {"repoURL": chart_repo.url, "name": "mychart"}},
            ]
        )
    )

    result = await reconciler.reconcile(KEY)

    [freight] = await all_freight(store)
    expected_id = freight_id.freight_id(
        {
            "origin": {"kind": "Warehouse", "name": "w"},
            "images": [{"repoURL": image_url, "tag": "1.2.0", "digest": pushed["1.2.0"].digest}],
            "commits": [{"repoURL": git_url, "id": head}],
            "charts": [{"repoURL": chart_repo.url, "name": "mychart", "version": "0.2.0"}],
        }
    )
    assert freight["metadata"]["name"] == expected_id
    assert freight["images"][0]["tag"] == "1.2.0"
    assert freight["commits"][0]["message"] == "second change"
    assert freight["charts"][0]["version"] == "0.2.0"
    assert freight["alias"]
    assert freight["metadata"]["labels"]["kargo.akuity.io/alias"] == freight["alias"]
    w = await store.get("Warehouse", NS, "w")
    status = w["status"]
    assert status["lastFreightID"] == expected_id
    assert status["observedGeneration"] == 1
    discovered = status["discoveredArtifacts"]
    assert [r["tag"] for r in discovered["images"][0]["references"]] == ["1.2.0", "1.1.0", "1.0.0"]
    assert discovered["git"][0]["observedRefs"] == {"branchHead": head}
    assert discovered["charts"][0]["versions"] == ["0.2.0", "0.1.0"]
    conds = conditions(w)
    assert conds["Ready"]["status"] == "True"
    assert conds["Healthy"]["status"] == "True"
    assert conds["FreightCreated"]["status"] == "True"
    assert events.events == [
        ("demo/w", "Normal", "FreightCreated", f"created Freight {expected_id}")
    ]
    assert result.requeue_after == timedelta(minutes=5)


async def test_rediscovery_of_the_same_artifacts_reports_already_exists_without_new_events(
    store, reconciler, events, clock, image_repo
):
    image_url, _ = image_repo
    await store.create(warehouse([{"image": {"repoURL": image_url}}], interval="1m"))
    await reconciler.reconcile(KEY)
    first = (await store.get("Warehouse", NS, "w"))["status"]["lastFreightID"]

    clock.advance(timedelta(minutes=1))
    await reconciler.reconcile(KEY)

    w = await store.get("Warehouse", NS, "w")
    assert w["status"]["lastFreightID"] == first
    created = conditions(w)["FreightCreated"]
    assert (created["status"], created["reason"]) == ("False", "AlreadyExists")
    assert len(await all_freight(store)) == 1
    assert len(events.events) == 1  # FreightCreated once; no event for an unchanged pass
    assert reconciler.discoveries == 2


async def test_a_new_tag_creates_new_freight_on_the_next_interval(
    store, reconciler, clock, image_repo, pusher
):
    image_url, _ = image_repo
    await store.create(warehouse([{"image": {"repoURL": image_url}}], interval="2m"))
    await reconciler.reconcile(KEY)
    pusher.image(image_url.split("/", 1)[1], "2.0.0")

    clock.advance(timedelta(minutes=1))
    early = await reconciler.reconcile(KEY)
    assert early.requeue_after == timedelta(minutes=1)
    assert len(await all_freight(store)) == 1  # not yet: the interval has not elapsed

    clock.advance(timedelta(minutes=1))
    await reconciler.reconcile(KEY)
    tags = sorted(f["images"][0]["tag"] for f in await all_freight(store))
    assert tags == ["1.2.0", "2.0.0"]


async def test_min_interval_of_the_server_wins_over_a_shorter_spec_interval(
    store, clock, events, tmp_path, image_repo
):
    image_url, _ = image_repo
    reconciler = make_reconciler(store, clock, events, tmp_path, min_interval=timedelta(minutes=10))
    await store.create(warehouse([{"image": {"repoURL": image_url}}], interval="1m"))
    result = await reconciler.reconcile(KEY)
    assert result.requeue_after == timedelta(minutes=10)
    clock.advance(timedelta(minutes=9, seconds=59, milliseconds=950))
    again = await reconciler.reconcile(KEY)
    assert again.requeue_after == timedelta(milliseconds=100)  # the floor
    assert reconciler.discoveries == 1


async def test_manual_policy_discovers_but_never_creates_freight(store, reconciler, image_repo):
    image_url, _ = image_repo
    await store.create(
        warehouse([{"image": {"repoURL": image_url}}], freightCreationPolicy="Manual")
    )
    await reconciler.reconcile(KEY)
    w = await store.get("Warehouse", NS, "w")
    assert await all_freight(store) == []
    assert w["status"]["discoveredArtifacts"]["images"][0]["references"][0]["tag"] == "1.2.0"
    assert "lastFreightID" not in w["status"]
    ready = conditions(w)["Ready"]
    assert (ready["status"], ready["reason"]) == ("True", "ManualPolicy")


@pytest.mark.parametrize(
    ("expression", "created", "reason"),
    [
        ("imageFrom('{url}').Tag == '1.2.0'", True, "FreightCreated"),
        ("imageFrom('{url}').Tag == '9.9.9'", False, "CriteriaNotSatisfied"),
        ("'true'", True, "FreightCreated"),
    ],
)
async def test_freight_creation_criteria_decide_whether_freight_is_created(
    store, reconciler, image_repo, expression, created, reason
):
    image_url, _ = image_repo
    criteria = {"expression": expression.format(url=image_url)}
    await store.create(
        warehouse([{"image": {"repoURL": image_url}}], freightCreationCriteria=criteria)
    )
    await reconciler.reconcile(KEY)
    w = await store.get("Warehouse", NS, "w")
    assert bool(await all_freight(store)) is created
    assert conditions(w)["FreightCreated"]["reason"] == reason
    assert conditions(w)["Ready"]["status"] == "True"


async def test_criteria_that_fail_to_evaluate_set_criteria_evaluation_failed(
    store, reconciler, image_repo
):
    image_url, _ = image_repo
    criteria = {"expression": "imageFrom('nowhere.example/x').Tag == "}
    await store.create(
        warehouse([{"image": {"repoURL": image_url}}], freightCreationCriteria=criteria)
    )
    result = await reconciler.reconcile(KEY)  # no exception: not retried with backoff
    w = await store.get("Warehouse", NS, "w")
    assert await all_freight(store) == []
    for kind in ("Ready", "Healthy"):
        cond = conditions(w)[kind]
        assert (cond["status"], cond["reason"]) == ("False", "CriteriaEvaluationFailed")
        assert "freightCreationCriteria" in cond["message"]
    assert result.requeue_after == timedelta(minutes=5)


@pytest.mark.parametrize(
    ("sub", "reason"),
    [
        ({"image": {"constraint": "^9.0.0"}}, "NoImageReferencesDiscovered"),
        (
            {"chart": {"name": "mychart", "semverConstraint": ">=5.0.0"}},
            "NoChartVersionsDiscovered",
        ),
        ({"git": {"includePaths": ["nothing-here/"]}}, "NoCommitsDiscovered"),
    ],
)
async def test_a_subscription_with_no_results_is_unhealthy_and_creates_no_freight(
    store, reconciler, events, image_repo, chart_repo, git_open_server, sub, reason
):
    image_url, _ = image_repo
    chart_repo.add("mychart", "0.1.0")
    git_url = git_open_server.create_repo("app")
    git_open_server.writer("app").commit({"a.txt": "1"}, "first")
    urls = {"image": image_url, "chart": chart_repo.url, "git": git_url}
    [kind] = sub
    sub[kind]["repoURL"] = urls[kind]
    await store.create(warehouse([sub]))

    result = await reconciler.reconcile(KEY)

    w = await store.get("Warehouse", NS, "w")
    assert await all_freight(store) == []
    for cond_type in ("Ready", "Healthy"):
        cond = conditions(w)[cond_type]
        assert (cond["status"], cond["reason"]) == ("False", reason)
        assert urls[kind] in cond["message"]
    assert result.requeue_after == timedelta(minutes=5)
    assert [e[1:3] for e in events.events] == [("Warning", reason)]


async def test_refresh_annotation_triggers_discovery_before_the_interval(
    store, reconciler, clock, image_repo, pusher
):
    image_url, _ = image_repo
    await store.create(warehouse([{"image": {"repoURL": image_url}}]))
    await reconciler.reconcile(KEY)
    pusher.image(image_url.split("/", 1)[1], "1.3.0")
    clock.advance(timedelta(seconds=5))
    await reconciler.reconcile(KEY)
    assert reconciler.discoveries == 1

    w = await store.get("Warehouse", NS, "w")
    w["metadata"].setdefault("annotations", {})[warehouses.REFRESH_ANNOTATION] = "now-1"
    await store.update(w)
    await reconciler.reconcile(KEY)

    w = await store.get("Warehouse", NS, "w")
    assert w["status"]["lastHandledRefresh"] == "now-1"
    assert reconciler.discoveries == 2
    assert sorted(f["images"][0]["tag"] for f in await all_freight(store)) == ["1.2.0", "1.3.0"]
    await reconciler.reconcile(KEY)  # the token is handled: no third discovery
    assert reconciler.discoveries == 2


async def test_a_spec_change_rediscovers_at_once(store, reconciler, clock, image_repo):
    image_url, _ = image_repo
    await store.create(warehouse([{"image": {"repoURL": image_url}}]))
    await reconciler.reconcile(KEY)
    w = await store.get("Warehouse", NS, "w")
    w["spec"]["subscriptions"][0]["image"]["constraint"] = "~1.0"
    await store.update(w)
    clock.advance(timedelta(seconds=1))
    await reconciler.reconcile(KEY)
    w = await store.get("Warehouse", NS, "w")
    assert w["status"]["observedGeneration"] == 2
    refs = w["status"]["discoveredArtifacts"]["images"][0]["references"]
    assert [r["tag"] for r in refs] == ["1.0.0"]


async def test_git_rediscovery_reuses_previous_commits_when_refs_are_unchanged(
    store, reconciler, clock, git_open_server
):
    git_url = git_open_server.create_repo("app")
    head = git_open_server.writer("app").commit({"a.txt": "1"}, "first")
    await store.create(warehouse([{"git": {"repoURL": git_url}}], interval="1m"))
    await reconciler.reconcile(KEY)
    fetches = reconciler.mirrors.get(git_url).fetches
    assert fetches >= 1

    clock.advance(timedelta(minutes=1))
    await reconciler.reconcile(KEY)

    w = await store.get("Warehouse", NS, "w")
    assert w["status"]["discoveredArtifacts"]["git"][0]["commits"][0]["id"] == head
    assert reconciler.discoveries == 2
    assert reconciler.mirrors.get(git_url).fetches == fetches  # one ls-remote, no fetch


async def test_deleted_warehouse_needs_nothing(store, reconciler):
    result = await reconciler.reconcile(ObjectKey("Warehouse", NS, "gone"))
    assert result.requeue_after is None


async def test_generic_subscription_is_stalled_with_a_clear_message(store, reconciler):
    await store.create(warehouse([{"name": "thing", "myType": {"x": 1}}]))
    result = await reconciler.reconcile(KEY)
    w = await store.get("Warehouse", NS, "w")
    ready = conditions(w)["Ready"]
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSubscription")
    assert "myType" in ready["message"]
    assert result.requeue_after == timedelta(minutes=5)


class RefreshDuringDiscovery:
    """A credentials provider that refreshes the Warehouse while its discovery runs."""

    def __init__(self, store) -> None:
        self.store = store
        self.done = False

    async def get(self, project, cred_type, repo_url):
        if not self.done:
            self.done = True
            w = await self.store.get("Warehouse", NS, "w")
            w["metadata"].setdefault("annotations", {})[warehouses.REFRESH_ANNOTATION] = "mid"
            await self.store.update(w)
        return None


async def test_a_refresh_during_discovery_keeps_the_result_and_triggers_another_pass(
    store, clock, events, tmp_path, image_repo
):
    image_url, _ = image_repo
    provider = RefreshDuringDiscovery(store)
    reconciler = make_reconciler(store, clock, events, tmp_path, credentials=provider)
    await store.create(warehouse([{"image": {"repoURL": image_url}}]))

    await reconciler.reconcile(KEY)  # the status write meets a newer resourceVersion

    w = await store.get("Warehouse", NS, "w")
    assert w["status"]["lastFreightID"]
    assert "lastHandledRefresh" not in w["status"]
    await reconciler.reconcile(KEY)
    w = await store.get("Warehouse", NS, "w")
    assert w["status"]["lastHandledRefresh"] == "mid"
    assert reconciler.discoveries == 2
