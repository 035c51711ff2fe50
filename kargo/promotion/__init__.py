"""The promotion step engine: registry, step context, orchestration, and the built-in steps."""
