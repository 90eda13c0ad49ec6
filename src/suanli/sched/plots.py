"""Charts for scheduling results (matplotlib, written as PNG and SVG)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> list[Path]:
    out = []
    for ext in ("png", "svg"):
        p = path.with_suffix(f".{ext}")
        fig.savefig(p, dpi=120, bbox_inches="tight")
        out.append(p)
    _plt().close(fig)
    return out


def plot_fgd_curves(summary: list[dict[str, Any]], out_dir: Path) -> list[Path]:
    """Allocation vs arrived GPU request: one chart for the default list, a grid for all."""
    plt = _plt()
    grid = np.arange(0, 131, 1.0)
    lists = sorted({s["list"] for s in summary}, key=lambda x: (x != "default", x))
    placers = sorted({s["placer"] for s in summary})
    by = {(s["list"], s["placer"]): s for s in summary}
    files: list[Path] = []
    if "default" in lists:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for p in placers:
            s = by.get(("default", p))
            if s:
                ax.plot(grid, s["mean_curve"],
                        label=f"{p} ({s['unallocated_mean']:.1f}% unalloc.)")
        ax.plot(grid, np.minimum(grid, 100), "k:", lw=0.8, label="ideal")
        ax.set(xlabel="arrived GPU request (% of 6,212 GPUs)", ylabel="GPU allocation (%)",
               title="openb default pod list, mean over seeds", xlim=(60, 130), ylim=(60, 100))
        ax.legend(fontsize=8)
        files += _save(fig, out_dir / "fgd_default_curves")
    n = len(lists)
    cols = 6
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 2.4 * rows), squeeze=False)
    for ax, lst in zip(axes.flat, lists, strict=False):
        for p in placers:
            s = by.get((lst, p))
            if s:
                ax.plot(grid, s["mean_curve"], label=p, lw=1)
        ax.set_title(lst, fontsize=9)
        ax.set_xlim(60, 130)
        ax.set_ylim(60, 100)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=6)
    fig.supxlabel("arrived GPU request (%)")
    fig.supylabel("GPU allocation (%)")
    files += _save(fig, out_dir / "fgd_all_lists_curves")
    fig, ax = plt.subplots(figsize=(max(8, n * 0.6), 4))
    width = 0.8 / max(1, len(placers))
    for k, p in enumerate(placers):
        m = [by[(lst, p)]["unallocated_mean"] if (lst, p) in by else np.nan for lst in lists]
        e = [by[(lst, p)]["unallocated_std"] if (lst, p) in by else 0 for lst in lists]
        ax.bar(np.arange(n) + k * width, m, width, yerr=e, label=p)
    ax.set_xticks(np.arange(n) + 0.4 - width / 2, lists, rotation=60, fontsize=7)
    ax.set_ylabel("unallocated GPU % at 100% arrived")
    ax.legend(fontsize=7, ncol=4)
    files += _save(fig, out_dir / "fgd_unallocated_bars")
    return files


def plot_cdfs(series: dict[str, np.ndarray], out: Path, xlabel: str, title: str) -> list[Path]:
    """Empirical CDFs (log x) of one metric per policy."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, x in series.items():
        x = np.sort(x[np.isfinite(x)])
        if len(x):
            ax.plot(np.maximum(x, 1.0), np.arange(1, len(x) + 1) / len(x), label=name)
    ax.set(xscale="log", xlabel=xlabel, ylabel="CDF", title=title)
    ax.legend(fontsize=8)
    return _save(fig, out)


def plot_series(series: dict[str, tuple[np.ndarray, np.ndarray]], out: Path, xlabel: str,
                ylabel: str, title: str) -> list[Path]:
    """Step curves over time (e.g. GPU utilization) per policy."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 4))
    for name, (t, y) in series.items():
        ax.step(t, y, where="post", label=name, lw=0.8)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.legend(fontsize=8)
    return _save(fig, out)


def plot_bars(values: dict[str, float], out: Path, ylabel: str, title: str) -> list[Path]:
    """One bar per policy."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(max(5, len(values) * 0.9), 3.5))
    ax.bar(list(values), list(values.values()))
    ax.set(ylabel=ylabel, title=title)
    ax.tick_params(axis="x", rotation=30)
    return _save(fig, out)
