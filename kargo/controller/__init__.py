"""Reconcilers, the work queue and leases."""
