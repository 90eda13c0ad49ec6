"""Growth of demand and the fleet it needs, quarter by quarter (pure arithmetic, no catalog).

Demand grows exponentially. With a doubling time ``T_d`` (months) the yearly factor is

    g = 2 ** (12 / T_d)            # 3.4 months -> 2 ** 3.53 = 11.56 per year

and demand ``t`` years from now is ``D(t) = D0 x g ** t``. A quarter is provisioned for the demand
at its end (``t = q / 4``), so quarter ``q`` needs

    devices(q) = ceil(D(q/4) x peak / (X x rho))

where ``X`` is one device's sustained throughput in the unit of ``D`` (tokens/s for serving,
device-hours/year for training) and ``rho`` the target utilization. Costs per quarter
(``H = 8766 / 4`` hours):

* rent: ``devices x price_per_hour x H`` (a cloud price includes power);
* buy:  straight-line depreciation of every owned device over ``life`` years
  (``capex / (4 x life)`` per quarter from the quarter it is bought while it is younger than
  its life; the owned fleet never shrinks) + power ``owned x W x PUE x H / 1000 x $/kWh``;
  the capex (cash) column shows when the money leaves;

Row 0 is today's fleet at today's demand (its costs are a quarter's run-rate); rows 1..4Y are
the coming quarters, and the totals sum those. Rent and buy both price the whole need; the
fleet you own today (``fleet``) only dates the run-out.
* power: ``devices x W x PUE / 1e6`` MW (``W`` = accelerator TDP + host share).

The fleet you have today runs out when ``D(t) x peak / (X x rho) = fleet``:

    t* = log(fleet x X x rho / (D0 x peak)) / log(g)   years (negative: it is short already).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from suanli.errors import InputError

HOURS_PER_YEAR = 8766.0  # 365.25 days
HOURS_PER_QUARTER = HOURS_PER_YEAR / 4.0


def parse_doubling(text: str) -> float:
    """A doubling time in months: ``'3.4mo'``, ``'3.4 months'``, ``'6w'``, ``'1y'``, ``'90d'``."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(mo|mos|month|months|w|wk|weeks?|d|days?|y|yr|"
                     r"years?)?\s*", str(text).lower())
    if not m:
        raise InputError(f"cannot read '{text}' as a doubling time; write it like '3.4mo', "
                         "'6 months', '26w' or '1y'")
    value = float(m.group(1))
    unit = (m.group(2) or "mo")[0]
    months = value * {"m": 1.0, "w": 12.0 / 52.1775, "d": 12.0 / 365.25, "y": 12.0}[unit]
    if months <= 0:
        raise InputError(f"the doubling time must be positive, got '{text}'")
    return months


def parse_factor(text: str) -> float:
    """A yearly growth factor: ``'11.6x'``, ``'2'``, ``'+150%'`` (= x2.5)."""
    s = str(text).strip().lower().replace(" ", "")
    m = re.fullmatch(r"x?([0-9]*\.?[0-9]+)x?", s)
    p = re.fullmatch(r"\+?([0-9]*\.?[0-9]+)%", s)
    if m:
        value = float(m.group(1))
    elif p:
        value = 1.0 + float(p.group(1)) / 100.0
    else:
        raise InputError(f"cannot read '{text}' as a yearly growth factor; write it like "
                         "'11.6x', '2' or '+150%'")
    if value <= 0:
        raise InputError(f"the yearly growth factor must be positive, got '{text}'")
    return value


def yearly_factor(doubling_months: float) -> float:
    """``2 ** (12 / T_d)``: 3.4 months -> 11.56."""
    return 2.0 ** (12.0 / doubling_months)


@dataclass(frozen=True)
class Unit:
    """What one device delivers and costs. ``throughput`` is in the demand's unit per device."""

    hardware: str
    throughput: float  # demand units one device serves at full use (e.g. tokens/s)
    power_w: float  # accelerator + host share, before PUE
    rent_per_hour: float | None  # per device, power included
    buy_price: float | None  # per device, purchase (capex)


@dataclass(frozen=True)
class Quarter:
    quarter: int  # 0 = today, 1..4 x years
    months: float  # from today
    demand: float  # in the demand's unit, at the end of the quarter
    growth: float  # demand / today's
    devices: int  # needed at the end of the quarter
    new_devices: int  # bought this quarter (owned fleet never shrinks)
    megawatts: float  # facility power, PUE included
    rent_usd: float | None  # this quarter
    capex_usd: float | None  # cash spent on new devices this quarter
    depreciation_usd: float | None  # this quarter
    power_usd: float  # electricity this quarter (owned fleet)
    buy_usd: float | None  # depreciation + power this quarter
    fleet_ok: bool | None  # today's fleet still covers it (None: no fleet given)


def devices_needed(demand: float, unit: Unit, *, peak: float = 1.0, rho: float = 0.8) -> int:
    """``ceil(demand x peak / (throughput x rho))`` (at least 1 when there is demand)."""
    if demand <= 0:
        return 0
    return max(1, math.ceil(demand * peak / (unit.throughput * rho) - 1e-9))


def runout_months(demand0: float, g: float, fleet_capacity: float) -> float:
    """Months until demand exceeds what the fleet serves (``fleet_capacity`` in demand units):
    ``12 x log(C / D0) / log(g)``; ``inf`` when demand does not grow, negative if short now."""
    if fleet_capacity <= 0:
        return -math.inf
    if g <= 1.0:
        return math.inf if fleet_capacity >= demand0 else -math.inf
    return 12.0 * math.log(fleet_capacity / demand0) / math.log(g)


def project(demand0: float, g: float, unit: Unit, *, years: int = 2, peak: float = 1.0,
            rho: float = 0.8, pue: float = 1.2, usd_per_kwh: float = 0.08,
            life_years: float = 4.0, fleet: int | None = None) -> list[Quarter]:
    """Quarter 0 (today) to ``4 x years``; see the module docstring for every term."""
    if not 1 <= years <= 10:
        raise InputError(f"--years must be between 1 and 10, got {years}")
    if g <= 0 or demand0 <= 0 or unit.throughput <= 0:
        raise InputError("demand, growth and per-device throughput must be positive")
    if pue < 1.0:
        raise InputError(f"--pue must be >= 1 (facility power / IT power), got {pue}")
    out: list[Quarter] = []
    cohorts: list[tuple[int, int]] = []  # (quarter bought, devices)
    owned = 0
    life_q = max(1, round(4 * life_years))
    for q in range(4 * years + 1):
        t = q / 4.0
        d = demand0 * g ** t
        n = devices_needed(d, unit, peak=peak, rho=rho)
        new = max(0, n - owned)
        if new:
            cohorts.append((q, new))
            owned += new
        mw = n * unit.power_w * pue / 1e6
        rent = None if unit.rent_per_hour is None else n * unit.rent_per_hour * HOURS_PER_QUARTER
        power = owned * unit.power_w * pue / 1e3 * HOURS_PER_QUARTER * usd_per_kwh
        if unit.buy_price is None:
            capex = dep = buy = None
        else:
            capex = new * unit.buy_price
            dep = sum(c * unit.buy_price / life_q for q0, c in cohorts if q - q0 < life_q)
            buy = dep + power
        out.append(Quarter(q, 3.0 * q, d, g ** t, n, new, mw, rent, capex, dep, power, buy,
                           None if fleet is None else n <= fleet))
    return out


__all__ = ["HOURS_PER_QUARTER", "HOURS_PER_YEAR", "Quarter", "Unit", "devices_needed",
           "parse_doubling", "parse_factor", "project", "runout_months", "yearly_factor"]
