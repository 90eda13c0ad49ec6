"""The framework's own time per GPT step, hot and with its caches evicted between layers.

An eager framework spends time outside the arithmetic on every op: the Python of each module
call, the dispatcher, autograd's bookkeeping, and each kernel's setup. ``suanli bench`` times
that as the step of the workloads' own GPT at negligible size (hidden 16), where nothing else
costs anything, split into a fixed part and a part per layer from a 1- and a 3-layer model.

At that size the interpreter's and the library's code and data (bytecode, objects, dispatch
tables, the kernels' instructions) stay in the core's caches from one layer to the next. In a
real step each layer streams its weights, activations and KV cache in between, and when those
exceed the caches the next layer's framework code and metadata are fetched again from farther
out: the same ops take several times longer (on a 2 MiB-L2 core, the per-layer framework time
of a decode step roughly triples once a layer touches 4 MiB). This module measures that:
the same negligible step, with ``W`` bytes streamed before each layer (and before the final
LayerNorm and head, and before each layer's backward), the streaming itself not counted. The
difference from the same hooks streaming nothing is the extra framework time of a step whose
layers each touch ``W`` bytes (:meth:`DeviceProfile.overhead` adds it to the hot figure).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["EVICT_BYTES", "cold_step_overheads", "split_layers", "step_overheads"]

# bytes streamed before each layer: from well inside a core's L2 to well past it
EVICT_BYTES = tuple(2**20 * w for w in (1, 2, 4, 8, 16))
DEPTHS = (1, 5)  # layers of the two models the fixed and per-layer parts are split from
SAMPLES = 100  # single steps timed per point; the fastest is kept (the bench's estimator)


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


def step_overheads(torch: Any, time_fn: Callable[[Callable[[], object]], float]
                   ) -> dict[str, dict[str, float]]:
    """{phase: {fixed, per_layer}}: framework seconds per step of the negligible GPT (hot),
    from a 1- and a 3-layer model, each timed by ``time_fn`` (the bench's fastest-trial
    timer)."""
    times: dict[str, dict[int, float]] = {"train": {}, "prefill": {}, "decode": {}}
    for layers in (1, 3):
        for phase, step in _steps(torch, layers, None).items():
            times[phase][layers] = time_fn(step)
    return {phase: split_layers(t) for phase, t in times.items()}


def cold_step_overheads(torch: Any, clock: Callable[[], float],
                        sizes: tuple[float, ...] = EVICT_BYTES,
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

    def fastest(step: Callable[[], None]) -> float:
        step()  # warm-up
        best = float("inf")
        for _ in range(samples):
            evict()
            state["spent"] = 0.0
            t0 = clock()
            step()
            best = min(best, clock() - t0 - state["spent"])
        return best

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
