"""A narrow, stable entry point for other parts of Suanli (network quotes, the scheduler,
the service) that need "how long and how much for this training job on that hardware".

    best_training_plan(model, hardware, n_devices, tokens, ...) -> TrainQuote

It runs the planner (``suanli.plan.search``) and returns the best plan's numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from suanli.catalog.schema import ModelSpec
from suanli.perf.training import TrainingJob

if TYPE_CHECKING:
    from suanli.perf.efficiency import Efficiency


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


def make_job(model: str | ModelSpec, hardware: str, tokens: float, *,
             seq_len: int | None = None, global_batch_tokens: float | None = None,
             dtype: str = "bf16", price_usd_per_device_hour: float | None = None,
             pue: float = 1.0, carbon_g_per_kwh: float | None = None,
             goodput: float = 1.0, global_batch: int | None = None) -> TrainingJob:
    """Resolve names against the catalog and apply defaults (sequence length: the model's
    context up to 4096; global batch: ~4M tokens, the usual LLM pre-training batch).
    ``global_batch`` (sequences) overrides ``global_batch_tokens``."""
    from suanli.catalog import load_catalog
    from suanli.errors import InputError

    cat = load_catalog()
    spec = model if isinstance(model, ModelSpec) else cat.model(model)
    system = cat.system(hardware)
    acc = cat.accelerator(system.accelerator)
    seq = seq_len or min(spec.max_seq_len, 4096)
    if seq <= 0:
        raise InputError(f"sequence length must be positive, got {seq}")
    gbt = global_batch_tokens or 4 * 2**20
    batch = global_batch or max(1, round(gbt / seq))
    if batch <= 0:
        raise InputError(f"global batch must be positive, got {batch}")
    if tokens < batch * seq:
        raise InputError(f"--tokens ({tokens:.3g}) is smaller than one global batch "
                         f"({batch} x {seq} = {batch * seq:,} tokens); raise --tokens or lower "
                         "--global-batch")
    return TrainingJob(model=spec, system=system, accelerator=acc, tokens=float(tokens),
                       seq_len=seq, global_batch=batch, dtype=dtype,
                       price_usd_per_device_hour=price_usd_per_device_hour, pue=pue,
                       carbon_g_per_kwh=carbon_g_per_kwh, goodput=goodput)


@lru_cache(maxsize=4096)
def _best(model: str | ModelSpec, hardware: str, n_devices: int, tokens: float,
          seq_len: int | None, global_batch_tokens: float | None, objective: str,
          dtype: str = "bf16", eff: Efficiency | None = None) -> TrainQuote:
    from dataclasses import asdict

    from suanli.perf.training import power_per_device_w
    from suanli.plan.search import search

    job = make_job(model, hardware, tokens, seq_len=seq_len,
                   global_batch_tokens=global_batch_tokens, dtype=dtype)
    est = search(job, n_devices, objective=objective, top=1, eff=eff).best[0]
    return TrainQuote(
        model=job.model.id, system=job.system.id, accelerator=job.accelerator.id,
        n_devices=n_devices, tokens=tokens, step_time_s=est.step_time_s,
        tokens_per_s=est.tokens_per_s, days=est.days, device_hours=est.device_hours,
        mfu=est.mfu, memory_per_device_gb=est.memory_per_device_gb, fits=est.fits,
        power_w_per_device=power_per_device_w(job), plan=asdict(est.plan))


def best_training_plan(model: str | ModelSpec, hardware: str, n_devices: int, tokens: float, *,
                       seq_len: int | None = None, global_batch_tokens: float | None = None,
                       objective: str = "time", dtype: str = "bf16",
                       eff: Efficiency | None = None) -> TrainQuote:
    """Best plan for training ``model`` on ``n_devices`` of ``hardware`` (system or accelerator
    name) over ``tokens`` tokens. Raises InfeasibleError (with reasons and fixes) if none fits.
    ``eff``: the efficiency to plan with instead of the hardware family's fitted one (a site's
    measured figures, :func:`suanli.network.measured.efficiency`); same planner, same plan
    space. Results are memoized: placement asks the same question for many sites."""
    return _best(model, hardware, int(n_devices), float(tokens), seq_len,
                 global_batch_tokens, objective, dtype, eff)
