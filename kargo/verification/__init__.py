"""Verification: analysis runs with web, job and prometheus metric providers.

`analysis` drives a run (schedule, limits, phases) with an injected clock, `providers/` take
measurements, `measurement` judges them. The Stage controller creates runs and reads their phase.
"""
