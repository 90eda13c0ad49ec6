"""Charts (matplotlib, headless): a map-like view of sites and placements, the east-west cost
comparison, and cross-site speedup vs WAN bandwidth. Each writes PNG or SVG by file suffix."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from suanli.errors import InputError
from suanli.network.crosssite import CrossSiteReport
from suanli.network.eastwest import EastWestReport
from suanli.network.sites import Network

KIND_COLORS = {"cloud_region": "tab:blue", "ai_centre": "tab:red", "supercomputing": "tab:purple",
               "enterprise": "tab:green", "edge": "tab:orange"}


def _figure(width: float = 11.0, height: float = 6.0) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(width, height))


def _save(fig: Any, path: str | Path) -> Path:
    p = Path(path)
    if p.suffix.lower() not in (".png", ".svg"):
        raise InputError(f"chart file must end in .png or .svg, got '{p.name}'")
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(p, dpi=130)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return p


def site_map(net: Network, path: str | Path, *,
             placements: Sequence[dict[str, Any]] = (),
             sources: dict[str, tuple[float, float]] | None = None,
             title: str = "Suanli compute network") -> Path:
    """Sites on a longitude/latitude plane (equirectangular), sized by devices, coloured by
    kind; each placement is a line from its data source (if any) to the chosen site."""
    fig, ax = _figure()
    for kind, color in KIND_COLORS.items():
        sites = [s for s in net.sites.values() if s.kind == kind]
        if not sites:
            continue
        sizes = [12 + 0.04 * sum(i.count for i in s.inventory) for s in sites]
        ax.scatter([s.location.lon for s in sites], [s.location.lat for s in sites], s=sizes,
                   c=color, alpha=0.6, label=kind.replace("_", " "), edgecolors="k",
                   linewidths=0.3)
    used: dict[str, int] = {}
    for row in placements:
        if not row.get("placed", True) or "site" not in row:
            continue
        site = net.site(str(row["site"]))
        used[site.id] = used.get(site.id, 0) + 1
        src = (sources or {}).get(str(row["job"]))
        if src is not None:
            ax.plot([src[1], site.location.lon], [src[0], site.location.lat], "-", c="0.3",
                    lw=0.6, alpha=0.5)
    for sid, n in used.items():
        s = net.site(sid)
        ax.scatter([s.location.lon], [s.location.lat], s=60 + 20 * n, facecolors="none",
                   edgecolors="k", linewidths=1.2)
        ax.annotate(f"{sid} ({n})", (s.location.lon, s.location.lat), fontsize=7,
                    xytext=(4, 4), textcoords="offset points")
    ax.set(xlim=(-180, 180), ylim=(-60, 75), xlabel="longitude", ylabel="latitude",
           title=title)
    ax.grid(True, lw=0.3)
    ax.legend(loc="lower left", fontsize=8)
    return _save(fig, path)


def east_west_chart(rep: EastWestReport, path: str | Path) -> Path:
    """Stacked cost per hub (capex, energy, operations, transfer) and total time."""
    fig, ax = _figure(9.0, 5.0)
    names = [r.site for r in rep.train]
    bottom = [0.0] * len(names)
    parts = (("capex", [r.capex_usd for r in rep.train]),
             ("energy", [r.energy_usd for r in rep.train]),
             ("operations", [r.ops_usd for r in rep.train]),
             ("data transfer", [r.transfer_usd for r in rep.train]))
    for label, values in parts:
        ax.bar(names, [v / 1e3 for v in values], bottom=[b / 1e3 for b in bottom], label=label)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_ylabel("cost, thousand USD")
    ax2 = ax.twinx()
    ax2.plot(names, [r.total_s / 86400 for r in rep.train], "ko-", label="days (incl. transfer)")
    ax2.set_ylabel("days, start to finish")
    ax2.set_ylim(0, 1.15 * max(r.total_s / 86400 for r in rep.train))
    ax.set_title(f"{rep.model}, {rep.tokens:.3g} tokens on {rep.devices} x {rep.hardware}; "
                 f"data in {rep.data_site}")
    ax.legend(loc="lower left", fontsize=8)
    ax2.legend(loc="lower right", fontsize=8)
    ax.tick_params(axis="x", labelrotation=20)
    return _save(fig, path)


def cross_site_chart(rep: CrossSiteReport, path: str | Path) -> Path:
    """Speedup of spanning sites over running on one site's share, vs WAN bandwidth."""
    fig, ax = _figure(8.0, 5.0)
    for h in sorted({r.sync_every for r in rep.rows}):
        rows = [r for r in rep.rows if r.sync_every == h]
        label = "sync every step" if h == 1 else f"sync every {h} steps (local SGD)"
        ax.plot([r.bandwidth_gbps for r in rows], [r.speedup for r in rows], "o-", label=label)
    ax.axhline(1.0, color="k", lw=0.8, ls="--")
    ax.set(xscale="log", xlabel="WAN bandwidth between sites, Gb/s",
           ylabel=f"speedup vs {rep.devices_total // rep.sites} devices at one site",
           title=f"{rep.model}: {rep.devices_total} x {rep.hardware} over {rep.sites} sites, "
                 f"{rep.latency_ms:.0f} ms")
    ax.grid(True, lw=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)
