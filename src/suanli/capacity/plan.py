"""``suanli capacity``: demand (serving or training) x growth -> devices, $, MW per quarter.

A device's throughput comes from the one model Suanli has:

* **serving**: ``suanli.infer.api.serving_quote`` finds the TP degree and batch with the most
  output tokens/s per device whose continuous-batching TTFT and TPOT meet the limits; a device
  then serves ``X = out_tok/s per replica x (prompt + output) / output / devices per replica``
  tokens/s of demand (demand counts prompt + output tokens, as ``infer plan --tokens-per-day``);
* **training**: ``suanli.plan.api.best_training_plan`` gives the device-hours of one run of the
  pipeline on ``run_devices`` devices; a device does ``8766 / device-hours`` runs a year, and
  demand is runs per year (growth scales runs x size, i.e. compute).

The arithmetic per quarter is in ``suanli.capacity.growth``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from suanli.capacity.growth import (
    HOURS_PER_YEAR,
    Quarter,
    Unit,
    project,
    runout_months,
)
from suanli.errors import InputError
from suanli.units import SECONDS_PER_DAY, format_count


@dataclass(frozen=True)
class Demand:
    """Today's demand in ``unit`` (tokens/day or runs/year) and how it was given."""

    value: float
    unit: str  # "tokens/day" | "runs/year"
    source: str


@dataclass(frozen=True)
class CapacityPlan:
    demand: Demand
    yearly_growth: float
    unit: Unit
    quarters: list[Quarter]
    fleet: int | None
    fleet_hardware: str | None
    runout_months: float | None  # None: no fleet given
    assumptions: dict[str, Any] = field(default_factory=dict)

    def totals(self) -> dict[str, float | None]:
        """Rent, buy and power summed over the coming quarters (row 0, today's run-rate,
        excluded); capex over every purchase, today's included (all of it is cash to find)."""

        def total(key: str, first: int = 1) -> float | None:
            vals = [getattr(q, key) for q in self.quarters[first:]]
            return None if any(v is None for v in vals) else float(sum(vals))

        return {"rent_usd": total("rent_usd"), "buy_usd": total("buy_usd"),
                "capex_usd": total("capex_usd", 0), "power_usd": total("power_usd"),
                "peak_megawatts": max(q.megawatts for q in self.quarters),
                "peak_devices": float(max(q.devices for q in self.quarters))}


def demand_from_tokens(tokens_per_day: float) -> Demand:
    if tokens_per_day <= 0:
        raise InputError(f"--tokens-per-day must be positive, got {tokens_per_day:g}")
    return Demand(tokens_per_day, "tokens/day", f"{format_count(tokens_per_day)} tokens/day")


def demand_from_users(users: float, queries_per_user: float, tokens_per_query: float) -> Demand:
    """``users x queries x tokens`` per day."""
    for flag, v in (("--users", users), ("--queries", queries_per_user),
                    ("tokens per query", tokens_per_query)):
        if v <= 0:
            raise InputError(f"{flag} must be positive, got {v:g}")
    value = users * queries_per_user * tokens_per_query
    return Demand(value, "tokens/day", f"{format_count(users)} users x {queries_per_user:g} "
                                       f"queries x {tokens_per_query:g} tokens = "
                                       f"{format_count(value)} tokens/day")


def demand_from_runs(runs_per_year: float, model: str, tokens: float) -> Demand:
    if runs_per_year <= 0:
        raise InputError(f"--runs-per-year must be positive, got {runs_per_year:g}")
    return Demand(runs_per_year, "runs/year",
                  f"{runs_per_year:g} runs/year of {model} on {format_count(tokens)} tokens")


def serving_unit(model: str, hardware: str, *, prompt_len: int, output_len: int,
                 ttft_slo_s: float | None, tpot_slo_s: float | None, precision: str = "bf16",
                 price: float | None = None, buy_price: float | None = None) -> Unit:
    """Tokens/day (prompt + output) one device serves at its best layout under the SLO."""
    from suanli.infer.api import serving_quote

    q = serving_quote(model, hardware, prompt_len=prompt_len, output_len=output_len,
                      ttft_slo_s=ttft_slo_s, tpot_slo_s=tpot_slo_s, precision=precision,
                      price_usd_per_device_hour=price)
    per_dev_tps = (q.output_tokens_per_s_per_replica * (prompt_len + output_len) / output_len
                   / q.devices_per_replica)  # tokens/s per device
    rent = None if q.usd_per_hour is None else q.usd_per_hour / q.devices_total
    label = f"{q.accelerator} ({q.precision}, TP{q.tp}, batch {q.batch})"
    return Unit(label, per_dev_tps * SECONDS_PER_DAY, q.power_w_per_device, rent, buy_price)


def training_unit(model: str, hardware: str, *, tokens: float, run_devices: int,
                  price: float | None = None, buy_price: float | None = None) -> Unit:
    """Runs/year one device does: ``8766 h / device-hours of one run``."""
    from suanli.catalog import load_catalog
    from suanli.plan.api import best_training_plan

    q = best_training_plan(model, hardware, run_devices, tokens)
    if not q.fits:
        raise InputError(f"{model} does not fit on {run_devices} x {hardware}; raise "
                         "--run-devices")
    cat = load_catalog()
    system = cat.system(hardware)
    rent = price if price is not None else (system.price_usd_per_device_hour
                                            or cat.accelerator(system.accelerator)
                                            .price_usd_per_hour)
    label = f"{q.accelerator} ({run_devices} per run, {q.days:.1f} days, MFU {q.mfu:.0%})"
    return Unit(label, HOURS_PER_YEAR / q.device_hours, q.power_w_per_device, rent, buy_price)


def parse_fleet(text: str) -> tuple[int, str | None]:
    """``'1000xH100'`` -> (1000, 'H100'); ``'1000'`` -> (1000, None)."""
    m = re.fullmatch(r"\s*([0-9][0-9_,]*)\s*(?:[x*]\s*(\S.*?))?\s*", str(text), re.IGNORECASE)
    if not m or int(m.group(1).replace(",", "").replace("_", "")) <= 0:
        raise InputError(f"cannot read '{text}' as a fleet; write it like '1000xH100' or '1000'")
    return int(m.group(1).replace(",", "").replace("_", "")), m.group(2)


def plan_capacity(demand: Demand, yearly_growth: float, unit: Unit, *, years: int = 2,
                  peak: float = 1.0, rho: float = 0.8, pue: float = 1.2,
                  usd_per_kwh: float = 0.08, life_years: float = 4.0, fleet: int | None = None,
                  fleet_unit: Unit | None = None) -> CapacityPlan:
    """Quarters for ``years`` and the month today's fleet (``fleet`` devices of ``fleet_unit``,
    default the same hardware) runs out."""
    if not 0 < rho <= 1:
        raise InputError(f"--utilization must be in (0, 1], got {rho}")
    if peak < 1:
        raise InputError(f"--peak (peak-to-mean demand) must be >= 1, got {peak}")
    if life_years <= 0:
        raise InputError(f"--life must be positive, got {life_years}")
    fu = fleet_unit or unit
    same = fleet_unit is None or fleet_unit.hardware == unit.hardware
    quarters = project(demand.value, yearly_growth, unit, years=years, peak=peak, rho=rho,
                       pue=pue, usd_per_kwh=usd_per_kwh, life_years=life_years,
                       fleet=fleet if same else None)
    runout = None
    if fleet is not None:
        capacity = fleet * fu.throughput * rho / peak
        runout = runout_months(demand.value, yearly_growth, capacity)
        if not same:
            quarters = [_mark(q, q.demand * peak <= capacity) for q in quarters]
    return CapacityPlan(demand, yearly_growth, unit, quarters, fleet,
                        None if fleet is None else fu.hardware, runout,
                        {"target_utilization": rho, "peak_to_mean": peak, "pue": pue,
                         "usd_per_kwh": usd_per_kwh, "depreciation_years": life_years,
                         "hours_per_quarter": HOURS_PER_YEAR / 4})


def _mark(q: Quarter, ok: bool) -> Quarter:
    from dataclasses import replace

    return replace(q, fleet_ok=ok)


def runout_text(months: float | None) -> str:
    if months is None:
        return ""
    if months == math.inf:
        return "today's fleet covers the demand for good (no growth)"
    if months <= 0:
        return "today's fleet is already too small"
    return f"today's fleet runs out in {months:.1f} months"
