"""Tests of artifact discovery (registries, git, charts)."""
