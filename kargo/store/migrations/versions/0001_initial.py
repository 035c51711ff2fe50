"""Initial schema: objects, labels, watch events, store state, cache and leases.

Revision ID: 0001
Revises:
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create every table of the store."""
    state = op.create_table(
        "kargo_store_state",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("resource_version", sa.BigInteger, nullable=False),
        sa.Column("compacted_version", sa.BigInteger, nullable=False),
    )
    op.bulk_insert(state, [{"id": 1, "resource_version": 0, "compacted_version": 0}])
    op.create_table(
        "kargo_objects",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(253), nullable=False),
        sa.Column("namespace", sa.String(253), nullable=False),
        sa.Column("name", sa.String(253), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
    )
    op.create_index(
        "ix_kargo_objects_key", "kargo_objects", ["kind", "namespace", "name"], unique=True
    )
    op.create_index("ix_kargo_objects_namespace", "kargo_objects", ["namespace"])
    op.create_table(
        "kargo_labels",
        sa.Column(
            "object_id",
            Id,
            sa.ForeignKey("kargo_objects.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("key", sa.String(317), primary_key=True),
        sa.Column("value", sa.String(63), nullable=False),
    )
    op.create_index("ix_kargo_labels_key_value", "kargo_labels", ["key", "value"])
    op.create_table(
        "kargo_events",
        sa.Column("resource_version", Id, primary_key=True, autoincrement=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(253), nullable=False),
        sa.Column("namespace", sa.String(253), nullable=False),
        sa.Column("name", sa.String(253), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("prev_labels", sa.Text, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_kargo_events_kind_rv", "kargo_events", ["kind", "resource_version"])
    op.create_index("ix_kargo_events_created_at", "kargo_events", ["created_at"])
    op.create_table(
        "kargo_cache",
        sa.Column("bucket", sa.String(253), primary_key=True),
        sa.Column("key", sa.String(1024), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "kargo_leases",
        sa.Column("name", sa.String(253), primary_key=True),
        sa.Column("holder", sa.String(253), nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    """Drop every table of the store."""
    for table in (
        "kargo_leases",
        "kargo_cache",
        "kargo_events",
        "kargo_labels",
        "kargo_objects",
        "kargo_store_state",
    ):
        op.drop_table(table)
