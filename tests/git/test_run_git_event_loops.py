"""git runs from any event loop: asyncio's own (children reaped through pidfds on Python 3.11),
a loop in another thread, and uvloop installed as the policy (as `uvicorn[standard]` may)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
import uvloop

from kargo.git import cli


@pytest.fixture
def fresh_watcher_choice() -> Iterator[None]:
    """Let `run_git` choose its child watcher again, and restore the loop policy after."""
    policy = asyncio.get_event_loop_policy()
    cli._watcher_checked = False
    yield
    asyncio.set_event_loop_policy(policy)
    cli._watcher_checked = False


def _git_version() -> str:
    async def run() -> str:
        results = await asyncio.gather(*(cli.run_git(["--version"], cwd=None) for _ in range(20)))
        assert all(r.ok for r in results)
        return results[0].stdout

    return asyncio.run(run())


def test_git_runs_on_asyncio_and_in_another_thread(fresh_watcher_choice):
    assert _git_version().startswith("git version")
    out: list[str] = []
    worker = threading.Thread(target=lambda: out.append(_git_version()))
    worker.start()
    worker.join(60)
    assert out
    assert out[0].startswith("git version")


def test_git_runs_when_uvloop_is_the_policy(fresh_watcher_choice):
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    assert _git_version().startswith("git version")
