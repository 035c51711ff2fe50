"""Run `kargo server`: bootstrap auth, build the app, serve it with uvicorn until a signal.

uvicorn handles SIGINT/SIGTERM: it stops accepting, finishes in-flight requests and runs the
app's lifespan shutdown, which stops the in-process controllers and closes the store.
The URL is printed once the socket is bound; a generated admin password is printed once, at
first start (only its hash is kept, in `Settings.config_file`).
"""

from __future__ import annotations

import logging
import socket
import sys
from collections.abc import Callable
from typing import TextIO

import uvicorn

from kargo.server import app as app_mod, auth, settings as settings_mod


class _Server(uvicorn.Server):
    """uvicorn's server, announcing the bound address once it is listening."""

    def __init__(self, config: uvicorn.Config, announce: Callable[[str], None]) -> None:
        super().__init__(config)
        self._announce = announce

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.should_exit or not self.servers:
            return
        for server in self.servers:
            for sock in server.sockets:
                host, port = sock.getsockname()[:2]
                shown = f"[{host}]" if ":" in str(host) else str(host)
                self._announce(f"http://{shown}:{port}")
                return


def serve(settings: settings_mod.Settings, out: TextIO | None = None) -> int:
    """Serve until stopped; returns the process exit code."""
    stream = out or sys.stdout
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    boot = auth.bootstrap(settings)
    if boot.generated_password is not None:
        stream.write(
            "Generated an admin password (shown only this once; only its bcrypt hash is kept in "
            f"{settings.config_file}):\n\n    {boot.generated_password}\n\n"
            "Log in with: kargo login URL --admin --password-stdin\n"
        )
        stream.flush()
    application = app_mod.create_app(settings, auth_state=boot.state)
    config = uvicorn.Config(
        application,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        lifespan="on",
        access_log=settings.log_level == "debug",
        timeout_graceful_shutdown=10,
    )

    def announce(url: str) -> None:
        components = ",".join(settings.components)
        stream.write(f"Kargo server listening on {url} (components: {components})\n")
        stream.flush()

    server = _Server(config, announce)
    server.run()
    return 0 if server.started else 1
