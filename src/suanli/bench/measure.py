"""The micro-benchmarks behind ``suanli bench``. Each returns seconds for one operation, the
fastest of ``repeats`` timed trials: on a shared machine the other tenants only ever slow a
trial down, so the minimum estimates the hardware's own speed (the workloads report their
fastest step beside the median for the same reason).

PyTorch is used when installed (the framework the workloads run on); otherwise NumPy, and the
per-op autograd overhead is then not measured (0).
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from suanli.bench.profile import DeviceProfile

__all__ = ["FULL_GRID", "QUICK_GRID", "run_bench"]

# GEMM grids (M values, N values, K values); ``quick`` keeps a CI-sized run under ~15 s.
QUICK_GRID = ((1, 16, 128, 1024, 8192), (64, 256, 1024, 4096, 16384), (32, 128, 512, 2048))
FULL_GRID = ((1, 8, 32, 128, 512, 2048, 8192), (64, 128, 256, 512, 1024, 2048, 4096, 16384),
             (16, 32, 64, 128, 256, 512, 1024, 2048, 4096))
ELEMENTWISE_BYTES = tuple(3 * 4 * 2**k for k in range(8, 26, 2))  # 3 tensors x fp32 x n elements
MAX_GEMM_FLOPS = 2 * 4096 * 4096 * 2048  # skip grid corners slower than ~1 s on a small CPU
COLD_BYTES = 128 * 2**20  # weights cycled in a GEMM trial: more than any CPU's last-level cache


def _time(fn: Callable[[], object], repeats: int = 5, min_s: float = 0.02) -> float:
    """Fastest seconds per call; each trial loops until it has run at least ``min_s``."""
    fn()  # warm-up
    per_call = []
    for _ in range(repeats):
        n, t0 = 0, time.perf_counter()
        while True:
            fn()
            n += 1
            dt = time.perf_counter() - t0
            if dt >= min_s:
                break
        per_call.append(dt / n)
    return min(per_call)


class _Backend:
    def __init__(self, threads: int) -> None:
        import contextlib
        import importlib

        self.torch: Any = None
        with contextlib.suppress(ImportError):
            self.torch = importlib.import_module("torch")
        if self.torch is not None:
            self.torch.set_num_threads(threads)
        import numpy as np

        self.np = np

    @property
    def name(self) -> str:
        return f"torch {self.torch.__version__}" if self.torch is not None else \
            f"numpy {self.np.__version__}"

    def gemm(self, m: int, n: int, k: int, dtype: str) -> float:
        """``x @ w.T`` (the layout ``nn.Linear`` runs) with the weight cold: the trials cycle
        through enough weight copies (>= 128 MiB together) that none stays in the caches, as
        in a model whose layers each read their own weights once per step."""
        nbytes = 4 * n * k
        copies = max(1, min(32, -(-COLD_BYTES // nbytes)))
        if self.torch is not None:
            dt = {"fp32": self.torch.float32, "bf16": self.torch.bfloat16}[dtype]
            a = self.torch.randn(m, k, dtype=dt)
            ws = [self.torch.randn(n, k, dtype=dt) for _ in range(copies)]
        else:
            a = self.np.random.rand(m, k).astype("f4")
            ws = [self.np.random.rand(n, k).astype("f4") for _ in range(copies)]
        it = iter(range(1 << 62))
        return _time(lambda: a @ ws[next(it) % copies].T)

    def add(self, nbytes: int) -> float:
        """``a + b`` into a fresh output, as eager frameworks run element-wise ops: the time
        includes allocating and first touching the output's pages."""
        n = nbytes // 12
        if self.torch is not None:
            a, b = (self.torch.rand(n) for _ in range(2))
            return _time(lambda: a + b)
        x, y = (self.np.random.rand(n).astype("f4") for _ in range(2))
        return _time(lambda: x + y)

    def kernels(self) -> dict[str, float]:
        """Seconds per element of the kernels that are not plain streams (transcendentals,
        reductions, zero-filled fresh buffers), on a 4M-element fp32 tensor of 1,024-wide
        rows: softmax, log_softmax, GELU forward and backward, and ``zeros``."""
        if self.torch is None:
            return {}
        torch, n_rows, width = self.torch, 4096, 1024
        n = n_rows * width
        x = torch.randn(n_rows, width)
        g = torch.randn(n_rows, width)
        fns = torch.nn.functional
        y_sm, y_lsm = fns.softmax(x, -1), fns.log_softmax(x, -1)
        out = {
            "softmax": _time(lambda: fns.softmax(x, -1)),
            "softmax_bwd": _time(lambda: torch._softmax_backward_data(g, y_sm, -1, x.dtype)),
            "log_softmax": _time(lambda: fns.log_softmax(x, -1)),
            "log_softmax_bwd": _time(
                lambda: torch._log_softmax_backward_data(g, y_lsm, -1, x.dtype)),
            "gelu": _time(lambda: fns.gelu(x)),
            "gelu_bwd": _time(lambda: torch.ops.aten.gelu_backward(g, x)),
            "zeros": _time(lambda: torch.zeros(n)),
        }
        return {k: v / n for k, v in out.items()}

    def op_overheads(self) -> tuple[float, float]:
        """(seconds of one tiny eager op, extra seconds per op when autograd records it)."""
        if self.torch is None:
            x = self.np.ones(1, dtype="f4")
            return _time(lambda: x + x, min_s=0.05), 0.0
        torch = self.torch
        x = torch.ones(4)
        plain = _time(lambda: torch.add(x, x), min_s=0.05)
        w = torch.ones(4, requires_grad=True)
        chain = 16

        def fwd_bwd() -> None:
            y = w
            for _ in range(chain):
                y = y + 1.0
            y.sum().backward()

        per_op = _time(fwd_bwd, min_s=0.05) / (chain + 2)  # + sum + the backward's root
        return plain, max(per_op - plain, 0.0)

    def step_overheads(self) -> dict[str, dict[str, float]]:
        """Framework seconds per GPT step at negligible size, split into a fixed part and a
        per-layer part from a 1-layer and a 3-layer model (the difference over 2 layers)."""
        if self.torch is None:
            return {}
        from suanli.workloads.gpt import GPT
        from suanli.workloads.shapes import WorkloadModel

        torch = self.torch
        times: dict[str, dict[int, float]] = {"train": {}, "prefill": {}, "decode": {}}
        for layers in (1, 3):
            m = WorkloadModel(layers=layers, hidden=16, heads=1, ffn_hidden=16, vocab=16,
                              max_seq_len=16)
            model = GPT(m)
            opt = torch.optim.AdamW(model.parameters(), lr=1e-4, foreach=True)
            tok = torch.zeros(1, 2, dtype=torch.long)

            def train_step(model=model, opt=opt, tok=tok) -> None:
                out = torch.nn.functional.cross_entropy(model(tok[:, :1]).reshape(-1, 16),
                                                        tok[:, 1])
                opt.zero_grad(set_to_none=True)
                out.backward()
                opt.step()

            times["train"][layers] = _time(train_step, min_s=0.05)
            with torch.inference_mode():
                caches = model.new_caches(1, 16, torch.float32)
                one = tok[:, :1]

                def forward(pos: int, model=model, caches=caches, one=one) -> None:
                    model(one, caches, pos)

                times["prefill"][layers] = _time(lambda: forward(0), min_s=0.05)
                times["decode"][layers] = _time(lambda: forward(4), min_s=0.05)
        out = {}
        for phase, t in times.items():
            per_layer = max((t[3] - t[1]) / 2.0, 0.0)
            out[phase] = {"fixed": max(t[1] - per_layer, 0.0), "per_layer": per_layer}
        return out

    def copy_gbs(self) -> float:
        n = 1 << 24  # 64 MiB of fp32
        if self.torch is not None and self.torch.cuda.is_available():
            host = self.torch.empty(n).pin_memory()
            dev = self.torch.empty(n, device="cuda")

            def h2d() -> None:
                dev.copy_(host)
                self.torch.cuda.synchronize()

            return 4 * n / _time(h2d) / 1e9
        src, dst = self.np.ones(n, dtype="f4"), self.np.empty(n, dtype="f4")
        return 2 * 4 * n / _time(lambda: self.np.copyto(dst, src)) / 1e9


def run_bench(threads: int, grid: tuple[tuple[int, ...], ...] = QUICK_GRID,
              dtypes: tuple[str, ...] = ("fp32",), collective: bool = False,
              progress: Callable[[str], None] | None = None) -> DeviceProfile:
    """Measure this machine and return the profile (see :class:`DeviceProfile`)."""
    from suanli import __version__
    from suanli.workloads.record import cpu_name

    be = _Backend(threads)
    say = progress or (lambda _msg: None)
    gemm: dict[str, list[tuple[int, int, int, float]]] = {}
    for dtype in dtypes:
        if dtype != "fp32" and be.torch is None:
            continue
        rows = []
        for m in grid[0]:
            for n in grid[1]:
                for k in grid[2]:
                    if 2 * m * n * k <= MAX_GEMM_FLOPS:
                        rows.append((m, n, k, be.gemm(m, n, k, dtype)))
        say(f"gemm {dtype}: {len(rows)} shapes")
        gemm[dtype] = rows
    elementwise = [(float(b), be.add(b)) for b in ELEMENTWISE_BYTES]
    say("element-wise bandwidth")
    plain, autograd = be.op_overheads()
    coll: dict[str, Any] | None = None
    if collective:
        from suanli.bench.collective import allreduce_profile

        coll = allreduce_profile(threads=1)
        say("collective")
    versions = {"suanli": __version__, "python": platform.python_version(),
                "numpy": be.np.__version__}
    if be.torch is not None:
        versions["torch"] = be.torch.__version__
    return DeviceProfile(
        tool=f"suanli bench {__version__}",
        date=datetime.now(UTC).isoformat(timespec="seconds"),
        versions=versions,
        hardware={"kind": "cpu", "name": cpu_name(), "threads": threads, "backend": be.name},
        gemm=gemm, elementwise=elementwise, op_overhead_s=plain, autograd_overhead_s=autograd,
        kernels_s_per_element=be.kernels(),
        step_overhead=be.step_overheads(),
        copy_gbs=be.copy_gbs(), collective=coll)
