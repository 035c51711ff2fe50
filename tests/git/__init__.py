"""Tests of the git CLI wrapper, mirrors and the smart-HTTP fixture."""
