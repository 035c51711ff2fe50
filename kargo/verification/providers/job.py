"""The `job` metric provider, run as a local process.

An Argo Rollouts job metric carries a Kubernetes JobSpec; without a cluster, each container's
`command` + `args` runs as a process on the server, in a fresh temporary directory, with only the
container's `env` plus PATH (never the server's own environment, which may hold secrets). The
container image is not used. `activeDeadlineSeconds` bounds the run; exit code 0 is Successful,
anything else Failed. Output (stdout and stderr) is kept, truncated, for `kargo logs`.
When the server runs inside Kubernetes this provider is meant to become a real Job.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from typing import Any

from kargo.verification.measurement import Measurement, Phase

MAX_LOG_BYTES = 64 * 1024
DEFAULT_DEADLINE_SECONDS = 600.0


class JobProvider:
    """Runs the job's containers in order as local processes."""

    def __init__(self, base_env: dict[str, str] | None = None) -> None:
        self._base_env = base_env or {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}

    async def measure(self, metric: dict[str, Any]) -> Measurement:
        """Run every container; the first non-zero exit fails the measurement."""
        spec = metric.get("provider", {}).get("job", {}).get("spec", {})
        pod = spec.get("template", {}).get("spec", {})
        containers = pod.get("containers") or []
        if not containers:
            return Measurement(
                Phase.ERROR,
                message="job metric has no containers: set spec.template.spec.containers",
            )
        deadline = float(spec.get("activeDeadlineSeconds") or DEFAULT_DEADLINE_SECONDS)
        logs: list[str] = []
        for container in containers:
            argv = [
                str(a) for a in (container.get("command") or []) + (container.get("args") or [])
            ]
            name = container.get("name", "main")
            if not argv:
                return Measurement(
                    Phase.ERROR,
                    message=f"container {name!r} has no command: set command and/or args",
                )
            env = dict(self._base_env)
            env.update(
                {str(e["name"]): str(e.get("value", "")) for e in container.get("env") or []}
            )
            code, output, timed_out = await _run(argv, env, deadline)
            logs.append(output)
            if timed_out:
                return Measurement(
                    Phase.FAILED,
                    value={"logs": "".join(logs)},
                    message=f"container {name!r} exceeded activeDeadlineSeconds ({deadline:g}s)",
                )
            if code is None:
                return Measurement(
                    Phase.ERROR,
                    value={"logs": "".join(logs)},
                    message=f"container {name!r} could not start: {output.strip()}",
                )
            if code != 0:
                return Measurement(
                    Phase.FAILED,
                    value={"logs": "".join(logs), "exitCode": code},
                    message=f"container {name!r} exited with code {code}",
                )
        return Measurement(Phase.SUCCESSFUL, value={"logs": "".join(logs), "exitCode": 0})


async def _run(
    argv: list[str], env: dict[str, str], deadline: float
) -> tuple[int | None, str, bool]:
    with tempfile.TemporaryDirectory(prefix="kargo-job-") as cwd:
        env.setdefault("HOME", cwd)
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                cwd=cwd,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as err:
            return None, f"{argv[0]}: {err.strerror}", False
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), timeout=deadline)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, 9)
            out = b""
            with contextlib.suppress(Exception):
                out, _ = await asyncio.wait_for(proc.communicate(), timeout=5)
            return proc.returncode, _tail(out), True
        return proc.returncode, _tail(out), False


def _tail(data: bytes) -> str:
    if len(data) > MAX_LOG_BYTES:
        data = b"...(truncated)\n" + data[-MAX_LOG_BYTES:]
    return data.decode("utf-8", "replace")
