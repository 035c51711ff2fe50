"""Tests of the kargo CLI."""
