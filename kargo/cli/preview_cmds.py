"""`kargo preview`: the exact diff a promotion would push, without promoting.

    kargo preview --project P --stage S (--freight ID | --freight-alias A | --warehouse W)
                  [-o json|yaml]

Calls `POST /v1beta1/projects/{project}/stages/{stage}/promotions/preview`
(`kargo.server.preview_routes`) and prints, per repository and branch, a header and the unified
diff (coloured by rich when stdout is a terminal, byte for byte otherwise), then the steps and
how each went. Warnings (Freight not yet available to the Stage) go to stderr. The command
exits 0 when the promotion would succeed, else with the step-failure code (7) after printing.

`kargo promote --dry-run ...` (`kargo.cli.pipeline_cmds`) calls `dry_run_promote`, which prints
the same.
`register(app)` adds the command to the `kargo` app (`kargo.cli.main`).
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.syntax import Syntax

from kargo import errors
from kargo.cli import client as client_mod, common, userconfig

PREVIEW_TIMEOUT_SECONDS = 600.0  # a preview clones, renders and diffs: longer than a GET


def request_preview(
    project: str | None,
    stage: str,
    *,
    freight: str | None = None,
    freight_alias: str | None = None,
    warehouse: str | None = None,
) -> dict[str, Any]:
    """Ask the server for the preview of promoting the Freight to `stage`; the JSON body."""
    if sum(bool(v) for v in (freight, freight_alias, warehouse)) != 1:
        raise errors.ValidationError(
            "give exactly one of --freight, --freight-alias or --warehouse"
        )
    body: dict[str, str] = {}
    if freight:
        body["freight"] = freight
    if freight_alias:
        body["freightAlias"] = freight_alias
    if warehouse:
        body["origin"] = f"Warehouse/{warehouse}"
    config = userconfig.load()
    if not config.api_address or not config.bearer_token:
        raise errors.UnauthenticatedError("not logged in; run `kargo login SERVER --admin` first")
    path = f"/v1beta1/projects/{common.resolve_project(project)}/stages/{stage}/promotions/preview"
    with client_mod.Client(
        config.api_address, config.bearer_token, timeout=PREVIEW_TIMEOUT_SECONDS
    ) as api:
        out = api.request("POST", path, json=body)
    assert isinstance(out, dict)
    return out


def _header(repo: dict[str, Any]) -> str:
    target = f"tag {repo['tag']}" if repo.get("tag") else f"branch {repo.get('branch', '')}"
    new = " (new branch)" if repo.get("newBranch") else ""
    return f"=== {repo['repoURL']} {target}{new}"


def show_preview(body: dict[str, Any], output: str | None = None) -> None:
    """Print a preview (human form, or the whole body as json/yaml); exit 7 unless it succeeds."""
    for warning in body.get("warnings") or []:
        typer.echo(f"warning: {warning}", err=True)
    if output in ("json", "yaml"):
        if output == "json":
            typer.echo(json.dumps(body, indent=2))
        else:
            typer.echo(yaml.safe_dump(body, sort_keys=False), nl=False)
    elif output:
        raise errors.ValidationError(f"unknown output format {output!r}; use json or yaml")
    else:
        _show_human(body)
    phase = str(body.get("phase", ""))
    if phase != "Succeeded":
        message = body.get("message") or "see the steps above"
        raise errors.StepError(f"the promotion would end {phase or 'unfinished'}: {message}")


def _show_human(body: dict[str, Any]) -> None:
    console = Console(file=sys.stdout, highlight=False, soft_wrap=True)
    freight = body.get("freight") or {}
    name = freight.get("alias") or freight.get("name", "")
    typer.echo(
        f"preview of promoting freight {name} to stage {body.get('stage', '')} "
        f"(project {body.get('project', '')}): nothing was pushed"
    )
    repos = body.get("repositories") or []
    if not repos:
        typer.echo("no repository would change (no git-push step pushed anything)")
    for repo in repos:
        typer.echo("")
        typer.echo(_header(repo))
        diff = str(repo.get("diff", ""))
        if not diff:
            typer.echo("(no changes)")
        elif console.is_terminal:
            console.print(Syntax(diff, "diff", theme="ansi_dark", background_color="default"))
        else:
            typer.echo(diff, nl=not diff.endswith("\n"))
    typer.echo("")
    typer.echo("steps:")
    for step in body.get("steps") or []:
        line = f"  {step.get('alias', '')} ({step.get('uses', '')}): {step.get('status', '')}"
        if step.get("message"):
            line += f" - {step['message']}"
        typer.echo(line)
    typer.echo(f"result: {body.get('phase', '')}")


def dry_run_promote(
    project: str | None,
    *,
    stage: str | None,
    freight: str | None,
    freight_alias: str | None,
    warehouse: str | None,
    downstream_from: str | None = None,
    wait: bool = False,
    name: str | None = None,
    abort: bool = False,
    output: str | None = None,
) -> None:
    """`kargo promote --dry-run`: the preview of promoting to `--stage`; raises KargoError."""
    if downstream_from or abort or name or wait:
        raise errors.ValidationError(
            "--dry-run previews one promotion: use it with --stage and one of --freight, "
            "--freight-alias or --warehouse (not with --downstream-from, --name, --abort or "
            "--wait)"
        )
    if not stage:
        raise errors.ValidationError("--dry-run needs --stage: the Stage to preview")
    body = request_preview(
        project, stage, freight=freight, freight_alias=freight_alias, warehouse=warehouse
    )
    show_preview(body, output)


def preview(
    stage: Annotated[str, typer.Option(help="the Stage to preview a promotion to")],
    project: common.ProjectOpt = None,
    freight: Annotated[str | None, typer.Option(help="Freight name (ID)")] = None,
    freight_alias: Annotated[
        str | None, typer.Option("--freight-alias", help="Freight alias")
    ] = None,
    warehouse: Annotated[
        str | None,
        typer.Option(help="preview this Warehouse's newest Freight available to the Stage"),
    ] = None,
    output: Annotated[
        str | None, typer.Option("--output", "-o", help="json or yaml (default: the diffs)")
    ] = None,
) -> None:
    """Show the exact diff promoting Freight to a Stage would push, without promoting."""
    from kargo.cli import main  # imported late: main imports this module at its end

    try:
        body = request_preview(
            project, stage, freight=freight, freight_alias=freight_alias, warehouse=warehouse
        )
        show_preview(body, output)
    except errors.KargoError as err:
        main.fail(err)


def register(app: typer.Typer) -> None:
    """Add `kargo preview` to the app."""
    app.command(name="preview")(preview)
