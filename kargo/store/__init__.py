"""Durable objects with Kubernetes semantics (see `interface`), on SQLite or PostgreSQL."""
