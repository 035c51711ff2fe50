"""`kargo server --db postgresql://...` serves the same API on PostgreSQL as on SQLite."""

from __future__ import annotations

import pytest

from tests.fixtures.server import start_kargo_server

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def test_server_on_postgres_applies_and_lists(tmp_path, kargo_cli, pg_database_factory):
    server = start_kargo_server(tmp_path, extra_args=("--db", pg_database_factory()))
    try:
        kargo_cli.login(server.url)
        project = "apiVersion: kargo.akuity.io/v1alpha1\nkind: Project\nmetadata:\n  name: on-pg\n"
        applied = kargo_cli.run("apply", "-f", "-", stdin=project)
        assert applied.returncode == 0, applied.stderr + server.logs()
        assert (
            kargo_cli.run("get", "projects", "-o", "name").stdout
            == "project.kargo.akuity.io/on-pg\n"
        )
    finally:
        server.stop()
