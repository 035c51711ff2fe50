"""Built-in promotion steps, one module per family."""
