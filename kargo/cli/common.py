"""Options and helpers shared by the CLI command modules (`main`, `pipeline_cmds`, ...).

- `ProjectOpt`: the `--project` option, defaulting to `kargo config get-project`.
- `resolve_project(project)`: that option's value, or the configured default, or a clear error.
"""

from __future__ import annotations

from typing import Annotated

import typer

from kargo import errors
from kargo.cli import userconfig

ProjectOpt = Annotated[
    str | None, typer.Option(help="project (default: `kargo config get-project`)")
]


def resolve_project(project: str | None) -> str:
    """`project`, else the default project from the user config; ValidationError if neither."""
    project = project or userconfig.load().project
    if not project:
        raise errors.ValidationError(
            "no project given: pass --project NAME or set a default with "
            "`kargo config set-project NAME`"
        )
    return project
