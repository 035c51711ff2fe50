"""CLI commands of the Stage pipeline: promote, abort, approve, reject, verify, get events.

- `kargo promote --project P (--freight ID | --freight-alias A | --warehouse W)
  (--stage S | --downstream-from S) [--wait]`: `--warehouse` promotes that origin's
  auto-promotion candidate (and resumes auto-promotion); `--wait` polls until every Promotion
  created is finished and exits non-zero unless all Succeeded.
- `kargo promote --name PROMOTION --abort`.
- `kargo approve --freight F --stage S`; `kargo reject --freight F [--stage S] [--reason R]`.
- `kargo verify stage S [--abort]`: re-run (or abort) the Stage's verification.
- `kargo get events`: routed here by `kargo.cli.main.get` (`EVENT_WORDS`).

`register(app)` adds the commands to the `kargo` app. Neighbours: `kargo.server.pipeline_routes`.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
import yaml

from kargo import errors
from kargo.cli import client as client_mod, common, preview_cmds, userconfig

WAIT_POLL_SECONDS = 0.3
DEFAULT_WAIT_SECONDS = 600.0
TERMINAL = ("Succeeded", "Failed", "Errored", "Aborted")
EVENT_WORDS = ("events", "event", "ev")

verify_app = typer.Typer(help="Re-run or abort verification.", no_args_is_help=True)


def _fail(err: errors.KargoError) -> None:
    from kargo.cli import main  # imported late: main imports this module at its end

    main.fail(err)


def _base(project: str) -> str:
    return f"/v1beta1/projects/{project}"


def promote(
    project: common.ProjectOpt = None,
    freight: Annotated[str | None, typer.Option(help="Freight name (ID)")] = None,
    freight_alias: Annotated[str | None, typer.Option("--freight-alias", help="alias")] = None,
    warehouse: Annotated[
        str | None, typer.Option(help="promote this Warehouse's auto-promotion candidate")
    ] = None,
    stage: Annotated[str | None, typer.Option(help="the Stage to promote to")] = None,
    downstream_from: Annotated[
        str | None,
        typer.Option("--downstream-from", help="promote to every Stage downstream of this one"),
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", help="wait until it finishes")] = False,
    timeout: Annotated[float, typer.Option(help="seconds --wait waits at most")] = (
        DEFAULT_WAIT_SECONDS
    ),
    name: Annotated[str | None, typer.Option(help="a Promotion (with --abort)")] = None,
    abort: Annotated[bool, typer.Option("--abort", help="abort the Promotion --name")] = False,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="show the diff it would push; promote nothing"),
    ] = False,
) -> None:
    """Promote Freight to a Stage (or downstream of one), or abort a Promotion."""
    try:
        if dry_run:
            preview_cmds.dry_run_promote(
                project,
                stage=stage,
                freight=freight,
                freight_alias=freight_alias,
                warehouse=warehouse,
                downstream_from=downstream_from,
                wait=wait,
                name=name,
                abort=abort,
            )
            return
        _promote(
            common.resolve_project(project),
            freight,
            freight_alias,
            warehouse,
            stage,
            downstream_from,
            wait,
            timeout,
            name,
            abort,
        )
    except errors.KargoError as err:
        _fail(err)


def _promote(
    project: str,
    freight: str | None,
    alias: str | None,
    warehouse: str | None,
    stage: str | None,
    downstream_from: str | None,
    wait: bool,
    timeout: float,
    name: str | None,
    abort: bool,
) -> None:
    base = _base(project)
    with client_mod.Client.from_config(userconfig.load()) as api:
        if abort or name:
            if not (abort and name):
                raise errors.ValidationError("abort a Promotion with --name PROMOTION --abort")
            api.request("POST", f"{base}/promotions/{name}/abort")
            typer.echo(f"promotion.kargo.akuity.io/{name} abort requested")
            return
        if sum(bool(v) for v in (freight, alias, warehouse)) != 1:
            raise errors.ValidationError(
                "give exactly one of --freight, --freight-alias or --warehouse"
            )
        if bool(stage) == bool(downstream_from):
            raise errors.ValidationError("give exactly one of --stage or --downstream-from")
        body: dict[str, Any] = {}
        if freight:
            body["freight"] = freight
        if alias:
            body["freightAlias"] = alias
        if downstream_from:
            if warehouse:
                raise errors.ValidationError(
                    "--downstream-from needs --freight or --freight-alias, not --warehouse"
                )
            out = api.request(
                "POST", f"{base}/stages/{downstream_from}/promotions/downstream", json=body
            )
            created = list(out["items"])
        else:
            if warehouse:
                body["origin"] = f"Warehouse/{warehouse}"
            created = [api.request("POST", f"{base}/stages/{stage}/promotions", json=body)]
        for promo in created:
            typer.echo(
                f"promotion.kargo.akuity.io/{promo['metadata']['name']} created "
                f"(freight {promo['spec']['freight']} to stage {promo['spec']['stage']})"
            )
        if wait:
            _wait(api, base, [p["metadata"]["name"] for p in created], timeout)


def _wait(api: client_mod.Client, base: str, names: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout  # the CLI is an edge: it may wait on the wall clock
    phases: dict[str, dict[str, Any]] = {}
    while True:
        for name in names:
            if name in phases:
                continue
            status = api.request("GET", f"{base}/promotions/{name}").get("status") or {}
            if status.get("phase") in TERMINAL:
                phases[name] = status
                typer.echo(
                    f"promotion.kargo.akuity.io/{name} {status['phase']}"
                    + (f": {status['message']}" if status.get("message") else "")
                )
        if len(phases) == len(names):
            break
        if time.monotonic() > deadline:
            raise errors.UnavailableError(
                f"promotion(s) not finished within {timeout:.0f}s: "
                + ", ".join(n for n in names if n not in phases)
                + "; is the server running its controllers?"
            )
        time.sleep(WAIT_POLL_SECONDS)
    bad = {n: s for n, s in phases.items() if s.get("phase") != "Succeeded"}
    if bad:
        raise errors.StepError(
            "; ".join(
                f"promotion {n} {s.get('phase')}: {s.get('message', '')}" for n, s in bad.items()
            )
        )


def approve(
    freight: Annotated[str, typer.Option(help="Freight name or alias")],
    stage: Annotated[str, typer.Option(help="the Stage it may enter")],
    project: common.ProjectOpt = None,
) -> None:
    """Approve Freight for a Stage: it becomes available there without upstream verification."""
    try:
        with client_mod.Client.from_config(userconfig.load()) as api:
            out = api.request(
                "POST",
                f"{_base(common.resolve_project(project))}/freight/{freight}/approve",
                json={"stage": stage},
            )
        typer.echo(f"freight.kargo.akuity.io/{out['metadata']['name']} approved for stage {stage}")
    except errors.KargoError as err:
        _fail(err)


def reject(
    freight: Annotated[str, typer.Option(help="Freight name or alias")],
    stage: Annotated[
        str | None, typer.Option(help="the Stage it may not enter (default: every Stage)")
    ] = None,
    reason: Annotated[str, typer.Option(help="why (recorded with your name)")] = "",
    project: common.ProjectOpt = None,
) -> None:
    """Reject Freight for a Stage (or every Stage): it is never promoted there."""
    try:
        body: dict[str, Any] = {"reason": reason}
        if stage:
            body["stage"] = stage
        with client_mod.Client.from_config(userconfig.load()) as api:
            out = api.request(
                "POST",
                f"{_base(common.resolve_project(project))}/freight/{freight}/reject",
                json=body,
            )
        where = f"stage {stage}" if stage else "every stage"
        typer.echo(f"freight.kargo.akuity.io/{out['metadata']['name']} rejected for {where}")
    except errors.KargoError as err:
        _fail(err)


@verify_app.command("stage")
def verify_stage(
    name: Annotated[str, typer.Argument(help="Stage name")],
    abort: Annotated[bool, typer.Option("--abort", help="abort the running verification")] = False,
    project: common.ProjectOpt = None,
) -> None:
    """Re-run the Stage's verification of its current Freight (or abort it)."""
    try:
        path = f"{_base(common.resolve_project(project))}/stages/{name}/verification"
        with client_mod.Client.from_config(userconfig.load()) as api:
            api.request("POST", f"{path}/abort" if abort else path)
        what = "abort of verification" if abort else "verification"
        typer.echo(f"stage.kargo.akuity.io/{name} {what} requested")
    except errors.KargoError as err:
        _fail(err)


def get_events(project: str | None, output: str | None, no_headers: bool, name: str | None) -> None:
    """`kargo get events`: a table (TIME, ACTOR, REASON, OBJECT, MESSAGE) or yaml/json."""
    params = {"name": name} if name else None
    with client_mod.Client.from_config(userconfig.load()) as api:
        out = api.request("GET", f"{_base(common.resolve_project(project))}/events", params=params)
    items: list[dict[str, Any]] = list(out.get("items") or [])
    if output == "json":
        import json

        typer.echo(json.dumps(out, indent=2))
        return
    if output == "yaml":
        typer.echo(yaml.safe_dump(out, sort_keys=False), nl=False)
        return
    if output == "name":
        for e in items:
            typer.echo(f"event/{e['metadata']['name']}")
        return
    rows = [
        [
            str(e.get("timestamp", "")),
            str(e.get("actor", "")),
            str(e.get("reason", "")),
            f"{(e.get('involvedObject') or {}).get('kind', '')}/"
            f"{(e.get('involvedObject') or {}).get('name', '')}",
            str(e.get("message", "")),
        ]
        for e in items
    ]
    header = ["TIME", "ACTOR", "REASON", "OBJECT", "MESSAGE"]
    table = rows if no_headers else [header, *rows]
    if not table:
        typer.echo("no events found", err=True)
        return
    widths = [max(len(r[i]) for r in table) for i in range(len(header) - 1)]
    for row in table:
        typer.echo(
            "   ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + "   " + row[-1]
        )


def register(app: typer.Typer) -> None:
    """Add promote, approve, reject and verify to the `kargo` app."""
    app.command(name="promote")(promote)
    app.command(name="approve")(approve)
    app.command(name="reject")(reject)
    app.add_typer(verify_app, name="verify")
