"""Labels are validated on write and selected on with Kubernetes label selectors
(=, ==, !=, in, notin, exists, !exists) and metadata.name/namespace field selectors."""

from __future__ import annotations

import pytest

from kargo import errors
from kargo.store import interface, selectors
from tests.store.conftest import stage


async def _names(store, selector=None, fields=None, namespace=None):
    listed = await store.list(
        "Stage",
        interface.ListOptions(
            namespace=namespace, label_selector=selector, field_selector=fields or {}
        ),
    )
    return [o["metadata"]["name"] for o in listed.items]


@pytest.fixture
async def labelled(store):
    await store.create(stage("a", labels={"env": "dev", "tier": "web"}))
    await store.create(stage("b", labels={"env": "prod", "tier": "web"}))
    await store.create(stage("c", labels={"env": "prod"}))
    await store.create(stage("d"))
    await store.create(stage("e", project="other", labels={"env": "dev", "example.com/team": "x"}))
    return store


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("env=prod", ["b", "c"]),
        ("env==prod", ["b", "c"]),
        ("env!=prod", ["a", "d", "e"]),
        ("env in (dev,staging)", ["a", "e"]),
        ("env notin (dev)", ["b", "c", "d"]),
        ("tier", ["a", "b"]),
        ("!tier", ["c", "d", "e"]),
        ("env=prod,tier=web", ["b"]),
        ("env in (dev, prod), !tier", ["c", "e"]),
        ("example.com/team=x", ["e"]),
        ("", ["a", "b", "c", "d", "e"]),
    ],
)
async def test_label_selector_selects_as_kubernetes_does(labelled, selector, expected):
    assert await _names(labelled, selector) == expected


async def test_field_selectors_on_name_and_namespace(labelled):
    assert await _names(labelled, fields={"metadata.name": "b"}) == ["b"]
    assert await _names(labelled, fields={"metadata.namespace": "other"}) == ["e"]
    assert await _names(labelled, "env=dev", fields={"metadata.namespace": "demo"}) == ["a"]
    assert await _names(labelled, namespace="other", fields={"metadata.name": "a"}) == []


async def test_unsupported_field_selector_is_a_validation_error(labelled):
    with pytest.raises(errors.ValidationError) as info:
        await _names(labelled, fields={"spec.shard": "x"})
    assert info.value.problems[0].path == "fieldSelector"
    assert "metadata.name" in info.value.problems[0].hint


@pytest.mark.parametrize(
    "selector",
    ["env=", "=x", "env in dev", "env in ()", "env in (a b)", "a,", "a b", "env>1", "!", "-bad=x"],
)
async def test_label_selector_syntax_errors_are_validation_errors(labelled, selector):
    if selector == "env=":
        # `env=` is valid Kubernetes syntax: the empty value.
        assert await _names(labelled, selector) == []
        return
    with pytest.raises(errors.ValidationError) as info:
        await _names(labelled, selector)
    problem = info.value.problems[0]
    assert problem.path == "labelSelector"
    assert repr(selector) in problem.message
    assert "e.g." in problem.hint


async def test_relabelling_changes_what_selectors_see(labelled):
    b = await labelled.get("Stage", "demo", "b")
    b["metadata"]["labels"] = {"env": "dev"}
    await labelled.update(b)
    assert await _names(labelled, "env=prod") == ["c"]
    assert await _names(labelled, "env=dev") == ["a", "b", "e"]
    assert await _names(labelled, "tier") == ["a"]


async def test_invalid_labels_are_rejected_on_write(store):
    with pytest.raises(errors.ValidationError) as info:
        await store.create(stage("x", labels={"ok": "fine", "bad key!": "v", "n": 1}))
    paths = [p.path for p in info.value.problems]
    assert len(paths) == 2
    assert all(p.startswith("Stage/demo/x.metadata.labels") for p in paths)


def test_requirements_match_objects_without_the_label_for_negations():
    reqs = selectors.parse_label_selector("env!=prod,tier notin (web)")
    assert selectors.matches(reqs, {}, {"metadata": {}})
    assert not selectors.matches(reqs, {}, {"metadata": {"labels": {"env": "prod"}}})
