"""Alembic environment: runs revisions on the connection `kargo.store.migrate` hands over.

No alembic.ini is needed: the config is built in code and the open connection is passed in
`config.attributes["connection"]`.
"""

from __future__ import annotations

from alembic import context

from kargo.store import schema

VERSION_TABLE = "kargo_schema_version"

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=schema.metadata,
    version_table=VERSION_TABLE,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
