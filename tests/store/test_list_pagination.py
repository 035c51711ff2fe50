"""Lists page with a limit and an opaque continue token, in (namespace, name) order, and every
page carries the first page's resourceVersion so a watch from it loses nothing."""

from __future__ import annotations

import pytest

from kargo import errors
from kargo.store import interface
from tests.store.conftest import project, stage


async def _all_pages(store, limit, **options):
    names, token, rvs = [], None, []
    while True:
        page = await store.list(
            "Stage", interface.ListOptions(limit=limit, continue_token=token, **options)
        )
        names += [f"{o['metadata']['namespace']}/{o['metadata']['name']}" for o in page.items]
        rvs.append(page.resource_version)
        token = page.continue_token
        if token is None:
            return names, rvs


async def test_pages_cover_every_object_once_in_order(store):
    expected = []
    for ns in ("a", "b"):
        for i in range(7):
            await store.create(stage(f"s{i:02d}", project=ns, labels={"odd": str(i % 2)}))
            expected.append(f"{ns}/s{i:02d}")
    for limit in (1, 3, 7, 14, 100):
        names, rvs = await _all_pages(store, limit)
        assert names == expected
        assert len(set(rvs)) == 1


async def test_pages_with_a_selector(store):
    for i in range(10):
        await store.create(stage(f"s{i}", labels={"odd": str(i % 2)}))
    names, _ = await _all_pages(store, 2, label_selector="odd=1")
    assert names == ["demo/s1", "demo/s3", "demo/s5", "demo/s7", "demo/s9"]


async def test_exact_page_has_no_continue_token(store):
    for i in range(3):
        await store.create(stage(f"s{i}"))
    page = await store.list("Stage", interface.ListOptions(limit=3))
    assert len(page.items) == 3
    assert page.continue_token is None


async def test_later_pages_keep_the_first_pages_resource_version(store):
    for i in range(4):
        await store.create(stage(f"s{i}"))
    first = await store.list("Stage", interface.ListOptions(limit=2))
    await store.create(stage("s9"))
    second = await store.list(
        "Stage", interface.ListOptions(limit=2, continue_token=first.continue_token)
    )
    assert second.resource_version == first.resource_version
    assert [o["metadata"]["name"] for o in second.items] == ["s2", "s3"]


async def test_objects_deleted_between_pages_are_skipped(store):
    for i in range(4):
        await store.create(stage(f"s{i}"))
    first = await store.list("Stage", interface.ListOptions(limit=2))
    await store.delete("Stage", "demo", "s1")
    await store.delete("Stage", "demo", "s2")
    second = await store.list(
        "Stage", interface.ListOptions(limit=2, continue_token=first.continue_token)
    )
    assert [o["metadata"]["name"] for o in second.items] == ["s3"]


@pytest.mark.parametrize("token", ["garbage", "eyJ4IjoxfQ", "!!!"])
async def test_bad_continue_token_is_a_validation_error(store, token):
    with pytest.raises(errors.ValidationError) as info:
        await store.list("Stage", interface.ListOptions(limit=1, continue_token=token))
    assert info.value.problems[0].path == "continue"


async def test_token_of_another_kind_is_rejected(store):
    for i in range(2):
        await store.create(stage(f"s{i}"))
    page = await store.list("Stage", interface.ListOptions(limit=1))
    with pytest.raises(errors.ValidationError):
        await store.list(
            "Warehouse", interface.ListOptions(limit=1, continue_token=page.continue_token)
        )


async def test_negative_limit_is_a_validation_error(store):
    with pytest.raises(errors.ValidationError):
        await store.list("Stage", interface.ListOptions(limit=-1))


async def test_cluster_scoped_objects_page_too(store):
    for name in ("p1", "p2", "p3"):
        await store.create(project(name))
    names, token = [], None
    while True:
        page = await store.list("Project", interface.ListOptions(limit=2, continue_token=token))
        names += [o["metadata"]["name"] for o in page.items]
        token = page.continue_token
        if token is None:
            break
    assert names == ["p1", "p2", "p3"]


async def test_selectors_with_different_numbers_of_values_page_on_one_store(store):
    for i in range(6):
        await store.create(stage(f"s{i}", labels={"n": str(i)}))
    for selector, expected in (
        ("n in (1)", ["demo/s1"]),
        ("n in (1,4)", ["demo/s1", "demo/s4"]),
        ("n in (0,2,5)", ["demo/s0", "demo/s2", "demo/s5"]),
        ("n notin (0,2,5)", ["demo/s1", "demo/s3", "demo/s4"]),
        ("n in (1,4)", ["demo/s1", "demo/s4"]),
    ):
        names, _ = await _all_pages(store, 1, label_selector=selector)
        assert names == expected, selector
