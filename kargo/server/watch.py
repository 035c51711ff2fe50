"""`?watch=true` on list and get routes: the store's watch as Server-Sent Events.

Each event is one `data:` line holding `{"type": "ADDED|MODIFIED|DELETED", "object": {...}}`
(Kargo's pkg/server/watch_helpers.go). With `resourceVersion`, the stream starts right after it,
so a list followed by a watch from the list's resourceVersion loses nothing (a resourceVersion
older than the store's event retention ends the stream with an `ERROR` event holding a 409 in
the one error shape: list again, as with Kubernetes' 410). Without it, the
current objects are sent first as ADDED, then changes. A comment line is sent at the start and
every `HEARTBEAT_SECONDS` so proxies keep the connection open. Secrets are redacted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi.responses import StreamingResponse

from kargo import errors
from kargo.server import redact
from kargo.store import interface

log = logging.getLogger("kargo.server")
HEARTBEAT_SECONDS = 15.0
_DONE = object()


def _event(kind: str, obj: dict[str, Any]) -> bytes:
    payload = json.dumps({"type": kind, "object": redact.redact(obj)}, separators=(",", ":"))
    return f"data: {payload}\n\n".encode()


def _error_event(failure: BaseException) -> bytes:
    """Kubernetes' watch `ERROR` event, carrying the API's one error shape."""
    if isinstance(failure, errors.KargoError):
        body = errors.ErrorBody.from_error(failure)
    else:
        log.error("watch failed", exc_info=failure)
        body = errors.ErrorBody(
            500, "InternalError", "watch failed; the server log has the details"
        )
    payload = json.dumps({"type": "ERROR", "object": body.to_dict()}, separators=(",", ":"))
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
                failure = pump.exception() if pump.done() else None
                if failure is not None:
                    yield _error_event(failure)
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
