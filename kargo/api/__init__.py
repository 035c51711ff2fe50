"""The resource kinds as pydantic models, manifest loading with file:line errors, and admission."""
