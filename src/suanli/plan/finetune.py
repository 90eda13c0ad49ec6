"""Search fine-tuning plans: devices x micro-batch x checkpointing x offload x sharding.

The space is small (tens to a few hundred plans), so each plan is evaluated with
:func:`suanli.perf.finetune.estimate_finetune`; plans that do not fit are dropped, the rest
ranked by time or cost under the constraints of :mod:`suanli.plan.constraints`.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, replace

from suanli.errors import InfeasibleError
from suanli.perf.finetune import FinetuneEstimate, FinetuneJob, FinetunePlan, estimate_finetune
from suanli.plan.constraints import Candidate, Choice, Constraints, choose

MICRO_BATCHES = (1, 2, 4, 8, 16)


@dataclass(frozen=True)
class FinetuneSearch:
    choice: Choice[FinetuneEstimate]
    evaluated: int
    fitting: int
    objective: str


def candidate_plans(job: FinetuneJob, devices: Sequence[int],
                    offloads: Sequence[str] | None = None) -> list[FinetunePlan]:
    """Every plan whose micro-batch divides the global batch's share per device."""
    has_host = bool(job.system.pcie_gbs and job.system.host_memory_bw_gbs)
    offs = offloads or (("none", "optimizer", "params")
                        + (("nvme",) if job.system.nvme_gbs else ()) if has_host else ("none",))
    out = []
    for d, b, ckpt, off in itertools.product(devices, MICRO_BATCHES, (True, False), offs):
        if job.global_batch % (d * b):
            continue
        for shard in ((False, True) if d > 1 else (False,)):
            out.append(FinetunePlan(devices=d, micro_batch=b, checkpointing=ckpt, offload=off,
                                    shard=shard))
    return out


def search_finetune(job: FinetuneJob, devices: Sequence[int], objective: str = "time",
                    constraints: Constraints | None = None, currency: str = "USD",
                    offloads: Sequence[str] | None = None) -> FinetuneSearch:
    """Rank the fitting plans; with ``constraints``, the best one that meets them (or why not).

    A global batch smaller than ``devices`` is raised to one sequence per device."""
    from suanli.money import format_money

    ests: list[FinetuneEstimate] = []
    plans: list[FinetunePlan] = []
    for d in devices:
        j = job if job.global_batch % d == 0 else replace(
            job, global_batch=d * -(-job.global_batch // d))
        for plan in candidate_plans(j, [d], offloads):
            plans.append(plan)
            ests.append(estimate_finetune(j, plan))
    fitting = [e for e in ests if e.fits]
    if not fitting:
        least = min(ests, key=lambda e: e.memory_per_device_gb) if ests else None
        raise InfeasibleError(
            f"fine-tuning {job.model.name} ({job.method}) fits no plan on {list(devices)} x "
            f"{job.accelerator.id}",
            reasons=[f"the leanest plan needs {least.memory_per_device_gb:.1f} GB per device, "
                     f"{least.memory_usable_gb:.1f} GB is usable"] if least else [],
            fixes=["use --method qlora (4-bit base) or lora", "more devices (FSDP shards the "
                   "base)", "--offload params", "a shorter --seq-len"])
    cands = [Candidate(devices=e.plan.devices, days=e.days, cost_usd=e.cost_usd, item=e)
             for e in fitting]
    choice = choose(cands, constraints or Constraints(), objective,
                    lambda usd: format_money(usd, currency))
    return FinetuneSearch(choice=choice, evaluated=len(ests), fitting=len(fitting),
                          objective=objective)
