"""Write-transaction state for `kargo.store.sql`: the resourceVersion counter and the watch
events a transaction appends, the watch-event retention policy, and the no-wait signal.

`kargo.store.sql` runs every write as one `Tx` on a connection that has locked the store's state
row; `kargo.store.objects` holds the object rules the writes apply.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy.engine import Connection

from kargo.store import interface


class Busy(Exception):
    """Another process holds the SQLite write lock (raised only by a no-wait attempt)."""


@dataclass(frozen=True)
class EventRetention:
    """How long watch events are kept; a watch from an older resourceVersion gets a
    ConflictError ("resourceVersion too old") and must list again, as with Kubernetes' 410."""

    max_events: int = 100_000
    max_age: timedelta = timedelta(hours=24)
    compact_every_writes: int = 1000


@dataclass
class Tx:
    """One write transaction: hands out resourceVersions and collects the events to append."""

    conn: Connection
    rv: int
    now_ts: float
    events: list[dict[str, Any]] = field(default_factory=list)

    def bump(self) -> int:
        self.rv += 1
        return self.rv

    def emit(
        self,
        type_: interface.EventType,
        key: interface.ObjectKey,
        rv: int,
        body: str,
        prev_labels: dict[str, str] | None = None,
    ) -> None:
        self.events.append(
            {
                "resource_version": rv,
                "type": type_,
                "kind": key.kind,
                "namespace": key.namespace,
                "name": key.name,
                "body": body,
                "prev_labels": None if prev_labels is None else json.dumps(prev_labels),
                "created_at": self.now_ts,
            }
        )
