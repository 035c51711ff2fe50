"""`open_store` accepts None, a path, sqlite:/// and postgresql:// URLs, refuses what it cannot
use with a how-to-fix message, and migrates the schema on open (idempotently)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from kargo import errors
from kargo.store import engine, open_store
from tests.store.conftest import stage


def test_none_and_paths_mean_sqlite(tmp_path):
    assert engine.parse_url(None).sqlite_path == Path("kargo.db").absolute()
    assert engine.parse_url(str(tmp_path / "x.db")).sqlite_path == tmp_path / "x.db"
    assert engine.parse_url(f"sqlite:///{tmp_path}/y.db").sqlite_path == tmp_path / "y.db"


def test_postgres_urls_use_psycopg_and_hide_the_password():
    target = engine.parse_url("postgres://kargo:s3cret@db.example:5432/kargo")
    assert target.dialect == "postgresql"
    assert target.url.drivername == "postgresql+psycopg"
    assert "s3cret" not in target.display
    assert target.libpq_dsn == "postgresql://kargo:s3cret@db.example:5432/kargo"


@pytest.mark.parametrize(
    "url", ["mysql://x@y/z", "sqlite://", "sqlite:///:memory:", "postgresql+asyncpg://u@h/d"]
)
def test_unusable_urls_are_validation_errors_with_a_hint(url):
    with pytest.raises(errors.ValidationError) as info:
        engine.parse_url(url)
    assert info.value.problems[0].hint


async def test_sqlite_file_is_created_in_wal_mode_with_its_directory(tmp_path):
    path = tmp_path / "nested" / "dir" / "kargo.db"
    store = await open_store(str(path))
    try:
        await store.create(stage("a"))
    finally:
        await store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT version_num FROM kargo_schema_version").fetchone()[0] == (
            engine.head_revision()
        )


async def test_unreachable_postgres_is_unavailable_without_the_password():
    with pytest.raises(errors.UnavailableError) as info:
        await open_store("postgresql://kargo:s3cret@127.0.0.1:1/kargo")
    assert "s3cret" not in str(info.value)
    assert "127.0.0.1" in str(info.value)


async def test_reopening_keeps_data_and_schema(store_url, clock):
    first = await open_store(store_url, clock=clock)
    created = await first.create(stage("a"))
    await first.close()
    second = await open_store(store_url, clock=clock)
    try:
        assert await second.get("Stage", "demo", "a") == created
    finally:
        await second.close()


async def test_replicas_opening_at_once_migrate_once(store_url, clock):
    stores = await asyncio.gather(*(open_store(store_url, clock=clock) for _ in range(3)))
    try:
        await stores[0].create(stage("a"))
        assert (await stores[2].get("Stage", "demo", "a"))["metadata"]["name"] == "a"
    finally:
        for s in stores:
            await s.close()
