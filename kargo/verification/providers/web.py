"""The `web` metric provider: an HTTP request whose (JSON) response is the measured value."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

from kargo.errors import KargoError
from kargo.verification.measurement import Measurement, Phase, judge_metric

_SEGMENT = re.compile(r"\.?([^.\[\]]+)|\[(\d+)\]")


def json_path(document: Any, path: str) -> Any:
    """Select from `document` with the JSONPath subset Argo's examples use: `{$.a.b[0].c}`."""
    expr = path.strip()
    if expr.startswith("{") and expr.endswith("}"):
        expr = expr[1:-1].strip()
    if expr.startswith("$"):
        expr = expr[1:]
    current = document
    pos = 0
    while pos < len(expr):
        match = _SEGMENT.match(expr, pos)
        if match is None:
            raise KargoError(f"invalid jsonPath {path!r} at position {pos}")
        key, index = match.group(1), match.group(2)
        try:
            current = current[int(index)] if index is not None else current[key]
        except (KeyError, IndexError, TypeError) as err:
            raise KargoError(f"jsonPath {path!r} does not match the response") from err
        pos = match.end()
    return current


class WebProvider:
    """Measures with one HTTP request; the JSON body (or the jsonPath selection) is `result`."""

    def __init__(self, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._transport = transport

    async def measure(self, metric: dict[str, Any]) -> Measurement:
        """Call the URL, parse the body, judge it by the metric's conditions."""
        web = metric.get("provider", {}).get("web", {})
        try:
            headers = {h["key"]: str(h.get("value", "")) for h in web.get("headers") or []}
            body: str | None = web.get("body")
            if web.get("jsonBody") is not None:
                body = json.dumps(web["jsonBody"])
                headers.setdefault("Content-Type", "application/json")
            timeout = float(web.get("timeoutSeconds") or 10)
            async with httpx.AsyncClient(
                transport=self._transport, timeout=timeout, verify=not web.get("insecure", False)
            ) as client:
                response = await client.request(
                    str(web.get("method") or "GET"), str(web["url"]), headers=headers, content=body
                )
            if not 200 <= response.status_code < 300:
                return Measurement(
                    Phase.ERROR, message=f"received non 2xx response code: {response.status_code}"
                )
            try:
                value: Any = response.json()
            except ValueError:
                value = response.text
            if web.get("jsonPath"):
                value = json_path(value, str(web["jsonPath"]))
            return judge_metric(value, metric)
        except KargoError as err:
            return Measurement(Phase.ERROR, message=err.message)
        except httpx.HTTPError as err:
            return Measurement(
                Phase.ERROR, message=f"request to {web.get('url')} failed: {type(err).__name__}"
            )
