"""Switching a database to WAL while another connection holds the write lock and commits: the
two would wait for each other until the busy timeout ended (the switch holds a shared lock
while it waits for an exclusive one); the switch now lets go between short attempts."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from kargo.store import engine as engine_mod


def test_a_new_connection_switches_to_wal_while_another_commits(tmp_path: Path) -> None:
    path = tmp_path / "kargo.db"
    writer = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    writer.execute("CREATE TABLE t (x INTEGER)")
    writer.execute("BEGIN IMMEDIATE")  # the write lock, in rollback-journal mode
    writer.execute("INSERT INTO t VALUES (1)")
    engine = engine_mod.create_engine(engine_mod.parse_url(str(path)))
    outcome: dict[str, object] = {}

    def connect() -> None:
        try:
            with engine.connect() as conn:
                outcome["mode"] = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
        except Exception as err:
            outcome["error"] = err

    opener = threading.Thread(target=connect)
    opener.start()
    opener.join(0.3)  # the new connection is now waiting for its exclusive lock
    writer.execute("COMMIT")  # needs every shared lock gone
    opener.join()
    writer.close()
    engine.dispose()

    assert outcome == {"mode": "wal"}
