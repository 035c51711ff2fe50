"""Tests of the expression language, templates and Kargo functions."""
