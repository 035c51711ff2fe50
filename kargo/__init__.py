"""Kargo: GitOps promotion pipelines (Warehouses, Freight, Stages, Promotions) in Python.

The public surface is deliberately small; everything else is reached through its package
(`kargo.api`, `kargo.store`, ...). `tests/test_public_api.py` pins this list.
"""

from kargo.errors import KargoError

__version__ = "0.1.0"
__all__ = ["KargoError", "__version__"]
