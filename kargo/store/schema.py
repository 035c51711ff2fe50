"""The store's tables as SQLAlchemy Core metadata, shared by the SQLite and PostgreSQL backends.

The Alembic migrations in `kargo.store.migrations` create exactly these tables; `kargo.store.sql`
queries them. Objects are stored whole, as JSON text, so reads cost one indexed lookup and one
`json.loads` per row; labels are copied to their own table so selectors run in SQL.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

# SQLite only aliases the rowid for a column typed exactly INTEGER.
Id = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData()

# One row (id=1): the newest resourceVersion handed out, and the newest one compacted away.
# Every write transaction locks this row first, so writes (and their events) commit in
# resourceVersion order on every backend.
store_state = Table(
    "kargo_store_state",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("resource_version", BigInteger, nullable=False),
    Column("compacted_version", BigInteger, nullable=False),
)

objects = Table(
    "kargo_objects",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("kind", String(253), nullable=False),
    Column("namespace", String(253), nullable=False),
    Column("name", String(253), nullable=False),
    Column("body", Text, nullable=False),
    Index("ix_kargo_objects_key", "kind", "namespace", "name", unique=True),
    Index("ix_kargo_objects_namespace", "namespace"),
)

labels = Table(
    "kargo_labels",
    metadata,
    Column(
        "object_id",
        Id,
        ForeignKey("kargo_objects.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("key", String(317), primary_key=True),
    Column("value", String(63), nullable=False),
    Index("ix_kargo_labels_key_value", "key", "value"),
)

events = Table(
    "kargo_events",
    metadata,
    Column("resource_version", Id, primary_key=True, autoincrement=False),
    Column("type", String(16), nullable=False),
    Column("kind", String(253), nullable=False),
    Column("namespace", String(253), nullable=False),
    Column("name", String(253), nullable=False),
    Column("body", Text, nullable=False),
    # The labels before a MODIFIED event, so a label-filtered watch can turn a change into
    # ADDED/DELETED when the object starts/stops matching (as Kubernetes does).
    Column("prev_labels", Text, nullable=True),
    Column("created_at", Float, nullable=False),
    Index("ix_kargo_events_kind_rv", "kind", "resource_version"),
    Index("ix_kargo_events_created_at", "created_at"),
)

cache = Table(
    "kargo_cache",
    metadata,
    Column("bucket", String(253), primary_key=True),
    Column("key", String(1024), primary_key=True),
    Column("value", Text, nullable=False),
)

leases = Table(
    "kargo_leases",
    metadata,
    Column("name", String(253), primary_key=True),
    Column("holder", String(253), nullable=False),
    Column("expires_at", Float, nullable=False),
)
