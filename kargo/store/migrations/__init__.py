"""Alembic migrations of the store, shipped in the package and run by `kargo.store.migrate`."""
