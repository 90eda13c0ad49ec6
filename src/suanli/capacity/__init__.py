"""Capacity and growth planning: how many devices, dollars and megawatts a growing demand needs,
quarter by quarter (``growth``: the arithmetic; ``plan``: demand and per-device throughput from
the serving and training models)."""
