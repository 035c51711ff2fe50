"""Tests of the file-editing promotion steps (yaml, json, toml, files, kustomize, helm)."""
