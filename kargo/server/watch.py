"""`?watch=true` on list and get routes: the store's watch as Server-Sent Events.

Each event is one `data:` line holding `{"type": "ADDED|MODIFIED|DELETED", "object": {...}}`
(Kargo's pkg/server/watch_helpers.go). With `resourceVersion`, the stream starts right after it,
so a list followed by a watch from the list's resourceVersion loses nothing. Without it, the
current objects are sent first as ADDED, then changes. A comment line is sent at the start and
every `HEARTBEAT_SECONDS` so proxies keep the connection open. Secrets are redacted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi.responses import StreamingResponse

from kargo.server import redact
from kargo.store import interface

HEARTBEAT_SECONDS = 15.0
_DONE = object()


def _event(kind: str, obj: dict[str, Any]) -> bytes:
    payload = json.dumps({"type": kind, "object": redact.redact(obj)}, separators=(",", ":"))
    return f"data: {payload}\n\n".encode()


async def _pump(source: AsyncIterator[interface.WatchEvent], queue: asyncio.Queue[object]) -> None:
    try:
        async for event in source:
            await queue.put(event)
    finally:
        await queue.put(_DONE)


async def stream_events(
    store: interface.Store,
    kind: str,
    options: interface.ListOptions,
    since: str | None,
    keep: Callable[[dict[str, Any]], bool] = lambda _: True,
) -> AsyncIterator[bytes]:
    """The SSE byte stream for one watch request."""
    yield b": watching\n\n"
    if since is None:
        token: str | None = None
        while True:
            page = await store.list(
                kind,
                interface.ListOptions(
                    namespace=options.namespace,
                    label_selector=options.label_selector,
                    field_selector=options.field_selector,
                    limit=500,
                    continue_token=token,
                ),
            )
            since = since or page.resource_version
            for obj in page.items:
                if keep(obj):
                    yield _event("ADDED", obj)
            token = page.continue_token
            if not token:
                break
    queue: asyncio.Queue[object] = asyncio.Queue(maxsize=1000)
    pump = asyncio.create_task(_pump(store.watch(kind, options, since=since), queue))
    try:
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), HEARTBEAT_SECONDS)
            except TimeoutError:
                yield b": heartbeat\n\n"
                continue
            if item is _DONE:
                if pump.done() and pump.exception() is not None:
                    raise pump.exception()  # type: ignore[misc]  # re-raise the watch's failure
                return
            assert isinstance(item, interface.WatchEvent)
            if keep(item.object):
                yield _event(item.type, item.object)
    finally:
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await pump


def sse_response(body: AsyncIterator[bytes]) -> StreamingResponse:
    """Wrap an SSE byte stream with the headers browsers and proxies expect."""
    return StreamingResponse(
        body,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
