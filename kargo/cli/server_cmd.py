"""`kargo server`: run the API (and the controllers) in this process (`kargo.server.runner`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def server(
    host: Annotated[
        str | None, typer.Option(help="address to listen on [env KARGO_HOST; default 127.0.0.1]")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="port to listen on [env KARGO_PORT; default 8080]")
    ] = None,
    db: Annotated[
        str | None,
        typer.Option(
            help="database URL, sqlite:///PATH or postgresql://... "
            "[env KARGO_DB; default: DATA_DIR/kargo.db]"
        ),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="server config, signing key and SQLite file [env KARGO_DATA_DIR; "
            "default ./kargo-data]",
        ),
    ] = None,
    components: Annotated[
        str | None,
        typer.Option(help="comma-separated: api,controllers [env KARGO_COMPONENTS; default all]"),
    ] = None,
    log_level: Annotated[
        str | None, typer.Option(help="debug, info, warning or error [env KARGO_LOG_LEVEL]")
    ] = None,
) -> None:
    """Run the Kargo API server and controllers (SQLite by default; no Kubernetes needed).

    The admin password: set KARGO_ADMIN_PASSWORD, or let the first start generate one and
    print it once.
    """
    # Imported here so that other commands start without loading the server (FastAPI, uvicorn).
    from kargo.server import runner, settings as settings_mod

    settings = settings_mod.Settings.from_env(
        host=host,
        port=port,
        db=db,
        data_dir=data_dir,
        components=components,
        log_level=log_level,
    )
    raise typer.Exit(runner.serve(settings))
