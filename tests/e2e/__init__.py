"""End-to-end tests: a real `kargo server` subprocess driven by the real `kargo` CLI."""
