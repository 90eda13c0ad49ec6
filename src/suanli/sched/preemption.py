"""What a preemption costs: checkpoint save, restore and restart time, by model size.

A preempted job (LAS/Tiresias demotion, a spot node lost) pays, before it makes progress again,

    overhead = save + restore + restart,   save = S / B_write,   restore = S / B_read,
    S = bytes_per_param x params

- ``bytes_per_param = 14``: what a restart needs of mixed-precision Adam training, bf16/fp16
  weights (2 B) + fp32 master weights (4 B) + Adam momentum and variance (4 + 4 B); the fp16
  gradients (2 B) of the 16 B/param total are not saved (Rajbhandari et al., "ZeRO", SC'20, §3:
  2 + 2 + 12 bytes per parameter).
- ``write_gbps = read_gbps = 1.0`` GB/s per job and ``restart_s = 60`` s (process start,
  framework and data-loader warm-up): **assumptions**, order-of-magnitude values for a shared
  network file system; change them with the CLI (``--ckpt-gbps``, ``--restart-s``).
- ``params``: per job from the trace (``params`` column of a jobs CSV), else the default
  ``1e8`` (**assumption** for Philly-era 2017 jobs, between ResNet-50's 25.6M and GNMT-class
  models).

A spot loss skips the save (the node is gone) and redoes the work since the last checkpoint.
The save is charged to the preempted job's next run (it does not delay the job that preempts:
a simplification). Overhead is wall time, not scaled by GPU speed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BYTES_PER_PARAM = 14.0  # ZeRO (SC'20) §3: 16 B/param of mixed-precision Adam minus fp16 grads
DEFAULT_PARAMS = 1e8  # assumption: Philly-era models
DEFAULT_GBPS = 1.0  # assumption: GB/s per job to/from shared storage
DEFAULT_RESTART_S = 60.0  # assumption: process restart and warm-up


@dataclass(frozen=True)
class CheckpointCost:
    """Per-job preemption overheads (seconds) for the jobs of one workload."""

    params: np.ndarray  # model parameters per job
    write_gbps: float = DEFAULT_GBPS
    read_gbps: float = DEFAULT_GBPS
    restart_s: float = DEFAULT_RESTART_S

    @classmethod
    def for_jobs(cls, n: int, params: np.ndarray | None = None,
                 default_params: float = DEFAULT_PARAMS, gbps: float = DEFAULT_GBPS,
                 restart_s: float = DEFAULT_RESTART_S) -> CheckpointCost:
        p = np.full(n, float(default_params))
        if params is not None:
            p = np.where(np.isfinite(params), params, p)
        return cls(p, gbps, gbps, restart_s)

    def checkpoint_bytes(self, j: int) -> float:
        return BYTES_PER_PARAM * float(self.params[j])

    def save_s(self, j: int) -> float:
        return self.checkpoint_bytes(j) / (self.write_gbps * 1e9)

    def restore_s(self, j: int) -> float:
        return self.checkpoint_bytes(j) / (self.read_gbps * 1e9)

    def preempt_s(self, j: int) -> float:
        """Overhead of a policy preemption: save + restore + restart."""
        return self.save_s(j) + self.restore_s(j) + self.restart_s

    def loss_s(self, j: int) -> float:
        """Overhead of losing the node (spot): restore + restart, no save."""
        return self.restore_s(j) + self.restart_s
