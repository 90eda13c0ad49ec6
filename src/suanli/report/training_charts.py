"""Training charts (matplotlib, imported lazily): the scaling curve (days and cost against the
device count) beside the Pareto front of time against cost. PNG or SVG by file suffix."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Point:
    """The best plan at one device count."""

    devices: int
    days: float
    cost_usd: float | None
    label: str  # the plan, for the Pareto labels


def pareto_points(points: Sequence[Point]) -> list[Point]:
    """The points no other point beats on both days and cost."""
    import numpy as np

    from suanli.plan.search import pareto_mask

    priced = [p for p in points if p.cost_usd is not None]
    if not priced:
        return []
    keep = pareto_mask(np.asarray([[p.days, p.cost_usd] for p in priced], dtype=float))
    return sorted((p for p, k in zip(priced, keep, strict=True) if k), key=lambda p: p.days)


def scaling_and_pareto_chart(points: Sequence[Point], path: str | Path, title: str,
                             currency: str = "USD") -> Path:
    """Left: days (and cost, right axis) against devices, log-log. Right: cost against days,
    every point grey, the Pareto front joined and labelled with its device counts."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    from suanli.errors import InputError
    from suanli.money import from_usd, rates

    p = Path(path)
    if p.suffix.lower() not in (".png", ".svg"):
        raise InputError(f"chart file must end in .png or .svg, got '{p.name}'")
    if not points:
        raise InputError("no plan to chart: every device count was infeasible")
    pts = sorted(points, key=lambda q: q.devices)
    sym = rates()[currency].symbol or currency
    # short runs read in hours, long ones in days
    scale, unit = (24.0, "hours") if max(q.days for q in pts) < 2 else (1.0, "days")
    fig, (left, right) = plt.subplots(1, 2, figsize=(12.0, 5.0))
    n = [q.devices for q in pts]
    left.plot(n, [q.days * scale for q in pts], "o-", color="tab:blue", label=unit)
    left.set(xscale="log", yscale="log", xlabel="devices", ylabel=f"{unit} to train",
             title="scaling: time and cost vs devices")
    left.set_xticks(n, labels=[f"{x:,}" for x in n])
    left.xaxis.set_minor_formatter(NullFormatter())
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    money = FuncFormatter(lambda v, _: _money_tick(v, sym))
    left.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    left.yaxis.set_major_formatter(plain)
    left.yaxis.set_minor_formatter(NullFormatter())
    left.grid(True, which="both", alpha=0.3)
    priced = [q for q in pts if q.cost_usd is not None]
    if priced:
        twin = left.twinx()
        twin.plot([q.devices for q in priced],
                  [from_usd(q.cost_usd or 0.0, currency) for q in priced], "s--",
                  color="tab:red", label="cost")
        twin.set_ylabel(f"cost ({sym})", color="tab:red")
        twin.yaxis.set_major_formatter(money)
        front = pareto_points(pts)
        right.scatter([q.days * scale for q in priced],
                      [from_usd(q.cost_usd or 0.0, currency) for q in priced], color="0.7")
        right.plot([q.days * scale for q in front], [from_usd(q.cost_usd or 0.0, currency)
                                             for q in front], "o-", color="tab:green")
        for q in front:
            right.annotate(f"{q.devices:,}", (q.days * scale,
                                              from_usd(q.cost_usd or 0.0, currency)),
                           textcoords="offset points", xytext=(4, 4), fontsize=8)
        right.set(xscale="log", xlabel=f"{unit} to train", ylabel=f"cost ({sym})",
                  title="Pareto front: time vs cost (labels: devices)")
        right.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        right.xaxis.set_major_formatter(plain)
        right.xaxis.set_minor_formatter(NullFormatter())
        right.yaxis.set_major_formatter(money)
        right.grid(True, which="both", alpha=0.3)
    else:
        right.text(0.5, 0.5, "no price known: give --price", ha="center", va="center")
        right.set_axis_off()
    fig.suptitle(title)
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(p, dpi=130)
    plt.close(fig)
    return p


def _money_tick(value: float, sym: str) -> str:
    """Axis ticks keep four significant digits (a Pareto front can span a few percent)."""
    for scale, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{sym}{value / scale:.4g}{suffix}"
    return f"{sym}{value:.4g}"
