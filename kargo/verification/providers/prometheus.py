"""The `prometheus` metric provider: an instant query; `result` is the vector's values or a scalar."""

from __future__ import annotations

import math
from typing import Any

import httpx

from kargo.errors import KargoError
from kargo.verification.measurement import Measurement, Phase, judge_metric


def _number(text: str) -> float:
    value = float(text)
    return value if not math.isnan(value) else math.nan


def query_result(payload: dict[str, Any]) -> Any:
    """The measurement value of a Prometheus query response, as Argo Rollouts presents it."""
    if payload.get("status") != "success":
        raise KargoError(f"prometheus query failed: {payload.get('error', 'unknown error')}")
    data = payload.get("data", {})
    kind = data.get("resultType")
    result = data.get("result")
    if kind == "vector":
        return [_number(sample["value"][1]) for sample in result or []]
    if kind == "scalar":
        return _number(result[1])
    raise KargoError(
        f"prometheus query returned an unsupported result type {kind!r}: use a vector or scalar query"
    )


class PrometheusProvider:
    """Measures with one instant query against `provider.prometheus.address`."""

    def __init__(self, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._transport = transport

    async def measure(self, metric: dict[str, Any]) -> Measurement:
        """Run the query and judge the value."""
        prom = metric.get("provider", {}).get("prometheus", {})
        address = str(prom.get("address", "")).rstrip("/")
        try:
            timeout = float(prom.get("timeout") or 30)
            async with httpx.AsyncClient(transport=self._transport, timeout=timeout) as client:
                response = await client.get(
                    f"{address}/api/v1/query", params={"query": str(prom.get("query", ""))}
                )
            if response.status_code >= 500:
                return Measurement(
                    Phase.ERROR, message=f"prometheus at {address} answered {response.status_code}"
                )
            value = query_result(response.json())
            return judge_metric(value, metric)
        except KargoError as err:
            return Measurement(Phase.ERROR, message=err.message)
        except (httpx.HTTPError, ValueError) as err:
            return Measurement(
                Phase.ERROR, message=f"prometheus query to {address} failed: {type(err).__name__}"
            )
