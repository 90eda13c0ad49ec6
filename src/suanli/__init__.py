"""Suanli (算力): estimate, price, place, schedule and run large-model compute.

Nothing heavy is imported here, so ``import suanli`` and ``suanli --help`` stay instant.
"""

__version__ = "0.1.0"
