"""Jobs: what one job asks for (:class:`Demand`) and a whole trace of them (:class:`Workload`).

A workload is stored by column (numpy arrays, one entry per job) so that a million-job trace
costs tens of megabytes, not gigabytes of Python objects, and loaders stay vectorized.

GPU requests follow the openb convention (Weng et al., ATC'23): ``num_gpu`` GPUs, each used for
``gpu_milli`` thousandths (1000 = a whole GPU). ``gpu_milli < 1000`` is only valid with
``num_gpu == 1`` (a GPU-sharing pod).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from suanli.errors import InputError

MILLI = 1000  # milli-GPU per GPU (and milli-CPU per core)


@dataclass(frozen=True, slots=True)
class Demand:
    """Resources one job asks for on the node(s) it runs on."""

    cpu_milli: int = 0  # milli-cores, whole job
    mem_mib: int = 0  # MiB, whole job
    num_gpu: int = 0  # GPUs
    gpu_milli: int = 0  # thousandths of each GPU used (1000 = whole GPU)
    gpu_types: tuple[str, ...] = ()  # allowed GPU types, () = any

    def __post_init__(self) -> None:
        if self.num_gpu < 0 or self.cpu_milli < 0 or self.mem_mib < 0:
            raise InputError(f"negative resource request {self}; requests must be >= 0")
        if self.num_gpu > 0 and not 0 < self.gpu_milli <= MILLI:
            raise InputError(f"gpu_milli must be in 1..1000 when num_gpu > 0, got {self}")
        if self.num_gpu > 1 and self.gpu_milli != MILLI:
            raise InputError(f"multi-GPU jobs must use whole GPUs (gpu_milli=1000), got {self}")

    @property
    def gpus(self) -> float:
        """GPUs requested, fractional for sharing jobs."""
        return self.num_gpu * self.gpu_milli / MILLI

    @property
    def sharing(self) -> bool:
        return self.num_gpu == 1 and self.gpu_milli < MILLI

    @property
    def tag(self) -> tuple[int, int]:
        """GPU affinity class used by GPU-clustering placement, as the FGD artifact defines it
        (``GetGpuAffinityFromPodAnnotation``): ``(0, 0)`` no GPU, ``(1, 0)`` any sharing
        request (all fractions are one class), ``(k, 1000)`` k whole GPUs."""
        if self.num_gpu == 0:
            return (0, 0)
        return (1, 0) if self.sharing else (self.num_gpu, MILLI)


@dataclass
class Workload:
    """A trace of jobs, by column. Times in seconds from the trace start.

    ``duration`` is the run time on the reference hardware (``nan`` when unknown, as for openb
    pods in the never-departing FGD protocol). ``kind`` indexes ``kinds`` (job kind / model
    name, used by the heterogeneity-aware policy's throughput table). ``gpu_spec`` indexes
    ``specs``, each a tuple of allowed GPU types (``()`` = any).
    """

    submit: np.ndarray  # seconds, float64
    duration: np.ndarray  # seconds, float64
    num_gpu: np.ndarray  # int32
    gpu_milli: np.ndarray  # int32, per GPU
    cpu_milli: np.ndarray  # int64
    mem_mib: np.ndarray  # int64
    gpu_spec: np.ndarray  # int32 index into specs
    specs: list[tuple[str, ...]] = field(default_factory=lambda: [()])
    kind: np.ndarray | None = None  # int32 index into kinds
    kinds: list[str] = field(default_factory=lambda: ["default"])
    deadline: np.ndarray | None = None  # seconds (absolute), nan = none
    names: list[str] | None = None
    params: np.ndarray | None = None  # model parameters per job (nan = unknown): checkpoints
    source: str = ""
    bad_rows: list[str] = field(default_factory=list)  # "file:line: why" for skipped rows

    def __post_init__(self) -> None:
        n = len(self.submit)
        for name in ("duration", "num_gpu", "gpu_milli", "cpu_milli", "mem_mib", "gpu_spec"):
            if len(getattr(self, name)) != n:
                raise InputError(f"workload column '{name}' has {len(getattr(self, name))} "
                                 f"entries, expected {n} (one per job)")
        if self.kind is None:
            self.kind = np.zeros(n, dtype=np.int32)
        self._gpus = self.num_gpu * self.gpu_milli / MILLI

    def __len__(self) -> int:
        return len(self.submit)

    def demand(self, i: int) -> Demand:
        """The :class:`Demand` of job ``i``."""
        return Demand(int(self.cpu_milli[i]), int(self.mem_mib[i]), int(self.num_gpu[i]),
                      int(self.gpu_milli[i]), self.specs[int(self.gpu_spec[i])])

    @property
    def gpus(self) -> np.ndarray:
        """GPUs requested per job (fractional for sharing jobs); computed once."""
        return self._gpus

    def take(self, idx: np.ndarray) -> Workload:
        """A new workload with the jobs at ``idx`` (in that order)."""
        opt: dict[str, Any] = {}
        if self.deadline is not None:
            opt["deadline"] = self.deadline[idx]
        if self.names is not None:
            opt["names"] = [self.names[int(i)] for i in idx]
        if self.params is not None:
            opt["params"] = self.params[idx]
        assert self.kind is not None
        return Workload(self.submit[idx], self.duration[idx], self.num_gpu[idx],
                        self.gpu_milli[idx], self.cpu_milli[idx], self.mem_mib[idx],
                        self.gpu_spec[idx], list(self.specs), self.kind[idx],
                        list(self.kinds), source=self.source, bad_rows=list(self.bad_rows),
                        **opt)

    def summary(self) -> dict[str, Any]:
        """Counts and totals, for reports and the CLI."""
        g = self.gpus
        return {"jobs": len(self), "source": self.source, "gpu_jobs": int((g > 0).sum()),
                "sharing_jobs": int(((self.num_gpu == 1) & (self.gpu_milli < MILLI)).sum()),
                "total_gpus_requested": float(g.sum()),
                "gpu_seconds": float(np.nansum(g * self.duration)),
                "span_s": float(self.submit.max() - self.submit.min()) if len(self) else 0.0,
                "bad_rows": len(self.bad_rows)}
