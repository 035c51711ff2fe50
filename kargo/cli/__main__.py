"""`python -m kargo.cli`: the same as the `kargo` command."""

from kargo.cli.main import app

app(prog_name="kargo")
