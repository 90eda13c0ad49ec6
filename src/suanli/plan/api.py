"""A narrow, stable entry point for other parts of Suanli (network quotes, the scheduler,
the service) that need "how long and how much for this training job on that hardware".

    best_training_plan(model, hardware, n_devices, tokens, ...) -> TrainQuote

It runs the planner (``suanli.plan.search``) and returns the best plan's numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from suanli.catalog.schema import ModelSpec


@dataclass(frozen=True)
class TrainQuote:
    model: str
    system: str  # system id from the catalog
    accelerator: str  # accelerator id
    n_devices: int
    tokens: float
    step_time_s: float
    tokens_per_s: float
    days: float  # wall-clock days of training
    device_hours: float
    mfu: float  # 0..1
    memory_per_device_gb: float
    fits: bool
    power_w_per_device: float  # accelerator + host share, before PUE
    plan: dict[str, Any] = field(default_factory=dict)

    def energy_kwh(self, pue: float = 1.0) -> float:
        return self.device_hours * self.power_w_per_device / 1000.0 * pue


def best_training_plan(model: str | ModelSpec, hardware: str, n_devices: int, tokens: float, *,
                       seq_len: int | None = None, global_batch_tokens: float | None = None,
                       objective: str = "time") -> TrainQuote:
    """Best plan for training ``model`` on ``n_devices`` of ``hardware`` (system or accelerator
    name) over ``tokens`` tokens. Raises InfeasibleError (with reasons and fixes) if none fits."""
    raise NotImplementedError("being written: see suanli.plan.search")
