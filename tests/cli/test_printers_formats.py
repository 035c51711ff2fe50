"""`kargo get` output: tables with Kargo's columns, and yaml, json and name formats."""

from __future__ import annotations

import json
from datetime import timedelta

import yaml

from kargo import clock
from kargo.cli import printers

NOW = clock.ManualClock().now()


def _obj(kind, name, age_seconds, **extra):
    created = clock.format_time(NOW - timedelta(seconds=age_seconds))
    return {
        "apiVersion": "kargo.akuity.io/v1alpha1",
        "kind": kind,
        "metadata": {"name": name, "namespace": "demo", "creationTimestamp": created},
        **extra,
    }


def test_freight_table_has_name_alias_origin_age():
    freight = _obj(
        "Freight", "abc123", 90, alias="wonky-wombat", origin={"kind": "Warehouse", "name": "w"}
    )
    lines = printers.render("Freight", [freight], output="table", now=NOW).splitlines()
    assert lines[0].split() == ["NAME", "ALIAS", "ORIGIN", "AGE"]
    assert lines[1].split() == ["abc123", "wonky-wombat", "Warehouse/w", "90s"]


def test_promotion_table_has_stage_freight_phase():
    promo = _obj(
        "Promotion",
        "test.01h.abc",
        3 * 3600,
        spec={"stage": "test", "freight": "abc"},
        status={"phase": "Succeeded"},
    )
    out = printers.render("Promotion", [promo], output="table", now=NOW, no_headers=True)
    assert out.split() == ["test.01h.abc", "test", "abc", "Succeeded", "3h"]


def test_stage_table_shows_current_freight_and_shard():
    stage = _obj(
        "Stage",
        "uat",
        5 * 86400,
        spec={"shard": "east"},
        status={
            "freightHistory": [{"items": {"Warehouse/w": {"name": "f1"}}}],
            "health": {"status": "Healthy"},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    )
    lines = printers.render("Stage", [stage], output="table", now=NOW).splitlines()
    assert "CURRENT FREIGHT" in lines[0]
    assert lines[1].split() == ["uat", "east", "f1", "Healthy", "True", "5d"]


def test_age_units():
    assert printers.age(_obj("X", "x", 119), NOW) == "119s"
    assert printers.age(_obj("X", "x", 600), NOW) == "10m"
    assert printers.age(_obj("X", "x", 3 * 86400), NOW) == "3d"
    assert printers.age({"metadata": {}}, NOW) == "<unknown>"


def test_name_yaml_and_json_outputs():
    objs = [
        _obj("Stage", "test", 1),
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}},
    ]
    assert printers.render("Stage", objs, output="name", now=NOW) == (
        "stage.kargo.akuity.io/test\nsecret/s\n"
    )
    listed = yaml.safe_load(printers.render("Stage", objs, output="yaml", now=NOW))
    assert listed["kind"] == "List"
    assert [i["metadata"]["name"] for i in listed["items"]] == ["test", "s"]
    one = json.loads(printers.render("Stage", objs[:1], output="json", now=NOW, single=True))
    assert one["metadata"]["name"] == "test"
