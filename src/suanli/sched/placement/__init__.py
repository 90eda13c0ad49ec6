"""Node placers, chosen by name: ``make_placer("fgd", target=...)``.

Each placer lives in its own module; all share :class:`~suanli.sched.placement.base.Placer`.
"""

from __future__ import annotations

from suanli.errors import InputError
from suanli.sched.job import Workload
from suanli.sched.names import unknown
from suanli.sched.placement.base import Placer
from suanli.sched.placement.bestfit import BestFitPlacer
from suanli.sched.placement.dotprod import DotProdPlacer
from suanli.sched.placement.fgd import (
    FGDBestFitPlacer,
    FGDPackPlacer,
    FGDPlacer,
    TargetWorkload,
)
from suanli.sched.placement.gpu_clustering import GpuClusteringPlacer
from suanli.sched.placement.gpu_packing import GpuPackingPlacer
from suanli.sched.placement.random import RandomPlacer

SIMPLE: dict[str, type[Placer]] = {
    "random": RandomPlacer,
    "bestfit": BestFitPlacer,
    "dotprod": DotProdPlacer,
    "gpupacking": GpuPackingPlacer,
    "gpuclustering": GpuClusteringPlacer,
}
FRAG_AWARE = ("fgd", "fgd-paper", "fgd-bf", "fgd-pack")
PLACERS: tuple[str, ...] = (*SIMPLE, *FRAG_AWARE)


def make_placer(name: str, target: Workload | TargetWorkload | None = None) -> Placer:
    """A placer by name. Fragmentation-aware placers need the target workload (a trace whose
    request classes define the fragmentation measure); without one they raise."""
    key = name.lower()
    if key in SIMPLE:
        return SIMPLE[key]()
    if key in FRAG_AWARE:
        if target is None:
            raise InputError(f"placer '{name}' needs a target workload (the job trace whose "
                             "request mix defines fragmentation); pass --trace")
        if isinstance(target, TargetWorkload):
            if key == "fgd-bf":
                return FGDBestFitPlacer(target)
            if key == "fgd-pack":
                return FGDPackPlacer(target)
            return FGDPlacer(target, quantize=key == "fgd")
        if key == "fgd-pack":  # ours: the artifact's FGD, partly used nodes first among ties
            return FGDPackPlacer(TargetWorkload.from_workload(target, threshold=0.95))
        if key == "fgd-bf":  # ours: best fit among near-ties of the fragmentation growth
            return FGDBestFitPlacer(TargetWorkload.from_workload(target), resolution=10.0)
        if key == "fgd-paper":  # eq. (2) over the whole distribution, exact dF
            return FGDPlacer(TargetWorkload.from_workload(target))
        # the reference: the artifact's 95% typical pods and integer scores
        return FGDPlacer(TargetWorkload.from_workload(target, threshold=0.95), quantize=True)
    raise unknown("placer", name, PLACERS)


__all__ = ["PLACERS", "Placer", "TargetWorkload", "make_placer"]
