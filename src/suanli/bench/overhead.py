"""The framework's own time per GPT step, hot and with its caches evicted between layers.

An eager framework spends time outside the arithmetic on every op: the Python of each module
call, the dispatcher, autograd's bookkeeping, and each kernel's setup. ``suanli bench`` times
that as the step of the workloads' own GPT at negligible size (hidden 16), where nothing else
costs anything, split into a fixed part and a part per layer from a 1- and a 5-layer model.

At that size the interpreter's and the library's code and data (bytecode, objects, dispatch
tables, the kernels' instructions) stay in the core's caches from one layer to the next. In a
real step each layer streams its weights, activations and KV cache in between, and when those
exceed the caches the next layer's framework code and metadata are fetched again from farther
out: the same ops take several times longer (on a 2 MiB-L2 core, the per-layer framework time
of a decode step roughly triples once a layer touches 4 MiB). This module measures that:
the same negligible step, with ``W`` bytes streamed before each layer (and before the final
LayerNorm and head, and before each layer's backward), the streaming itself not counted. The
difference from the same hooks streaming nothing is the extra framework time of a step whose
layers each touch ``W`` bytes.

The rows are noisy where the curve is steep (a row is the fastest of a hundred steps, and a
busy moment moves one row, not the curve), so the model does not interpolate them: it fits a
smooth saturating curve with few parameters to all of them (:func:`fit_cold_overheads`),
stored as data in the profile and read by :meth:`DeviceProfile.overhead`. The form is the
cache's. Under LRU a line is still cached when it is used again iff fewer than ``C`` bytes
(the cache's size) were touched in between (its stack distance; Mattson et al., "Evaluation
techniques for storage hierarchies", IBM Systems Journal 9(2), 1970). A layer's framework code
and metadata are reused once per layer, at a distance of ``W`` (the stream) plus what the
framework itself touches in between, ``d`` (from 0 to its working set ``F``), so a line is
evicted iff ``W + d > C``: none while ``W + F <= C``, all once ``W >= C``, and the share
between is the share of lines whose ``d`` exceeds ``C - W``. Real caches (set-associative,
pseudo-LRU, prefetching) smooth that step further. The fitted share is a smooth step in
``log W`` with two parameters,

    s(W) = 1 / (1 + (h C / W) ** k)

(half the working set evicted at ``W = h C``; ``k`` the steepness), ``C`` this core's L2
(:mod:`suanli.bench.caches`), and the extra time of each phase and part is ``a * s(W)``, ``a``
the time of refetching all of it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["cold_step_overheads", "evict_sizes", "fastest_step", "fit_cold_overheads",
           "saturation", "split_layers", "step_overheads"]

PHASES, PARTS = ("train", "prefill", "decode"), ("fixed", "per_layer")
# the fit's grid of shapes: the knee h from 1/8 to 8 caches (2^(1/8) apart), steepness k
HALF_GRID = tuple(2.0 ** (j / 8) for j in range(-24, 25))
STEEP_GRID = tuple(0.5 + 0.25 * j for j in range(31))  # 0.5 .. 8
DEPTHS = (1, 5)  # layers of the two models the fixed and per-layer parts are split from
SAMPLES = 100  # single steps timed per point; the fastest is kept (the bench's estimator)


def evict_sizes(cache: float) -> tuple[float, ...]:
    """Bytes streamed before each layer: from a quarter of a core's L2 (``cache``) to eight
    times it, 2^(1/2) apart, dense where the framework's working set is evicted."""
    return tuple(cache * 2.0 ** (j / 2) for j in range(-4, 7))


def split_layers(times: dict[int, float]) -> dict[str, float]:
    """{fixed, per_layer} from step times of a 1-layer and a deeper model (per layer: the
    difference over the extra layers, never negative)."""
    deep = max(times)
    per_layer = max((times[deep] - times[1]) / (deep - 1), 0.0)
    return {"fixed": max(times[1] - per_layer, 0.0), "per_layer": per_layer}


def _steps(torch: Any, layers: int,
           evict: Callable[..., None] | None) -> dict[str, Callable[[], None]]:
    """One train, prefill and decode step of the negligible GPT, ``evict`` (when given)
    hooked before each block, before the final LayerNorm, and before each block's backward.
    Training and prefill run two tokens, so that the step runs every op the real one does
    (the causal mask is built and applied only for more than one query token); decode runs
    one against the cache."""
    from suanli.workloads.gpt import GPT
    from suanli.workloads.shapes import WorkloadModel

    m = WorkloadModel(layers=layers, hidden=16, heads=1, ffn_hidden=16, vocab=16, max_seq_len=16)
    model, serving = GPT(m), GPT(m)  # serving: no backward hooks to set up in its forward
    if evict is not None:
        for net in (model, serving):
            for mod in [*net.blocks, net.ln_f]:
                mod.register_forward_pre_hook(evict)
        for block in model.blocks:
            block.register_full_backward_pre_hook(evict)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, foreach=True)
    tok = torch.zeros(1, 3, dtype=torch.long)
    caches = serving.new_caches(1, 16, torch.float32)

    def train() -> None:
        out = torch.nn.functional.cross_entropy(model(tok[:, :2]).reshape(-1, 16),
                                                tok[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        out.backward()
        opt.step()

    def forward(t: int, pos: int) -> None:
        with torch.inference_mode():
            serving(tok[:, :t], caches, pos)

    return {"train": train, "prefill": lambda: forward(2, 0), "decode": lambda: forward(1, 4)}


def fastest_step(step: Callable[[], None], clock: Callable[[], float], samples: int = SAMPLES,
                 before: Callable[[], None] | None = None,
                 spent: Callable[[], float] = lambda: 0.0) -> float:
    """The fastest of ``samples`` single steps (after one warm-up), each timed alone by
    ``clock``, ``before`` run untimed ahead of each, less what ``spent`` says the step's hooks
    took. The workloads' own estimator (:mod:`suanli.workloads.run` keeps the fastest single
    step): a trial that averages a loop of steps (the bench's :func:`~suanli.bench.measure._time`)
    reads the same tiny GPT's decode layer ~30% slower on this machine (100 vs 77 us), the
    luckiest step against a loop's mean, which had put tiny's predicted TPOT 15-25% high."""
    step()
    best = float("inf")
    for _ in range(samples):
        if before is not None:
            before()
        t0 = clock()
        step()
        best = min(best, clock() - t0 - spent())
    return best


def step_overheads(torch: Any, clock: Callable[[], float], samples: int = SAMPLES
                   ) -> dict[str, dict[str, float]]:
    """{phase: {fixed, per_layer}}: framework seconds per step of the negligible GPT (hot),
    from a 1- and a 5-layer model (the depths of the cold rows), each the fastest of
    ``samples`` single steps (:func:`fastest_step`)."""
    times: dict[str, dict[int, float]] = {"train": {}, "prefill": {}, "decode": {}}
    for layers in DEPTHS:
        for phase, step in _steps(torch, layers, None).items():
            times[phase][layers] = fastest_step(step, clock, samples)
    return {phase: split_layers(t) for phase, t in times.items()}


def cold_step_overheads(torch: Any, clock: Callable[[], float], sizes: tuple[float, ...],
                        samples: int = SAMPLES) -> list[tuple[float, dict[str, dict[str, float]]]]:
    """Rows (W, {phase: {fixed, per_layer}}): the extra framework seconds of a step whose
    layers each stream ``W`` bytes, over the same step whose hooks stream nothing. Each
    step's time is its clock time less the time spent streaming; the fastest of ``samples``
    steps is kept, the streaming buffer read once before each step too."""
    buf = torch.ones(int(max(sizes)) // 4)
    state = {"view": buf[:1], "spent": 0.0}

    def evict(*_args: object) -> None:
        c = clock()
        state["view"].sum()
        state["spent"] += clock() - c

    def before() -> None:
        evict()
        state["spent"] = 0.0

    def fastest(step: Callable[[], None]) -> float:
        return fastest_step(step, clock, samples, before, lambda: state["spent"])

    models = {layers: _steps(torch, layers, evict) for layers in DEPTHS}

    def measure(w: float) -> dict[str, dict[str, float]]:
        state["view"] = buf[:max(int(w) // 4, 1)]
        return {phase: split_layers({n: fastest(models[n][phase]) for n in DEPTHS})
                for phase in ("train", "prefill", "decode")}

    base = measure(0.0)
    rows = []
    for w in sizes:
        got = measure(w)
        rows.append((float(w), {ph: {part: max(got[ph][part] - base[ph][part], 0.0)
                                     for part in ("fixed", "per_layer")} for ph in got}))
    return rows


def saturation(w: float, cache: float, half: float, steep: float) -> float:
    """The share of the framework's cached working set evicted when each layer streams ``w``
    bytes through a cache of ``cache`` bytes: ``1 / (1 + (half * cache / w) ** steep)``."""
    return 0.0 if w <= 0 else 1.0 / (1.0 + (half * cache / w) ** steep)


def fit_cold_overheads(rows: list[tuple[float, dict[str, dict[str, float]]]],
                       cache: float) -> dict[str, Any]:
    """Least-squares fit of ``extra(phase, part, W) = a[phase][part] * s(W)`` (:func:`saturation`)
    to the measured rows: one shape ``(h, k)`` for every phase and part (the same cache and
    framework), an amplitude ``a >= 0`` per phase and part. Each phase's residuals are taken
    relative to the RMS of its rows, so that training's larger times do not set the shape
    alone. For each ``(h, k)`` on a grid (``HALF_GRID`` x ``STEEP_GRID``) every ``a`` is the
    non-negative least-squares amplitude in closed form (``sum y s / sum s^2``); the grid
    point with the least total squared relative residual wins. Returns ``{"cache_bytes",
    "half", "steepness", "extra": {phase: {part: a}}, "rms": {phase: RMS residual / RMS of
    the rows}}`` (empty without rows)."""
    import numpy as np

    phases = [ph for ph in PHASES if rows and all(ph in d for _, d in rows)]
    if not phases or cache <= 0:
        return {}
    w = np.array([r[0] for r in rows], dtype=float)
    ys = np.array([[[d[ph][part] for _, d in rows] for part in PARTS] for ph in phases])
    scale = np.sqrt((ys ** 2).mean(axis=(1, 2)))  # per phase
    scale[scale <= 0] = 1.0
    y = ys / scale[:, None, None]  # (phase, part, row)
    h = np.array(HALF_GRID)[:, None, None]
    k = np.array(STEEP_GRID)[None, :, None]
    sat = 1.0 / (1.0 + (h * cache / w[None, None, :]) ** k)  # (h, k, row)
    ss = (sat ** 2).sum(axis=-1)  # (h, k)
    amp = np.maximum(np.einsum("hkr,pqr->hkpq", sat, y) / ss[..., None, None], 0.0)
    resid = y[None, None] - amp[..., None] * sat[:, :, None, None, :]
    sse = (resid ** 2).sum(axis=(-3, -2, -1))
    i, j = np.unravel_index(int(np.argmin(sse)), sse.shape)
    per_phase = np.sqrt((resid[i, j] ** 2).mean(axis=(-2, -1)))
    return {"cache_bytes": float(cache), "half": float(HALF_GRID[i]),
            "steepness": float(STEEP_GRID[j]),
            "extra": {ph: {part: float(amp[i, j, a, b] * scale[a]) for b, part in enumerate(PARTS)}
                      for a, ph in enumerate(phases)},
            "rms": {ph: float(per_phase[a]) for a, ph in enumerate(phases)}}
