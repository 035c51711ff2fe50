"""One JSON error shape (`kargo.errors.ErrorBody`) for every 4xx and 5xx the server returns.

Installs handlers on the FastAPI app for `KargoError`, Starlette's HTTP errors (404, 405, ...),
FastAPI's request validation errors (mapped to 400 `Invalid` with one Problem per field), and an
outermost ASGI middleware that turns any unexpected exception into a generic 500: the traceback
goes to the log, never to the client. `tests/test_error_shape.py` walks every route to pin this.
"""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kargo import errors

log = logging.getLogger("kargo.server")

_REASONS = {
    400: "BadRequest",
    401: "Unauthenticated",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    413: "RequestTooLarge",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "Unavailable",
}


class ProblemModel(BaseModel):
    """One problem with the request (OpenAPI documentation of `ErrorBody.problems`)."""

    message: str
    path: str | None = None
    file: str | None = None
    line: int | None = None
    column: int | None = None
    hint: str | None = None


class ErrorDetail(BaseModel):
    """The body of every error response."""

    status: int
    reason: str
    message: str
    problems: list[ProblemModel] | None = None


class ErrorResponse(BaseModel):
    """`{"error": {...}}`: the one error shape."""

    error: ErrorDetail


def error_response(body: errors.ErrorBody, headers: dict[str, str] | None = None) -> JSONResponse:
    """Render an ErrorBody."""
    return JSONResponse(body.to_dict(), status_code=body.status, headers=headers)


def _kargo_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.KargoError)
    headers = (
        {"WWW-Authenticate": "Bearer"} if isinstance(exc, errors.UnauthenticatedError) else None
    )
    if exc.http_status >= 500:
        log.error("request failed: %s: %s", exc.reason, exc.message)
    return error_response(errors.ErrorBody.from_error(exc), headers)


def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    if status == 404:
        message = f"no route for {request.method} {request.url.path}; see /openapi.json"
    elif status == 405:
        message = f"method {request.method} is not allowed on {request.url.path}"
    else:
        detail = exc.detail if isinstance(exc.detail, str) else ""
        message = detail or HTTPStatus(status).phrase.lower()
    headers = dict(exc.headers) if exc.headers else None
    reason = _REASONS.get(status, HTTPStatus(status).phrase.replace(" ", ""))
    return error_response(errors.ErrorBody(status, reason, message), headers)


def _loc_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems: list[dict[str, object]] = []
    for item in exc.errors():
        loc = tuple(item.get("loc", ()))
        problems.append(
            errors.Problem(message=str(item.get("msg", "invalid")), path=_loc_path(loc)).to_dict()
        )
    message = "invalid request: " + "; ".join(
        f"{p.get('path', '')}: {p['message']}" if p.get("path") else str(p["message"])
        for p in problems
    )
    return error_response(errors.ErrorBody(400, "Invalid", message, problems))


class CatchAllMiddleware:
    """Outermost middleware: an unexpected exception becomes a generic 500 in the one shape.

    The traceback is logged; the client sees only a generic message (never internals).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception("unexpected error serving %s %s", scope.get("method"), scope.get("path"))
            if started:
                return  # a stream already began: nothing sensible can be sent any more
            body = errors.ErrorBody(
                500, "InternalError", "internal server error; the server log has the details"
            )
            payload = json.dumps(body.to_dict()).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(payload)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": payload})


def install(app: FastAPI) -> None:
    """Install every handler so that all error responses share `ErrorBody`."""
    app.add_exception_handler(errors.KargoError, _kargo_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_middleware(CatchAllMiddleware)
