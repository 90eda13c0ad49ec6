"""The cost waterfall: from a naive deployment to an optimized one, one factor per layer.

Cost per million output tokens, all replica time charged to output tokens:

    usd_per_M = price_per_device_hour x devices / (3600 x output_tokens_per_s x utilization) x 1e6

Layers, applied in this order (each factor is measured with the layers before it already
applied, so the factors multiply exactly into the total; another order gives other factors):

1. **hardware**: baseline accelerator -> target accelerator, both at their list prices;
2. **precision & sparsity**: FP16 -> the target compression (``suanli.infer.compression``);
   quality loss is the user's input and is only carried into the table;
3. **batching & scheduling**: batch 1 -> the highest-throughput batch and TP degree that meet the
   TTFT/TPOT limits under continuous batching (``suanli.infer.curves.best_under_slo``);
4. **utilization**: the share of paid device time that serves traffic, ``u0 -> u1`` (inputs:
   idle replicas at low traffic vs autoscaling and multiplexing; never computed here);
5. **site price & power**: list price -> a site price per device-hour (input, e.g. the cheapest
   market price, ``cheapest_market_price``), plus power at the site's electricity price x PUE
   when the site price excludes power.

The industry claim "about 10x per layer, 10,000x in total" is tested by printing what each layer
actually gives here (``Waterfall.per_layer_geomean``).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

from suanli.errors import InfeasibleError, InputError
from suanli.infer.compression import parse_compression
from suanli.infer.curves import best_tp_under_slo
from suanli.infer.estimate import ServingEstimate, deployment, estimate
from suanli.units import SECONDS_PER_HOUR


@dataclass(frozen=True)
class Step:
    layer: str
    setting: str
    usd_per_million_output_tokens: float
    factor: float  # previous cost / this cost
    cumulative: float  # baseline cost / this cost
    note: str = ""


@dataclass(frozen=True)
class Waterfall:
    model: str
    steps: list[Step] = field(default_factory=list)

    @property
    def total_factor(self) -> float:
        return self.steps[-1].cumulative if self.steps else 1.0

    @property
    def per_layer_geomean(self) -> float:
        n = len(self.steps) - 1
        return self.total_factor ** (1.0 / n) if n > 0 else 1.0


def _usd_per_m(e: ServingEstimate, price: float, util: float) -> float:
    return price * e.devices_per_replica / (SECONDS_PER_HOUR * e.output_tokens_per_s * util) * 1e6


def min_tp(model: str, hw: str, precision: str, sparsity: str) -> int:
    """The smallest power-of-two tensor-parallel degree (<= 64) that holds the weights and one
    sequence."""
    tp = 1
    while tp <= 64:
        try:
            dep = deployment(model, hw, tp=tp, precision=precision, sparsity=sparsity)
            e = estimate(dep, prompt_len=1, output_len=1, batch=1)
            if e.max_concurrent_seqs >= 1:
                return tp
        except InfeasibleError:
            pass
        tp *= 2
    raise InfeasibleError(f"{model} does not fit on up to 64 x {hw}",
                          fixes=["a lower precision", "a device with more memory"])


def _list_price(hw: str) -> float:
    from suanli.catalog import load_catalog

    cat = load_catalog()
    system = cat.system(hw)
    p = system.price_usd_per_device_hour or cat.accelerator(system.accelerator).price_usd_per_hour
    if p is None:
        raise InputError(f"no list price for {hw} in the catalog; give one with a user catalog "
                         "(price_usd_per_hour) or pick hardware that has one")
    return p


def cost_waterfall(model: str, *, prompt_len: int, output_len: int,
                   baseline_hardware: str = "dgx-a100-80gb", hardware: str = "dgx-h100",
                   precision: str = "fp8", sparsity: str = "none",
                   quality_loss: str | None = None, ttft_slo_s: float | None = 2.0,
                   tpot_slo_s: float | None = 0.1, utilization_baseline: float = 0.25,
                   utilization: float = 0.75, site_price_usd_per_device_hour: float | None = None,
                   electricity_usd_per_kwh: float = 0.0, pue: float = 1.0) -> Waterfall:
    """The five-layer waterfall (module docstring) for ``model`` at the given lengths."""
    for name, u in (("--utilization-baseline", utilization_baseline),
                    ("--utilization", utilization)):
        if not 0 < u <= 1:
            raise InputError(f"{name} must be in (0, 1], got {u}")
    parse_compression(precision, sparsity=sparsity)  # validates names early
    steps: list[Step] = []

    def add(layer: str, setting: str, cost: float, note: str = "") -> None:
        prev = steps[-1].usd_per_million_output_tokens if steps else cost
        base = steps[0].usd_per_million_output_tokens if steps else cost
        steps.append(Step(layer, setting, cost, prev / cost, base / cost, note))

    def batch1(hw: str, prec: str, sp: str) -> ServingEstimate:
        tp = min_tp(model, hw, prec, sp)
        return estimate(deployment(model, hw, tp=tp, precision=prec, sparsity=sp),
                        prompt_len=prompt_len, output_len=output_len, batch=1)

    p0, p1 = _list_price(baseline_hardware), _list_price(hardware)
    e0 = batch1(baseline_hardware, "fp16", "none")
    add("baseline", f"{e0.accelerator} x{e0.devices_per_replica}, FP16, batch 1, "
        f"{utilization_baseline:.0%} utilized, list ${p0:.2f}/h", _usd_per_m(e0, p0,
                                                                            utilization_baseline))
    e1 = batch1(hardware, "fp16", "none")
    add("hardware", f"{e1.accelerator} x{e1.devices_per_replica}, list ${p1:.2f}/h",
        _usd_per_m(e1, p1, utilization_baseline))
    e2 = batch1(hardware, precision, sparsity)
    add("precision & sparsity", f"{e2.precision}", _usd_per_m(e2, p1, utilization_baseline),
        f"quality loss (user input): {quality_loss or 'not given'}")
    best = best_tp_under_slo(model, hardware, prompt_len=prompt_len, output_len=output_len,
                             ttft_slo_s=ttft_slo_s, tpot_slo_s=tpot_slo_s,
                             precision=precision, sparsity=sparsity)
    if best is None:
        raise InfeasibleError("no batch meets the TTFT/TPOT limits on the target hardware",
                              fixes=["relax --ttft-slo / --tpot-slo"])
    add("batching & scheduling", f"continuous batching, batch {best.batch}, tp {best.tp} "
        f"(TTFT {best.ttft_continuous_s:.2f} s, TPOT {1e3 * best.tpot_continuous_s:.0f} ms)",
        _usd_per_m(best, p1, utilization_baseline))
    add("utilization", f"{utilization_baseline:.0%} -> {utilization:.0%} of paid time serving",
        _usd_per_m(best, p1, utilization), "an input (autoscaling, multiplexing), not computed")
    site = p1 if site_price_usd_per_device_hour is None else site_price_usd_per_device_hour
    power = best.power_w_per_device / 1000.0 * pue * electricity_usd_per_kwh  # $/device-hour
    add("site price & power", f"${site:.2f}/h + power ${power:.3f}/h (PUE {pue:g})",
        _usd_per_m(best, site + power, utilization),
        "site price not given: list price kept" if site_price_usd_per_device_hour is None
        else "")
    return Waterfall(model, steps)


def cheapest_market_price(accelerator: str, catalogs_dir: Path) -> tuple[float, str] | None:
    """Lowest on-demand price per device-hour for ``accelerator`` in the SkyPilot catalog
    snapshot CSVs under ``catalogs_dir``; (price, "file:instance") or None. Provider names are
    matched against the catalog id and aliases (so a provider's bare "A100" counts as the
    catalog's A100-80GB, whose alias it is; providers do not always say which memory size)."""
    from suanli.catalog import load_catalog

    acc = load_catalog().accelerator(accelerator)
    names = {n.strip().lower() for n in [acc.id, *acc.aliases.split("|")] if n.strip()}
    best: tuple[float, str] | None = None
    for path in sorted(catalogs_dir.glob("*.csv")):
        with path.open(newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                name = (row.get("AcceleratorName") or "").strip().lower()
                if name not in names:
                    continue
                try:
                    price = float(row.get("Price") or "nan") / float(row["AcceleratorCount"])
                except (ValueError, ZeroDivisionError, KeyError):
                    continue
                if math.isfinite(price) and price > 0 and (best is None or price < best[0]):
                    best = (price, f"{path.name}:{row.get('InstanceType')}")
    return best


def plot_waterfall(w: Waterfall, path: str | Path) -> None:
    """Bar chart of cost per million output tokens after each layer (log scale), PNG or SVG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    names = [s.layer for s in w.steps]
    costs = [s.usd_per_million_output_tokens for s in w.steps]
    ax.bar(range(len(costs)), costs, color=["#888"] + ["#2a7"] * (len(costs) - 1))
    for i, s in enumerate(w.steps):
        label = f"${s.usd_per_million_output_tokens:,.3g}" + \
            (f"\n{s.factor:.2g}x" if i else "")
        ax.text(i, s.usd_per_million_output_tokens, label, ha="center", va="bottom", fontsize=8)
    ax.set_yscale("log")
    ax.set_xticks(range(len(names)), names, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("$ per million output tokens")
    ax.set_title(f"{w.model}: cost waterfall, total {w.total_factor:,.0f}x "
                 f"(geomean {w.per_layer_geomean:.2g}x per layer)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
