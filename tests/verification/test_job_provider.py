"""The job provider runs the container command as a local process, isolated from the server."""

import os

from kargo.verification.measurement import Phase
from kargo.verification.providers.job import JobProvider


def job(command, args=(), env=(), deadline=None):
    spec = {
        "template": {
            "spec": {
                "containers": [
                    {
                        "name": "check",
                        "image": "ignored",
                        "command": list(command),
                        "args": list(args),
                        "env": list(env),
                    }
                ]
            }
        }
    }
    if deadline is not None:
        spec["activeDeadlineSeconds"] = deadline
    return {"name": "job", "provider": {"job": {"spec": spec}}}


async def test_exit_zero_is_successful_and_logs_are_kept():
    m = await JobProvider().measure(
        job(["sh", "-c"], ["echo checking $TARGET"], [{"name": "TARGET", "value": "uat"}])
    )
    assert m.phase == Phase.SUCCESSFUL
    assert m.value["logs"] == "checking uat\n"


async def test_non_zero_exit_fails_with_the_code():
    m = await JobProvider().measure(job(["sh", "-c", "echo broken >&2; exit 3"]))
    assert m.phase == Phase.FAILED
    assert "exited with code 3" in m.message
    assert "broken" in m.value["logs"]


async def test_deadline_kills_the_process():
    m = await JobProvider().measure(job(["sleep", "30"], deadline=0.3))
    assert m.phase == Phase.FAILED
    assert "activeDeadlineSeconds" in m.message


async def test_server_environment_does_not_leak_into_jobs(monkeypatch):
    monkeypatch.setenv("KARGO_ADMIN_PASSWORD", "canary-not-for-jobs")
    m = await JobProvider().measure(job(["sh", "-c", "env"]))
    assert m.phase == Phase.SUCCESSFUL
    assert "canary-not-for-jobs" not in m.value["logs"]
    assert os.environ["KARGO_ADMIN_PASSWORD"] == "canary-not-for-jobs"


async def test_missing_command_is_an_error_naming_the_container():
    m = await JobProvider().measure(job(["/nonexistent/binary"]))
    assert m.phase == Phase.ERROR
    assert "could not start" in m.message
