"""The `kargo` command (Typer): login, config, apply/create/delete, get, lint, version, server.

Every command reports failures the same way (`fail`): one line per problem on stderr and the
exit code of the `kargo.errors` class (2 invalid input, 3 not found, 5 unauthenticated, ...).
Manifests are loaded and validated locally first (file:line:column problems, no round trip),
then sent as one multi-document body to `/v1beta1/resources`.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, NoReturn, ParamSpec, TypeVar

import typer
import yaml

import kargo
from kargo import errors
from kargo.api import kinds, lint as api_lint, manifests
from kargo.cli import client as client_mod, common, printers, userconfig

P = ParamSpec("P")
R = TypeVar("R")

app = typer.Typer(
    name="kargo",
    help="Kargo: promote Freight through Stages, without Kubernetes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
config_app = typer.Typer(help="Show and change the CLI's configuration.", no_args_is_help=True)
app.add_typer(config_app, name="config")


def fail(err: errors.KargoError) -> NoReturn:
    """Print an error (and each problem on its own line) to stderr; exit with its code."""
    lines = [f"error: {err.message}"] if err.message else ["error:"]
    if isinstance(err, errors.ValidationError):
        lines.extend(f"  {problem}" for problem in err.problems)
    typer.echo("\n".join(lines), err=True)
    raise typer.Exit(err.exit_code)


def handles_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn KargoErrors raised by a command into `fail`."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except errors.KargoError as err:
            fail(err)

    return wrapper


def _now() -> datetime:
    # The CLI is an edge: AGE columns are relative to the wall clock.
    return datetime.now(UTC)


# -- login / logout / config ------------------------------------------------------------------


@app.command()
@handles_errors
def login(
    server: Annotated[str, typer.Argument(help="API address, e.g. http://127.0.0.1:8080")],
    admin: Annotated[bool, typer.Option("--admin", help="log in as the admin user")] = False,
    password: Annotated[
        str | None,
        typer.Option(help="admin password (visible to other local users; prefer --password-stdin)"),
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the admin password from stdin")
    ] = False,
) -> None:
    """Log in to a Kargo API server and remember the server and token."""
    if not admin:
        raise errors.ValidationError(
            "choose a login method: only --admin is supported; e.g. `kargo login "
            f"{server} --admin --password-stdin`"
        )
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif password is None:
        if not sys.stdin.isatty():
            raise errors.ValidationError(
                "no password given; pass --password-stdin and pipe the password in"
            )
        password = typer.prompt("Admin password", hide_input=True)
    if not password:
        raise errors.ValidationError("the password is empty")
    if not server.startswith(("http://", "https://")):
        server = f"http://{server}"
    with client_mod.Client(server) as api:
        token = api.login(password)
    config = userconfig.load()
    config.api_address = server.rstrip("/")
    config.bearer_token = token
    path = userconfig.save(config)
    typer.echo(f"logged in to {config.api_address} (token saved in {path})")


@app.command()
@handles_errors
def logout() -> None:
    """Forget the token (the server address and project are kept)."""
    config = userconfig.load()
    config.bearer_token = None
    userconfig.save(config)
    typer.echo("logged out")


@config_app.command("set-project")
@handles_errors
def set_project(name: Annotated[str, typer.Argument(help="project name")]) -> None:
    """Set the default project of commands that take --project."""
    config = userconfig.load()
    config.project = name
    userconfig.save(config)
    typer.echo(f"default project set to {name}")


@config_app.command("get-project")
@handles_errors
def get_project() -> None:
    """Print the default project."""
    project = userconfig.load().project
    if not project:
        raise errors.NotFoundError(
            "no default project; set one with `kargo config set-project NAME`"
        )
    typer.echo(project)


@config_app.command("view")
@handles_errors
def view(raw: Annotated[bool, typer.Option("--raw", help="show the token too")] = False) -> None:
    """Print the configuration (the token is hidden unless --raw)."""
    data = userconfig.load().to_dict(raw=raw)
    typer.echo(yaml.safe_dump(data, sort_keys=False).rstrip() if data else "{}")


# -- manifests --------------------------------------------------------------------------------

FileOpt = Annotated[
    list[str],
    typer.Option("--filename", "-f", help="manifest file or directory (`-` for stdin); repeatable"),
]
RecursiveOpt = Annotated[
    bool, typer.Option("--recursive", "-R", help="also read directories' subdirectories")
]


def _load(filenames: list[str], recursive: bool) -> list[tuple[str, dict[str, Any]]]:
    if not filenames:
        raise errors.ValidationError("no manifests given; pass -f FILE (or -f - for stdin)")
    return manifests.load_paths(filenames, recursive)


_SERVER_DOC = re.compile(r"^request body: document (\d+) ")


def _local_source(
    problem: errors.Problem, docs: list[tuple[str, dict[str, Any]]]
) -> errors.Problem:
    """Name the user's file in a server-side problem ("request body: document 3" -> the file)."""
    match = _SERVER_DOC.match(problem.file)
    if not match or not 0 < int(match.group(1)) <= len(docs):
        return problem
    source = docs[int(match.group(1)) - 1][0]
    return dataclasses.replace(problem, file=source + problem.file[match.end() - 1 :])


def _send(op: str, filenames: list[str], recursive: bool) -> None:
    docs = _load(filenames, recursive)
    body = yaml.safe_dump_all([doc for _, doc in docs], sort_keys=False)
    method = {"create": "POST", "apply": "PUT", "delete": "DELETE"}[op]
    with client_mod.Client.from_config(userconfig.load()) as api:
        try:
            out = api.request(
                method,
                "/v1beta1/resources",
                content=body,
                headers={"Content-Type": "application/yaml"},
            )
        except errors.ValidationError as err:
            raise errors.ValidationError(
                err.message, [_local_source(p, docs) for p in err.problems]
            ) from None
    first_error: errors.KargoError | None = None
    for result in out.get("results", []):
        name = printers.qualified_name(
            {
                "kind": result["kind"],
                "apiVersion": result["apiVersion"],
                "metadata": {"name": result["name"]},
            }
        )
        if result["result"] == "failed":
            detail = result.get("error") or {}
            typer.echo(f"error: {name}: {detail.get('message', 'failed')}", err=True)
            if first_error is None:
                cls = client_mod.error_class(
                    str(detail.get("reason")), int(detail.get("status", 500))
                )
                first_error = cls("")
        else:
            typer.echo(f"{name} {result['result']}")
    if first_error is not None:
        raise typer.Exit(first_error.exit_code)


@app.command()
@handles_errors
def apply(filename: FileOpt = [], recursive: RecursiveOpt = False) -> None:  # noqa: B006
    """Create or update the resources in the manifests."""
    _send("apply", filename, recursive)


@app.command()
@handles_errors
def create(filename: FileOpt = [], recursive: RecursiveOpt = False) -> None:  # noqa: B006
    """Create the resources in the manifests (fails for those that exist)."""
    _send("create", filename, recursive)


delete_app = typer.Typer(
    help="Delete the resources named in manifests (-f), or one resource by name.",
    invoke_without_command=True,
)
app.add_typer(delete_app, name="delete")


@delete_app.callback()
@handles_errors
def delete(
    ctx: typer.Context,
    filename: FileOpt = [],  # noqa: B006
    recursive: RecursiveOpt = False,
) -> None:
    """Delete the resources named in the manifests (`-f`), or one resource by name."""
    if ctx.invoked_subcommand is not None:
        if filename:
            raise errors.ValidationError("-f cannot be combined with a subcommand")
        return
    _send("delete", filename, recursive)


def _delete_one(kind: str, name: str, project: str | None) -> None:
    info = kinds.lookup(kind)
    config = userconfig.load()
    _, item_path = _paths(info, project or config.project)
    assert item_path is not None
    with client_mod.Client.from_config(config) as api:
        out = api.request("DELETE", f"{item_path}/{name}")
    shown = printers.qualified_name(
        {"kind": info.kind, "apiVersion": info.api_version, "metadata": {"name": out["name"]}}
    )
    typer.echo(f"{shown} {out['result']}")


NameArg = Annotated[str, typer.Argument(help="name")]
ProjectOpt = common.ProjectOpt


@delete_app.command("project")
@handles_errors
def delete_project(name: NameArg) -> None:
    """Delete a Project and everything in it."""
    _delete_one("Project", name, None)


@delete_app.command("stage")
@handles_errors
def delete_stage(name: NameArg, project: ProjectOpt = None) -> None:
    """Delete a Stage."""
    _delete_one("Stage", name, project)


@delete_app.command("warehouse")
@handles_errors
def delete_warehouse(name: NameArg, project: ProjectOpt = None) -> None:
    """Delete a Warehouse."""
    _delete_one("Warehouse", name, project)


@delete_app.command("freight")
@handles_errors
def delete_freight(
    name: Annotated[str, typer.Argument(help="Freight name or alias")], project: ProjectOpt = None
) -> None:
    """Delete Freight (refused while a Stage uses it)."""
    _delete_one("Freight", name, project)


@app.command()
@handles_errors
def lint(filename: FileOpt = [], recursive: RecursiveOpt = False) -> None:  # noqa: B006
    """Check manifests offline: syntax, schema, and cross-object rules."""
    docs = _load(filename, recursive)
    problems: list[errors.Problem] = list(api_lint.lint(docs))
    if problems:
        raise errors.ValidationError(f"{len(problems)} problem(s) found", problems)
    typer.echo(f"{len(docs)} document(s) OK")


# -- get --------------------------------------------------------------------------------------

_COLLECTION = {
    "Warehouse": "warehouses",
    "Stage": "stages",
    "Freight": "freight",
    "Promotion": "promotions",
    "PromotionTask": "promotion-tasks",
    "AnalysisTemplate": "analysis-templates",
    "ConfigMap": "configmaps",
}
_SHARED = {
    "ClusterPromotionTask": "/v1beta1/shared/cluster-promotion-tasks",
    "ClusterAnalysisTemplate": "/v1beta1/shared/cluster-analysis-templates",
}


def _paths(info: kinds.KindInfo, project: str | None) -> tuple[str, str | None]:
    """(list path, path of one object without the name, or None when fixed)."""
    if info.kind == "Project":
        return "/v1beta1/projects", "/v1beta1/projects"
    if info.kind in _SHARED:
        return _SHARED[info.kind], _SHARED[info.kind]
    if info.kind == "ClusterConfig":
        return "/v1beta1/system/cluster-config", None
    if not project:
        raise errors.ValidationError(
            f"{info.plural} live in a project: pass --project NAME or set a default with "
            "`kargo config set-project NAME`"
        )
    if info.kind == "ProjectConfig":
        return f"/v1beta1/projects/{project}/config", None
    if info.kind not in _COLLECTION:
        raise errors.ValidationError(
            f"`kargo get {info.plural}` is not supported; use one of: projects, warehouses, "
            "stages, freight, promotions, promotiontasks"
        )
    base = f"/v1beta1/projects/{project}/{_COLLECTION[info.kind]}"
    return base, base


@app.command()
@handles_errors
def get(
    resource: Annotated[
        str,
        typer.Argument(help="projects, warehouses, stages, freight, promotions, promotiontasks"),
    ],
    name: Annotated[str | None, typer.Argument(help="one object (Freight: name or alias)")] = None,
    output: Annotated[
        str | None, typer.Option("--output", "-o", help="yaml, json or name (default: a table)")
    ] = None,
    project: ProjectOpt = None,
    no_headers: Annotated[bool, typer.Option("--no-headers", help="omit table headers")] = False,
) -> None:
    """Display one or many resources."""
    if resource.strip().lower() in pipeline_cmds.EVENT_WORDS:
        pipeline_cmds.get_events(project, output, no_headers, name)
        return
    try:
        info = kinds.lookup(resource)
    except errors.KargoError:
        raise errors.ValidationError(
            f"unknown resource type {resource!r}; use projects, warehouses, stages, freight, "
            "promotions or promotiontasks"
        ) from None
    if output not in (None, "yaml", "json", "name"):
        raise errors.ValidationError(f"unknown output format {output!r}; use yaml, json or name")
    config = userconfig.load()
    project = project or config.project
    list_path, item_path = _paths(info, project)
    with client_mod.Client.from_config(config) as api:
        if item_path is None:
            objects = [api.request("GET", list_path)]
            single = True
        elif name:
            objects = [api.request("GET", f"{item_path}/{name}")]
            single = True
        else:
            objects = list(api.list_all(list_path))
            single = False
    text = printers.render(
        info.kind,
        objects,
        output=output or "table",  # type: ignore[arg-type]  # checked above
        now=_now(),
        no_headers=no_headers,
        single=single,
    )
    if not objects and not output:
        where = f" in project {project}" if info.namespaced else ""
        typer.echo(f"no {info.plural} found{where}", err=True)
    typer.echo(text, nl=False)


# -- version / server -------------------------------------------------------------------------


@app.command()
@handles_errors
def version(
    client_only: Annotated[bool, typer.Option("--client", help="only the CLI's version")] = False,
) -> None:
    """Print the CLI's version (and the server's, when logged in)."""
    typer.echo(f"Client Version: {kargo.__version__}")
    config = userconfig.load()
    if client_only or not config.api_address or not config.bearer_token:
        return
    with client_mod.Client.from_config(config) as api:
        body = api.request("GET", "/v1beta1/system/server-version")
    typer.echo(f"Server Version: {body['version']}")


def _register_server() -> None:
    from kargo.cli import server_cmd

    app.command(name="server")(handles_errors(server_cmd.server))


_register_server()
from kargo.cli import warehouse_cmds  # noqa: E402  (after `app`: it registers into it)

warehouse_cmds.register(app)
from kargo.cli import quickstart_cmd  # noqa: E402  (after `app`)

app.add_typer(quickstart_cmd.app, name="quickstart")
from kargo.cli import pipeline_cmds  # noqa: E402  (after `app`: it registers into it)

pipeline_cmds.register(app)
from kargo.cli import preview_cmds  # noqa: E402  (after `app`: it registers into it)

preview_cmds.register(app)
