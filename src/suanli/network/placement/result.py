"""What a placement returns: the chosen option per job, totals, and how good the answer is."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from suanli.network.placement.table import OptionTable


@dataclass(frozen=True)
class Placement:
    choice: NDArray[np.int64]  # [n_jobs] option index into the table, -1 = not placed
    objective: str
    value: float  # objective value of the choice (USD, seconds or kg)
    method: str  # "milp", "heuristic" or "lp-rounding"
    status: str  # "optimal", "feasible" (time limit / gap), "infeasible"
    solve_s: float
    mip_gap: float | None = None  # the solver's relative gap at the end
    bound: float | None = None  # the solver's dual bound on the objective
    reasons: list[str] = field(default_factory=list)  # for infeasible results

    @property
    def placed(self) -> bool:
        """Does this answer place every job? A MILP answer proven optimal is "optimal", the
        others at best "feasible"; both must compete."""
        return self.status in ("feasible", "optimal")

    def totals(self, table: OptionTable) -> dict[str, float]:
        k = self.choice[self.choice >= 0]
        co2 = table.co2_kg[k]
        return {"cost_usd": float(table.cost_usd[k].sum()),
                "makespan_s": float(table.time_s[k].max()) if len(k) else 0.0,
                "co2_kg": float(np.nansum(co2)), "co2_unknown_jobs": int(np.isnan(co2).sum()),
                "devices": float(table.devices[k].sum()), "placed": len(k)}

    def rows(self, table: OptionTable) -> list[dict[str, object]]:
        """One dict per job (JSON friendly)."""
        out: list[dict[str, object]] = []
        for j, k in enumerate(self.choice):
            if k < 0:
                out.append({"job": table.job_ids[j], "placed": False})
                continue
            site, hw = table.resource_names[int(table.resource[k])].split("/", 1)
            row: dict[str, object] = {
                "job": table.job_ids[j], "placed": True, "site": site, "hardware": hw,
                "devices": int(table.devices[k]), "cost_usd": float(table.cost_usd[k]),
                "time_s": float(table.time_s[k]),
                "co2_kg": None if np.isnan(table.co2_kg[k]) else float(table.co2_kg[k])}
            if table.spot is not None:
                row["spot"] = bool(table.spot[k])
            if table.transfer_s is not None:
                row["transfer_s"] = float(table.transfer_s[k])
            if table.plan is not None:
                row["plan"] = table.plan[k]
            out.append(row)
        return out


ROUNDING = 1e-12  # relative difference that float summation order alone can make


def relative_gap(upper: float, lower: float) -> float:
    """(upper - lower) / |upper|, SIGNED (HiGHS' definition of the MIP gap, without its
    absolute value): >= 0 when ``lower`` is a valid bound on an answer worth ``upper``; a
    negative value means the bound is not one and must be shown, never hidden. 0 when both
    are 0, and 0 when they differ by rounding only (the same sum in another order: within
    ``ROUNDING`` of each other, relative)."""
    if abs(upper - lower) <= ROUNDING * max(abs(upper), abs(lower)):
        return 0.0
    return (upper - lower) / max(abs(upper), 1e-12)
