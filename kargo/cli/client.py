"""The CLI's HTTP client for the REST API: bearer auth, and API errors turned back into the
`kargo.errors` tree (so the CLI exits with the matching code and prints each problem).

A thin synchronous edge over httpx; `transport` is injectable for tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx

from kargo import errors
from kargo.cli import userconfig

_BY_REASON: dict[str, type[errors.KargoError]] = {
    "AlreadyExists": errors.AlreadyExistsError,
    "Conflict": errors.ConflictError,
    "ExpressionError": errors.ExpressionError,
    "DiscoveryFailed": errors.DiscoveryError,
}
_BY_STATUS: dict[int, type[errors.KargoError]] = {
    400: errors.ValidationError,
    401: errors.UnauthenticatedError,
    403: errors.PermissionDeniedError,
    404: errors.NotFoundError,
    409: errors.ConflictError,
    502: errors.DiscoveryError,
    503: errors.UnavailableError,
}


def error_class(reason: str, status: int) -> type[errors.KargoError]:
    """The KargoError class of an error body's reason (or, failing that, its HTTP status)."""
    return _BY_REASON.get(reason) or _BY_STATUS.get(status, errors.KargoError)


def error_from_response(response: httpx.Response) -> errors.KargoError:
    """Rebuild the KargoError the server raised from its one error shape."""
    try:
        body = response.json()["error"]
        message = str(body["message"])
        reason = str(body.get("reason", ""))
        raw_problems = body.get("problems") or []
    except (ValueError, KeyError, TypeError):
        text = response.text.strip().splitlines()[0][:200] if response.text.strip() else ""
        message = f"HTTP {response.status_code} from {response.request.url}" + (
            f": {text}" if text else ""
        )
        reason, raw_problems = "", []
    cls = error_class(reason, response.status_code)
    if issubclass(cls, errors.ValidationError):
        problems = [
            errors.Problem(
                message=str(p.get("message", "")),
                path=str(p.get("path", "")),
                file=str(p.get("file", "")),
                line=p.get("line"),
                column=p.get("column"),
                hint=str(p.get("hint", "")),
            )
            for p in raw_problems
            if isinstance(p, dict)
        ]
        return cls(message, problems)
    return cls(message)


class Client:
    """Calls the API at `server` with the token from `kargo login`."""

    def __init__(
        self,
        server: str,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.server = server.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(
            base_url=self.server, headers=headers, timeout=timeout, transport=transport
        )

    @classmethod
    def from_config(cls, config: userconfig.UserConfig) -> Client:
        """A client for the server the user logged in to."""
        if not config.api_address or not config.bearer_token:
            raise errors.UnauthenticatedError(
                "not logged in; run `kargo login SERVER --admin` first"
            )
        return cls(config.api_address, config.bearer_token)

    def close(self) -> None:
        """Close connections."""
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send a request; returns the decoded JSON body or raises the matching KargoError."""
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as err:
            raise errors.UnavailableError(
                f"cannot reach the Kargo API at {self.server}: {type(err).__name__}; check the "
                "address, or start a server with `kargo server`"
            ) from None
        if response.status_code >= 400:
            raise error_from_response(response)
        return response.json() if response.content else None

    def login(self, password: str) -> str:
        """POST /v1beta1/login; returns the token."""
        body = self.request("POST", "/v1beta1/login", json={"password": password})
        return str(body["token"])

    def list_all(self, path: str, params: dict[str, str] | None = None) -> Iterator[dict[str, Any]]:
        """Every item of a list route, following `continue` tokens."""
        query = dict(params or {})
        query["limit"] = "500"
        while True:
            page = self.request("GET", path, params=query)
            yield from page.get("items", [])
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return
            query["continue"] = token
