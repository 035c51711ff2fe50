"""CLI commands around Warehouses: refresh, assembling Freight, repository credentials.

- `kargo refresh warehouse NAME [--project P] [--wait]`: discover now; with `--wait`, until the
  Warehouse's status shows the refresh handled, then print its Ready condition (a Warehouse that
  is not Ready exits with the discovery error code, 8).
- `kargo create freight --warehouse W --image REPO:TAG --commit URL@SHA --chart URL/NAME:VER`:
  Freight assembled from artifacts the Warehouse discovered (validated by the server).
- `kargo create repo-credentials NAME --git|--image|--helm --repo-url URL [--regex]
  --username U --password-stdin`: the password is read from stdin (or a hidden prompt), never
  from argv, and the server stores it sealed.
- `kargo create -f FILE` keeps working: `create` becomes a group whose callback sends manifests.

`register(app)` wires these into the `kargo` app (`kargo.cli.main`) and gives `kargo get
warehouses` columns that show discovery (READY, LAST FREIGHT, DISCOVERED, MESSAGE).
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from kargo import errors
from kargo.cli import client as client_mod, common, printers, userconfig

WAIT_POLL_SECONDS = 0.5
DEFAULT_WAIT_SECONDS = 300.0

refresh_app = typer.Typer(help="Ask a resource to reconcile now.", no_args_is_help=True)
create_app = typer.Typer(
    help="Create resources from manifests (-f), or Freight and credentials from flags.",
    invoke_without_command=True,
)


def _main() -> Any:
    from kargo.cli import main  # imported late: main imports this module at its end

    return main


def _condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return {}


# -- refresh ----------------------------------------------------------------------------------


@refresh_app.command("warehouse")
def refresh_warehouse(
    name: Annotated[str, typer.Argument(help="Warehouse name")],
    project: common.ProjectOpt = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="wait until discovery has run and show the result")
    ] = False,
    timeout: Annotated[float, typer.Option(help="seconds --wait waits at most")] = (
        DEFAULT_WAIT_SECONDS
    ),
) -> None:
    """Make a Warehouse discover its subscriptions now."""
    main = _main()
    try:
        _refresh(name, common.resolve_project(project), wait, timeout)
    except errors.KargoError as err:
        main.fail(err)


def _refresh(name: str, project: str, wait: bool, timeout: float) -> None:
    base = f"/v1beta1/projects/{project}/warehouses/{name}"
    with client_mod.Client.from_config(userconfig.load()) as api:
        out = api.request("POST", f"{base}/refresh")
        token = str(out["token"])
        if not wait:
            typer.echo(f"warehouse.kargo.akuity.io/{name} refresh requested")
            return
        deadline = time.monotonic() + timeout  # the CLI is an edge: it may wait on the wall clock
        while True:
            warehouse = api.request("GET", base)
            if (warehouse.get("status") or {}).get("lastHandledRefresh") == token:
                break
            if time.monotonic() > deadline:
                raise errors.UnavailableError(
                    f"Warehouse {name!r} did not handle the refresh within {timeout:.0f}s; is the "
                    "server running its controllers (`kargo server --components api,controllers`)?"
                )
            time.sleep(WAIT_POLL_SECONDS)
    ready = _condition(warehouse, "Ready")
    if ready.get("status") == "False":
        raise errors.DiscoveryError(
            f"Warehouse {name!r} is not ready: {ready.get('reason')}: {ready.get('message')}"
        )
    last = (warehouse.get("status") or {}).get("lastFreightID") or "none"
    typer.echo(
        f"warehouse.kargo.akuity.io/{name} refreshed: {ready.get('message') or 'ready'} "
        f"(last Freight: {last})"
    )


# -- create -----------------------------------------------------------------------------------


@create_app.callback()
def create(
    ctx: typer.Context,
    filename: Annotated[
        list[str],
        typer.Option(
            "--filename", "-f", help="manifest file or directory (`-` for stdin); repeatable"
        ),
    ] = [],  # noqa: B006 - Typer reads the default
    recursive: Annotated[
        bool, typer.Option("--recursive", "-R", help="also read directories' subdirectories")
    ] = False,
) -> None:
    """Create the resources in manifests (-f), or use a subcommand."""
    if ctx.invoked_subcommand is not None:
        if filename:
            raise typer.BadParameter("-f cannot be combined with a subcommand")
        return
    main = _main()
    try:
        main._send("create", filename, recursive)
    except errors.KargoError as err:
        main.fail(err)


@create_app.command("freight")
def create_freight(
    warehouse: Annotated[str, typer.Option("--warehouse", help="the Warehouse to draw from")],
    image: Annotated[list[str], typer.Option("--image", help="REPO:TAG[@DIGEST]; repeatable")] = [],  # noqa: B006
    commit: Annotated[list[str], typer.Option("--commit", help="URL@SHA; repeatable")] = [],  # noqa: B006
    chart: Annotated[
        list[str], typer.Option("--chart", help="REPO_URL/NAME:VERSION; repeatable")
    ] = [],  # noqa: B006
    alias: Annotated[str | None, typer.Option(help="alias (default: generated)")] = None,
    project: common.ProjectOpt = None,
    output: Annotated[str | None, typer.Option("--output", "-o", help="yaml, json or name")] = None,
) -> None:
    """Assemble Freight by hand from artifacts a Warehouse discovered."""
    main = _main()
    try:
        if not (image or commit or chart):
            raise errors.ValidationError(
                "no artifacts given; pass --image, --commit and/or --chart (one per subscription "
                f"of {warehouse}; see `kargo get warehouse {warehouse} -o yaml`)"
            )
        body: dict[str, Any] = {"images": image, "commits": commit, "charts": chart}
        if alias:
            body["alias"] = alias
        path = f"/v1beta1/projects/{common.resolve_project(project)}/warehouses/{warehouse}/freight"
        with client_mod.Client.from_config(userconfig.load()) as api:
            created = api.request("POST", path, json=body)
        if output:
            typer.echo(
                printers.render("Freight", [created], output=output, now=_now(), single=True),  # type: ignore[arg-type]
                nl=False,
            )
            return
        typer.echo(
            f"freight.kargo.akuity.io/{created['metadata']['name']} created "
            f"(alias {created.get('alias')})"
        )
    except errors.KargoError as err:
        main.fail(err)


@create_app.command("repo-credentials")
def create_repo_credentials(
    name: Annotated[str, typer.Argument(help="name of the credentials (a Secret)")],
    git: Annotated[bool, typer.Option("--git", help="for a git repository")] = False,
    image: Annotated[bool, typer.Option("--image", help="for an image registry")] = False,
    helm: Annotated[bool, typer.Option("--helm", help="for a Helm chart repository")] = False,
    repo_url: Annotated[str, typer.Option("--repo-url", help="repository URL (or regex)")] = "",
    regex: Annotated[bool, typer.Option("--regex", help="--repo-url is a regex")] = False,
    username: Annotated[str, typer.Option(help="user name")] = "",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from stdin")
    ] = False,
    description: Annotated[str, typer.Option(help="what these credentials are for")] = "",
    shared: Annotated[bool, typer.Option("--shared", help="usable by every project")] = False,
    project: common.ProjectOpt = None,
) -> None:
    """Store credentials for repositories matching a URL (sealed by the server)."""
    main = _main()
    try:
        kinds = [k for k, on in (("git", git), ("image", image), ("helm", helm)) if on]
        if len(kinds) != 1:
            raise errors.ValidationError(
                "choose exactly one of --git, --image or --helm for the credentials' type"
            )
        if not repo_url:
            raise errors.ValidationError(
                "--repo-url is required, e.g. --repo-url https://github.com/acme/app.git"
            )
        if password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        elif sys.stdin.isatty():
            password = typer.prompt("Password", hide_input=True)
        else:
            raise errors.ValidationError(
                "no password given; pipe it in with --password-stdin (never on the command line)"
            )
        body = {
            "name": name,
            "type": kinds[0],
            "repoURL": repo_url,
            "repoURLIsRegex": regex,
            "username": username,
            "password": password,
            "description": description,
        }
        path = (
            "/v1beta1/shared/repo-credentials"
            if shared
            else f"/v1beta1/projects/{common.resolve_project(project)}/repo-credentials"
        )
        with client_mod.Client.from_config(userconfig.load()) as api:
            api.request("POST", path, json=body)
        typer.echo(f"secret/{name} created")
    except errors.KargoError as err:
        main.fail(err)


def _now() -> datetime:
    return datetime.now(UTC)  # the CLI is an edge: ages are relative to the wall clock


# -- get warehouses columns -------------------------------------------------------------------


def _ready(obj: dict[str, Any], _: datetime) -> str:
    return str(_condition(obj, "Ready").get("status") or "Unknown")


def _last_freight(obj: dict[str, Any], _: datetime) -> str:
    return str((obj.get("status") or {}).get("lastFreightID") or "")[:7]


def _discovered(obj: dict[str, Any], now: datetime) -> str:
    at = ((obj.get("status") or {}).get("discoveredArtifacts") or {}).get("discoveredAt")
    if not at:
        return ""
    return printers.age({"metadata": {"creationTimestamp": at}}, now)


def _message(obj: dict[str, Any], _: datetime) -> str:
    ready = _condition(obj, "Ready")
    text = str(ready.get("message") or "")
    if ready.get("status") == "False":
        text = f"{ready.get('reason')}: {text}"
    return text if len(text) <= 80 else text[:77] + "..."


WAREHOUSE_COLUMNS: list[printers.Column] = [
    ("NAME", lambda o, _: str((o.get("metadata") or {}).get("name", ""))),
    ("READY", _ready),
    ("LAST FREIGHT", _last_freight),
    ("DISCOVERED", _discovered),
    ("MESSAGE", _message),
    printers.AGE,
]


def register(app: typer.Typer) -> None:
    """Add `refresh`, turn `create` into a group (keeping `create -f`), set table columns."""
    app.registered_commands[:] = [
        c
        for c in app.registered_commands
        if (c.name or getattr(c.callback, "__name__", "")) != "create"
    ]
    app.add_typer(create_app, name="create")
    app.add_typer(refresh_app, name="refresh")
    printers.COLUMNS["Warehouse"] = WAREHOUSE_COLUMNS
