"""The web and prometheus providers measure real servers and judge results by the conditions."""

from kargo.verification.measurement import Phase
from kargo.verification.providers.prometheus import PrometheusProvider
from kargo.verification.providers.web import WebProvider, json_path


def web_metric(url, **extra):
    return {"name": "smoke", "provider": {"web": {"url": url, **extra.pop("web", {})}}, **extra}


async def test_web_success_condition_over_json_path(metrics_target):
    metrics_target.state.json_by_path["/health"] = {"data": {"ok": True, "latency": [12, 30]}}
    metric = web_metric(
        metrics_target.url + "/health",
        web={"jsonPath": "{$.data.latency[0]}"},
        successCondition="result < 20",
    )
    m = await WebProvider().measure(metric)
    assert (m.phase, m.value) == (Phase.SUCCESSFUL, 12)


async def test_web_failure_condition_fails(metrics_target):
    metrics_target.state.json_by_path["/health"] = {"ok": False}
    metric = web_metric(metrics_target.url + "/health", failureCondition="result.ok == false")
    assert (await WebProvider().measure(metric)).phase == Phase.FAILED


async def test_web_both_conditions_false_is_inconclusive(metrics_target):
    metrics_target.state.json_by_path["/v"] = {"n": 5}
    metric = web_metric(
        metrics_target.url + "/v",
        web={"jsonPath": "{$.n}"},
        successCondition="result > 10",
        failureCondition="result < 0",
    )
    assert (await WebProvider().measure(metric)).phase == Phase.INCONCLUSIVE


async def test_web_non_2xx_is_an_error_measurement(metrics_target):
    metrics_target.state.status = 503
    m = await WebProvider().measure(web_metric(metrics_target.url + "/x", successCondition="true"))
    assert m.phase == Phase.ERROR
    assert "503" in m.message


async def test_web_sends_method_headers_and_body(metrics_target):
    metric = web_metric(
        metrics_target.url + "/post",
        web={"method": "POST", "headers": [{"key": "X-Probe", "value": "1"}], "jsonBody": {"a": 1}},
    )
    assert (await WebProvider().measure(metric)).phase == Phase.SUCCESSFUL
    assert metrics_target.state.requests == ["/post"]


async def test_web_unreachable_is_an_error_measurement():
    m = await WebProvider().measure(
        web_metric("http://127.0.0.1:9/nothing", successCondition="true")
    )
    assert m.phase == Phase.ERROR
    assert "failed" in m.message


def test_json_path_reports_a_missing_key():
    import pytest

    from kargo.errors import KargoError

    assert json_path({"a": [{"b": 2}]}, "{$.a[0].b}") == 2
    with pytest.raises(KargoError, match="does not match"):
        json_path({"a": 1}, "{$.b}")


async def test_prometheus_query_over_a_real_scrape(metrics_target, prometheus):
    metrics_target.state.gauges["probe_success_ratio"] = 0.98
    prometheus.wait_for_series("probe_success_ratio")
    metric = {
        "name": "success-rate",
        "provider": {"prometheus": {"address": prometheus.url, "query": "probe_success_ratio"}},
        "successCondition": "result[0] >= 0.95",
    }
    m = await PrometheusProvider().measure(metric)
    assert m.phase == Phase.SUCCESSFUL, m.message
    assert m.value == [0.98]


async def test_prometheus_condition_failing_and_scalar_results(metrics_target, prometheus):
    metrics_target.state.gauges["probe_success_ratio"] = 0.5
    prometheus.wait_for_series("probe_success_ratio")
    failing = {
        "name": "success-rate",
        "provider": {"prometheus": {"address": prometheus.url, "query": "probe_success_ratio"}},
        "successCondition": "result[0] >= 0.95",
    }
    assert (await PrometheusProvider().measure(failing)).phase == Phase.FAILED
    scalar = {
        "name": "scalar",
        "provider": {
            "prometheus": {"address": prometheus.url, "query": "scalar(probe_success_ratio) * 2"}
        },
        "successCondition": "result == 1",
    }
    m = await PrometheusProvider().measure(scalar)
    assert (m.phase, m.value) == (Phase.SUCCESSFUL, 1.0)


async def test_prometheus_bad_query_is_an_error_measurement(prometheus):
    metric = {
        "name": "bad",
        "provider": {"prometheus": {"address": prometheus.url, "query": "sum(("}},
    }
    m = await PrometheusProvider().measure(metric)
    assert m.phase == Phase.ERROR
