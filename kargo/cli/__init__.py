"""The `kargo` command-line interface."""
