"""Synthetic workloads with documented distributions (seeded, vectorized).

- Arrivals: Poisson process; the rate is set so that the offered load is ``load`` x cluster GPUs:
  ``lambda = load x gpus / (E[GPUs per job] x E[duration])``.
- GPUs per job: categorical ``GPU_MIX`` (Philly-like: mostly 1 GPU, a tail up to 32; the counts
  in the philly-pollux README give 93% / 2.2% / 2.3% / 2.0% / 0.3% for 1/2/4/8/16+).
- GPU sharing: a ``share`` fraction of 1-GPU jobs use 250, 500 or 750 milli-GPU (uniform).
- Duration: lognormal with median 1,144 s and mean 13,136 s (Philly job durations, philly-pollux
  README), i.e. mu = ln 1144, sigma = sqrt(2 ln(13136 / 1144)) = 2.21; capped at 30 days.
- CPU 4 cores and memory 16 GiB per GPU (assumption); ``kind`` uniform over compute, default,
  memory (the throughput table's kinds).
"""

from __future__ import annotations

import numpy as np

from suanli.errors import InputError
from suanli.sched.job import MILLI, Workload

GPU_MIX = {1: 0.70, 2: 0.10, 4: 0.10, 8: 0.08, 16: 0.015, 32: 0.005}
MEDIAN_S, MEAN_S = 1144.0, 13136.0  # Philly job durations (philly-pollux README)
MAX_S = 30 * 86400.0


def synthetic(jobs: int, cluster_gpus: float, load: float = 0.7, share: float = 0.0,
              seed: int = 0) -> Workload:
    """``jobs`` jobs offering ``load`` x ``cluster_gpus`` GPUs of work on average.

    Durations are on the reference GPU, so ``cluster_gpus`` should be the cluster's capacity
    in reference-GPU equivalents (:func:`suanli.sched.scenario.reference_capacity`)."""
    if jobs <= 0 or cluster_gpus <= 0 or load <= 0 or not 0 <= share <= 1:
        raise InputError("synthetic needs jobs > 0, cluster GPUs > 0, load > 0, 0 <= share <= 1")
    rng = np.random.default_rng(seed)
    sizes = np.array(list(GPU_MIX))
    probs = np.array(list(GPU_MIX.values()))
    probs = probs / probs.sum()
    num = rng.choice(sizes, size=jobs, p=probs).astype(np.int32)
    mu = np.log(MEDIAN_S)
    sigma = np.sqrt(2 * np.log(MEAN_S / MEDIAN_S))
    dur = np.minimum(rng.lognormal(mu, sigma, size=jobs), MAX_S)
    milli = np.full(jobs, MILLI, dtype=np.int32)
    sharing = (num == 1) & (rng.random(jobs) < share)
    milli[sharing] = rng.choice([250, 500, 750], size=int(sharing.sum()))
    mean_work = float((sizes * probs).sum() * dur.mean())  # GPU-seconds per job
    rate = load * cluster_gpus / mean_work  # jobs per second
    submit = np.cumsum(rng.exponential(1.0 / rate, size=jobs))
    submit -= submit[0]
    gpus = num * milli / MILLI
    return Workload(submit=submit, duration=dur, num_gpu=num, gpu_milli=milli,
                    cpu_milli=np.ceil(gpus * 4000).astype(np.int64),
                    mem_mib=np.ceil(gpus * 16384).astype(np.int64),
                    gpu_spec=np.zeros(jobs, dtype=np.int32),
                    kind=rng.integers(0, 3, size=jobs).astype(np.int32),
                    kinds=["compute", "default", "memory"], source=f"synthetic(seed={seed})")
