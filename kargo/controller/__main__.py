"""`python -m kargo.controller --store URL`: run only the controllers against a store.

`kargo server` runs them in-process with the API; this entry point runs them alone (a worker
replica, or a test that kills and restarts the controllers). It stops cleanly on SIGINT/SIGTERM.
`--steps module` (repeatable) imports a module and calls its `register(registry)` to add steps.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import signal
from pathlib import Path

from kargo import clock as clock_mod
from kargo.controller import manager, promotions
from kargo.promotion import registry as registry_mod, steps
from kargo.store import open_store


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m kargo.controller", description=__doc__)
    parser.add_argument("--store", required=True, help="store URL, e.g. sqlite:///kargo.db")
    parser.add_argument("--work-root", type=Path, default=promotions.work_root_default())
    parser.add_argument("--steps", action="append", default=[], help="extra step module")
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


async def main(argv: list[str] | None = None) -> None:
    """Run the controllers until a signal arrives."""
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    registry = steps.load_builtin_steps(registry_mod.StepRegistry())
    for name in args.steps:
        importlib.import_module(name).register(registry)
    store = await open_store(args.store)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await manager.run_controllers(
            store,
            clock=clock_mod.SystemClock(),
            registry=registry,
            work_root=args.work_root,
            stop=stop,
        )
    finally:
        await store.close()


if __name__ == "__main__":
    asyncio.run(main())
