"""AnalysisRunner applies Argo Rollouts' schedule and limits, with time injected.

The providers here are scripted fakes of our own `Provider` protocol: these tests are about the
runner's rules (count, interval, initialDelay, limits, abort, resume), not about any server.
"""

from datetime import timedelta

import pytest

from kargo.clock import ManualClock
from kargo.errors import ValidationError
from kargo.verification.analysis import AnalysisRunner, build_analysis_run
from kargo.verification.measurement import Measurement, Phase


class Scripted:
    """Returns the scripted phases in order, then repeats the last one."""

    def __init__(self, *phases):
        self.phases = list(phases)
        self.calls = 0

    async def measure(self, metric):
        phase = self.phases[min(self.calls, len(self.phases) - 1)]
        self.calls += 1
        return Measurement(phase, value=self.calls)


def template(*metrics, args=()):
    return {"kind": "AnalysisTemplate", "spec": {"args": list(args), "metrics": list(metrics)}}


def web(name="m", **fields):
    return {
        "name": name,
        "provider": {"web": {"url": "http://127.0.0.1:1/{{args.path}}"}},
        **fields,
    }


def run_of(*metrics, args=None):
    return build_analysis_run(
        namespace="p",
        name="run",
        templates=[template(*metrics, args=[{"name": "path", "value": "default"}])],
        args=args or {},
    )


async def test_single_measurement_without_interval_succeeds_at_once():
    clock = ManualClock()
    provider = Scripted(Phase.SUCCESSFUL)
    run, wake = await AnalysisRunner({"web": provider}, clock).advance(run_of(web()))
    assert (run["status"]["phase"], wake, provider.calls) == ("Successful", None, 1)


async def test_count_and_interval_schedule_measurements():
    clock = ManualClock()
    provider = Scripted(Phase.SUCCESSFUL)
    runner = AnalysisRunner({"web": provider}, clock)
    run, wake = await runner.advance(run_of(web(count=3, interval="10s")))
    assert (run["status"]["phase"], wake, provider.calls) == ("Running", timedelta(seconds=10), 1)
    run, wake = await runner.advance(run)  # not due yet: nothing measured
    assert provider.calls == 1
    clock.advance(10)
    run, _ = await runner.advance(run)
    clock.advance(10)
    run, wake = await runner.advance(run)
    assert (run["status"]["phase"], wake, provider.calls) == ("Successful", None, 3)


async def test_initial_delay_postpones_the_first_measurement():
    clock = ManualClock()
    provider = Scripted(Phase.SUCCESSFUL)
    runner = AnalysisRunner({"web": provider}, clock)
    run, wake = await runner.advance(run_of(web(initialDelay="30s")))
    assert (provider.calls, wake) == (0, timedelta(seconds=30))
    clock.advance(30)
    run, _ = await runner.advance(run)
    assert run["status"]["phase"] == "Successful"


async def test_failure_limit_tolerates_that_many_failures():
    clock = ManualClock()
    runner = AnalysisRunner({"web": Scripted(Phase.FAILED, Phase.SUCCESSFUL)}, clock)
    run, _ = await runner.advance(run_of(web(count=2, interval="1s", failureLimit=1)))
    clock.advance(1)
    run, _ = await runner.advance(run)
    assert run["status"]["phase"] == "Successful"


async def test_failure_beyond_the_limit_fails_the_run_with_a_message():
    runner = AnalysisRunner({"web": Scripted(Phase.FAILED)}, ManualClock())
    run, wake = await runner.advance(run_of(web(count=3, interval="1s")))
    assert (run["status"]["phase"], wake) == ("Failed", None)
    assert "metric 'm' assessed Failed" in run["status"]["message"]


async def test_inconclusive_limit():
    runner = AnalysisRunner({"web": Scripted(Phase.INCONCLUSIVE)}, ManualClock())
    run, _ = await runner.advance(run_of(web()))
    assert run["status"]["phase"] == "Inconclusive"


async def test_errors_retry_until_the_consecutive_error_limit():
    clock = ManualClock()
    provider = Scripted(Phase.ERROR)
    runner = AnalysisRunner({"web": provider}, clock)
    run = run_of(web(interval="1s", count=1, consecutiveErrorLimit=2))
    for _ in range(2):
        run, _ = await runner.advance(run)
        assert run["status"]["phase"] == "Running"
        clock.advance(1)
    run, _ = await runner.advance(run)
    assert (run["status"]["phase"], provider.calls) == ("Error", 3)


async def test_an_error_then_success_resets_consecutive_errors():
    clock = ManualClock()
    runner = AnalysisRunner({"web": Scripted(Phase.ERROR, Phase.SUCCESSFUL)}, clock)
    run, _ = await runner.advance(run_of(web(interval="1s", count=1)))
    clock.advance(1)
    run, _ = await runner.advance(run)
    result = run["status"]["metricResults"][0]
    assert (run["status"]["phase"], result["error"], result["consecutiveError"]) == (
        "Successful",
        1,
        0,
    )


async def test_abort_terminates_a_running_run():
    runner = AnalysisRunner({"web": Scripted(Phase.SUCCESSFUL)}, ManualClock())
    run, _ = await runner.advance(run_of(web(count=5, interval="1m")))
    run["spec"]["terminate"] = True
    run, wake = await runner.advance(run)
    assert (run["status"]["phase"], wake) == ("Aborted", None)


async def test_a_finished_run_is_never_measured_again():
    provider = Scripted(Phase.SUCCESSFUL)
    runner = AnalysisRunner({"web": provider}, ManualClock())
    run, _ = await runner.advance(run_of(web()))
    run, _ = await runner.advance(run)
    assert provider.calls == 1


async def test_worst_metric_decides_and_missing_provider_is_an_error():
    runner = AnalysisRunner({"web": Scripted(Phase.SUCCESSFUL)}, ManualClock())
    job_metric = {"name": "j", "provider": {"job": {"spec": {}}}, "consecutiveErrorLimit": 0}
    run, _ = await runner.advance(run_of(web(), job_metric))
    assert run["status"]["phase"] == "Error"
    assert "not enabled" in run["status"]["message"]


def test_args_are_substituted_and_defaults_apply():
    run = run_of(web(), args={"path": "healthz"})
    assert run["spec"]["metrics"][0]["provider"]["web"]["url"] == "http://127.0.0.1:1/healthz"
    run = run_of(web())
    assert run["spec"]["metrics"][0]["provider"]["web"]["url"] == "http://127.0.0.1:1/default"


def test_bad_templates_are_rejected_with_clear_messages():
    with pytest.raises(ValidationError, match="'svc' have no value"):
        build_analysis_run(
            namespace="p", name="r", templates=[template(web(), args=[{"name": "svc"}])], args={}
        )
    with pytest.raises(ValidationError, match="interval must be set"):
        build_analysis_run(
            namespace="p", name="r", templates=[template(web(count=2))], args={"path": "x"}
        )
    with pytest.raises(ValidationError, match="more than one analysis template"):
        build_analysis_run(
            namespace="p",
            name="r",
            templates=[template(web()), template(web())],
            args={"path": "x"},
        )
    with pytest.raises(ValidationError, match="no metrics"):
        build_analysis_run(namespace="p", name="r", templates=[template()], args={})
