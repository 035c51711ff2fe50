"""Freight availability, soak and auto-promotion candidates follow Kargo's rules exactly."""

from datetime import UTC, datetime, timedelta

import pytest

from kargo.api.availability import (
    auto_promotion_candidate,
    freight_collection_id,
    freight_summary,
    is_available,
    longest_soak,
    newest_first,
)

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def ts(minutes_ago):
    return (NOW - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def stage(
    name="uat", direct=False, stages=(), strategy=None, soak=None, policy=None, warehouse="w"
):
    sources = {"direct": direct, "stages": list(stages)}
    if strategy:
        sources["availabilityStrategy"] = strategy
    if soak:
        sources["requiredSoakTime"] = soak
    if policy:
        sources["autoPromotionOptions"] = {"selectionPolicy": policy}
    return {
        "metadata": {"name": name, "namespace": "p"},
        "spec": {
            "requestedFreight": [
                {"origin": {"kind": "Warehouse", "name": warehouse}, "sources": sources}
            ]
        },
        "status": {},
    }


def freight(
    name="f1", warehouse="w", verified=None, current=None, approved=(), rejected=(), discovered=0
):
    status = {
        "verifiedIn": verified or {},
        "currentlyIn": current or {},
        "approvedFor": {s: {} for s in approved},
    }
    if rejected:
        status["rejectedFor"] = {s: {"actor": "admin"} for s in rejected}
    return {
        "metadata": {"name": name, "namespace": "p"},
        "origin": {"kind": "Warehouse", "name": warehouse},
        "discoveredAt": ts(discovered),
        "status": status,
    }


@pytest.mark.parametrize(
    ("st", "fr", "expected"),
    [
        (stage(direct=True), freight(), True),
        (stage(direct=True, warehouse="other"), freight(), False),
        (stage(stages=["test"]), freight(), False),
        (stage(stages=["test"]), freight(verified={"test": {}}), True),
        (stage(stages=["test", "qa"]), freight(verified={"qa": {}}), True),
        (stage(stages=["test", "qa"], strategy="All"), freight(verified={"qa": {}}), False),
        (
            stage(stages=["test", "qa"], strategy="All"),
            freight(verified={"qa": {}, "test": {}}),
            True,
        ),
        (stage(stages=["test"]), freight(approved=["uat"]), True),
        (stage(direct=True), freight(rejected=["uat"]), False),
        (stage(direct=True), freight(rejected=["*"]), False),
        (stage(direct=True), freight(rejected=["prod"]), True),
        (stage(stages=["test"]), freight(approved=["uat"], rejected=["uat"]), False),
    ],
)
def test_availability(st, fr, expected):
    assert is_available(st, fr, NOW) is expected


def test_soak_counts_time_in_the_upstream_stage_since_it_arrived():
    st = stage(stages=["test"], soak="1h")
    young = freight(verified={"test": {}}, current={"test": {"since": ts(30)}})
    old = freight(verified={"test": {}}, current={"test": {"since": ts(61)}})
    assert not is_available(st, young, NOW)
    assert is_available(st, old, NOW)


def test_soak_uses_the_longest_completed_soak_after_leaving():
    fr = freight(verified={"test": {"longestSoak": "2h0m0s"}})
    assert longest_soak(fr, "test", NOW) == timedelta(hours=2)
    assert is_available(stage(stages=["test"], soak="1h"), fr, NOW)


def test_soak_is_zero_unless_verified():
    assert longest_soak(freight(current={"test": {"since": ts(600)}}), "test", NOW) == timedelta(0)


def test_approval_bypasses_soak():
    assert is_available(stage(stages=["test"], soak="24h"), freight(approved=["uat"]), NOW)


def test_newest_freight_candidate_is_the_newest_available():
    st = stage(stages=["test"])
    f_old = freight("aaa", verified={"test": {}}, discovered=30)
    f_new = freight("bbb", verified={"test": {}}, discovered=10)
    f_newest_unverified = freight("ccc", discovered=1)
    got = auto_promotion_candidate(
        st, st["spec"]["requestedFreight"][0], [f_old, f_new, f_newest_unverified], {}, NOW
    )
    assert got["metadata"]["name"] == "bbb"


def test_match_upstream_candidate_is_what_the_upstream_stage_runs():
    st = stage(stages=["test"], policy="MatchUpstream")
    upstream = stage("test", direct=True)
    upstream["status"]["freightHistory"] = [{"items": {"Warehouse/w": {"name": "aaa"}}}]
    f_old = freight("aaa", verified={"test": {}}, discovered=30)
    f_new = freight("bbb", verified={"test": {}}, discovered=10)
    got = auto_promotion_candidate(
        st, st["spec"]["requestedFreight"][0], [f_old, f_new], {"test": upstream}, NOW
    )
    assert got["metadata"]["name"] == "aaa"


def test_ties_on_discovery_time_break_by_name_descending():
    a, b = freight("aaa", discovered=5), freight("bbb", discovered=5)
    assert [f["metadata"]["name"] for f in newest_first([a, b])] == ["bbb", "aaa"]


def test_freight_collection_id_is_sha1_of_sorted_names():
    import hashlib

    assert freight_collection_id(["b", "a"]) == hashlib.sha1(b"a,b").hexdigest()


def test_freight_summary():
    st = stage(direct=True)
    assert freight_summary(st) == "0/1 Fulfilled"
    st["status"]["freightHistory"] = [{"items": {"Warehouse/w": {"name": "abc"}}}]
    assert freight_summary(st) == "abc"
