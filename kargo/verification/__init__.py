"""Verification: analysis runs with web, job and prometheus metric providers."""
