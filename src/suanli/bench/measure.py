"""The micro-benchmarks behind ``suanli bench``. Each returns seconds for one operation, the
fastest of ``repeats`` timed trials: on a shared machine the other tenants only ever slow a
trial down, so the minimum estimates the hardware's own speed (the workloads report their
fastest step beside the median for the same reason).

Clock: with one thread on a CPU the trials are timed in thread CPU seconds
(``time.thread_time``): equal to wall time on an idle core, and blind to the time the
scheduler gives other tenants, which wall time on a shared machine is not. The workloads
report the same clock (``ResultRecord.step_time_cpu_s``, ``tpot_cpu_s``). With more threads, or
a GPU, wall time (``time.perf_counter``).

PyTorch is used when installed (the framework the workloads run on); otherwise NumPy, and the
per-op autograd overhead is then not measured (0).
"""

from __future__ import annotations

import itertools
import platform
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from suanli.bench.caches import cache_sizes, kv_working_sets
from suanli.bench.overhead import (
    cold_step_overheads,
    evict_sizes,
    fit_cold_overheads,
    step_overheads,
)
from suanli.bench.profile import MMAP_THRESHOLD_BYTES, DeviceProfile

__all__ = ["FULL_GRID", "QUICK_GRID", "run_bench"]

T = TypeVar("T")

# GEMM grids (M values, N values, K values); ``quick`` keeps a CI-sized run under ~15 s.
# M = 1 is a matrix-vector product, a kernel of its own that streams the weight at the
# memory's bandwidth; from M = 2 the library runs its GEMM kernel, which at small M reads
# the weight at half that rate or less (measured here: 14 GB/s at M = 1, 7 GB/s at M = 4).
# The grids hold M = 2 and 4 so that a decode batch's rate is interpolated between GEMMs,
# never across the two kernels.
QUICK_GRID = ((1, 2, 4, 16, 128, 1024, 8192), (64, 256, 1024, 4096, 16384),
              (32, 128, 512, 2048))
FULL_GRID = ((1, 2, 4, 8, 32, 128, 512, 2048, 8192),
             (64, 128, 256, 512, 1024, 2048, 4096, 16384),
             (16, 32, 64, 128, 256, 512, 1024, 2048, 4096))
ELEMENTWISE_BYTES = tuple(3 * 4 * 2**k for k in range(8, 26, 2))  # 3 tensors x fp32 x n elements
MAX_GEMM_FLOPS = 2 * 4096 * 4096 * 2048  # skip grid corners slower than ~1 s on a small CPU
WARM_MAX_M = 16  # GEMM rows also timed with warm weights (decode: M = batch)
# weights cycled in a cold GEMM trial: far beyond a core's own caches (a CPU with a larger
# shared last-level cache, such as this machine's 480 MiB, serves them from there, as it does
# a model's that fits in it); the profile records it (``gemm_cold_bytes``)
COLD_BYTES = 128 * 2**20
MAX_VIEWS = 4096  # inputs cycled in a cold GEMM trial (a small input is a few cache lines)


# attention-shaped batched matmuls (``bmm``): ``BMM_COUNT`` matrices per call, sequence
# lengths x head sizes, both operand orders (QK^T: (s, s, dh); AV: (s, dh, s))
BMM_SEQ, BMM_DH, BMM_COUNT = (32, 128, 512), (16, 32, 64, 128), 32
# warm GEMM weights: a working set in the last-level cache, beyond a core's own (the profile
# records it: ``gemm_warm_bytes``)
WARM_BYTES = 8 * 2**20
# decode attention over a KV cache: the call's shape (batch, heads, cached tokens, head size;
# cache rows: 2 x tokens), 512 KiB of K and V read per call; the working sets it cycles span
# from half a core's L2 to twice the last-level cache (:func:`kv_working_sets`)
KV_SHAPE = (1, 8, 128, 64)


def _cycle(items: Sequence[T], start: int = 0) -> Callable[[], T]:
    """The next of ``items`` at each call, round and round from ``start``: the timed calls
    fetch it from ``itertools.cycle``'s C iterator, the index arithmetic of a Python counter
    (``i % len``) kept out of the timed region."""
    return itertools.cycle([*items[start:], *items[:start]]).__next__


def _time(fn: Callable[[], object], repeats: int = 10, min_s: float = 0.01,
          clock: Callable[[], float] = time.perf_counter) -> float:
    """Fastest seconds per call; each trial loops until it has run at least ``min_s``. Many
    short trials rather than a few long ones: on a crowded machine a short trial has a
    chance to fit in one undisturbed time slice (with caches of its own), a long one none."""
    fn()  # warm-up
    per_call = []
    for _ in range(repeats):
        n, t0 = 0, clock()
        while True:
            fn()
            n += 1
            dt = clock() - t0
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
        gpu = self.torch is not None and self.torch.cuda.is_available()
        self.clock = time.thread_time if threads == 1 and not gpu else time.perf_counter

    def _t(self, fn: Callable[[], object], min_s: float = 0.01) -> float:
        return _time(fn, min_s=min_s, clock=self.clock)

    @property
    def name(self) -> str:
        return f"torch {self.torch.__version__}" if self.torch is not None else \
            f"numpy {self.np.__version__}"

    def gemm(self, m: int, n: int, k: int, dtype: str, cold: bool = True) -> float:
        """``x @ w.T`` (the layout ``nn.Linear`` runs) with the weight cold: the trials cycle
        through enough weight copies (>= 128 MiB together) that none stays in a core's own
        caches, as in a model whose layers each read their own weights once per step.
        ``cold=False``: weights cycled over ``WARM_BYTES`` (in the last-level cache, not a
        core's own), as a small model's weights are from one decode step to the next. The
        copies are views of one random pool, filled once. With ``cold`` the input ``x`` is
        cycled through the pool too (at another phase than the weight): a training step's
        GEMMs read activations and gradients written long before (saved for the backward),
        and where the weight is narrow (N of 128 and K of 512 or more) reading ``x`` is most
        of the time (1.2-1.4x this machine's time with ``x`` reused)."""
        copies = max(1, -(-(COLD_BYTES if cold else WARM_BYTES) // (4 * n * k)))
        pool = self._pool(max(copies * n * k, 2 * m * k), dtype)
        ws = [pool[i * n * k:(i + 1) * n * k].reshape(n, k) for i in range(copies)]
        views = min(pool.shape[0] // (m * k), -(-COLD_BYTES // (4 * m * k)), MAX_VIEWS)
        xs = [pool[i * m * k:(i + 1) * m * k].reshape(m, k) for i in range(
            views if cold else 1)]
        next_x = _cycle([xs[(7 * i + 3) % len(xs)] for i in range(len(xs))])
        next_w = _cycle(ws)

        def call() -> object:
            return next_x() @ next_w().T

        return self._t(call)

    def _pool(self, elements: int, dtype: str) -> Any:
        """A random buffer of at least ``elements`` (reused across calls)."""
        have = getattr(self, "_pool_buf", None)
        if have is None or have[0] != dtype or have[1].shape[0] < elements:
            n = max(elements, COLD_BYTES // 4)
            if self.torch is not None:
                dt = {"fp32": self.torch.float32, "bf16": self.torch.bfloat16}[dtype]
                buf = self.torch.rand(n, dtype=dt)
            else:
                buf = self.np.random.rand(n).astype("f4")
            self._pool_buf = have = (dtype, buf)
        return have[1]

    def bmm(self, seqs: tuple[int, ...] = BMM_SEQ,
            heads: tuple[int, ...] = BMM_DH) -> list[tuple[int, int, int, float]]:
        """Attention's batched matmuls: ``BMM_COUNT`` independent (M x K) @ (K x N) products
        per call (``torch.bmm``, contiguous operands, as autograd saves them), for QK^T
        (M = N = s, K = d_head) and AV (M = K = s, N = d_head). Rows (M, N, K, seconds per
        matrix): many small matrices run at their own rate, below one GEMM of the same total
        shape (each re-reads its own operands; packing is per matrix). The operands are
        cycled through more than ``COLD_BYTES`` (views of the random pool): attention's
        inputs in a training step or a prompt's forward were written by earlier ops, and
        the backward's were saved by the forward, long out of the caches."""
        if self.torch is None:
            return []
        torch, rows = self.torch, []
        for s in seqs:
            for dh in heads:
                for m, n, k in ((s, s, dh), (s, dh, s)):
                    a_s = self._slots(BMM_COUNT * m * k, 2)
                    b_s = self._slots(BMM_COUNT * k * n, 2)
                    def call(next_a=_cycle(a_s), next_b=_cycle(b_s, 1), m=m, n=n,
                             k=k) -> object:
                        return torch.bmm(next_a().view(BMM_COUNT, m, k),
                                         next_b().view(BMM_COUNT, k, n))

                    rows.append((m, n, k, self._t(call) / BMM_COUNT))
        return rows

    def kv_read(self, working_sets: tuple[float, ...]) -> list[tuple[float, float]]:
        """Decode attention over a KV cache: ``q @ k^T`` and ``p @ v`` for one query token
        against ``S`` cached ones, on the strided slices ``cache[:, :, :S]`` of ``[B, heads,
        2S, d_head]`` caches (the workload's layout: per head, ``S`` rows read, the rest of
        the preallocated rows skipped), cycling through calls that touch W bytes in all, so
        that a W above a cache level is read from the next. Each call's K and V interleave
        in one region of a pool (the rows one skips are the other's), so W bytes touched
        take W bytes of memory. Rows (W, seconds per cached byte read), the per-call
        dispatch (the same pair at S = 1) taken off: that is in the step overhead."""
        if self.torch is None:
            return []
        torch = self.torch
        b, nh, s, dh = KV_SHAPE
        q = torch.randn(b, nh, 1, dh)
        p = torch.randn(b, nh, 1, s)

        def cycle(kv: list[tuple[Any, Any]], n: int) -> Callable[[], object]:
            next_kv = _cycle(kv)

            def pair() -> object:
                k, v = next_kv()
                return (q @ k[:, :, :n].transpose(-2, -1), p[..., :n] @ v[:, :, :n])

            return pair

        one = self._t(cycle(self._kv_calls(1), 1))
        read = 2.0 * b * nh * s * dh * 4  # bytes of K and V slices per call
        rows = []
        for w in working_sets:
            calls = max(1, round(w / read))
            t = self._t(cycle(self._kv_calls(calls), s))
            rows.append((calls * read, max(t - one, 0.0) / read))
        return rows

    def _kv_calls(self, calls: int) -> list[tuple[Any, Any]]:
        """``calls`` (K, V) cache pairs of shape ``[B, heads, 2S, d_head]``, views into one
        pool: call ``c``'s K starts at its region's start, its V one head-slice (S rows)
        later, so K's rows ``:S`` and V's rows ``:S`` tile the region."""
        b, nh, s, dh = KV_SHAPE
        region, cache = 2 * b * nh * s * dh, b * nh * 2 * s * dh  # elements
        pool = self.torch.ones(calls * region + s * dh)
        return [(pool[c * region:c * region + cache].view(b, nh, 2 * s, dh),
                 pool[c * region + s * dh:c * region + s * dh + cache].view(b, nh, 2 * s, dh))
                for c in range(calls)]

    def add(self, nbytes: int, cold: bool = False) -> float:
        """``a + b`` into a fresh output, as eager frameworks run element-wise ops: the time
        includes allocating the output. An output at or above the allocator's mmap
        threshold is written into a buffer already mapped instead: a fresh one's page faults
        are priced apart (``fresh_pages``, for the tensors that large), and this row is the
        stream alone. ``cold``: the inputs are cycled through a pool of more than
        ``COLD_BYTES`` (views of the random pool), as a training step reads activations it
        wrote long before."""
        n = nbytes // 12
        out = self.torch.empty(n) if self.torch is not None and \
            4 * n >= MMAP_THRESHOLD_BYTES else None
        if cold:
            slots = self._slots(n, 2)
            next_a, next_b = _cycle(slots), _cycle(slots, 1)

            def add_cold() -> object:
                a, b = next_a(), next_b()
                return a + b if out is None else self.torch.add(a, b, out=out)

            return self._t(add_cold)
        if self.torch is not None:
            a, b = (self.torch.rand(n) for _ in range(2))
            return self._t(lambda: a + b if out is None else self.torch.add(a, b, out=out))
        x, y = (self.np.random.rand(n).astype("f4") for _ in range(2))
        return self._t(lambda: x + y)

    def _slots(self, n: int, least: int) -> list[Any]:
        """At least ``least`` disjoint fp32 views of ``n`` elements into the random pool,
        as many as fill ``COLD_BYTES`` (the pool grows to hold ``least``)."""
        pool = self._pool(max(least * n, COLD_BYTES // 4), "fp32")
        count = max(least, min(pool.shape[0] // n, -(-COLD_BYTES // (4 * n))))
        return [pool[i * n:(i + 1) * n] for i in range(count)]

    def kernels(self, cold: bool = False) -> dict[str, float]:
        """Seconds per element of the kernels that are not plain streams (transcendentals,
        reductions, zero-filled fresh buffers, masked fills), on a 4M-element fp32 tensor of
        1,024-wide rows: softmax, log_softmax, GELU forward and backward, ``zeros``, the
        causal mask's ``masked_fill``, the bias gradient's sum over rows and greedy sampling's
        ``argmax`` over rows. ``cold``: every
        call's inputs are the next of views cycled through more than ``COLD_BYTES`` (a
        training step's regime); hot: the same inputs every call."""
        if self.torch is None:
            return {}
        torch, n_rows, width = self.torch, 4096, 1024
        n = n_rows * width
        fns = torch.nn.functional
        slots = [v.view(n_rows, width) for v in self._slots(n, 2)] if cold else \
            [torch.randn(n_rows, width), torch.randn(n_rows, width)]
        # (input, incoming gradient) of each call: consecutive views
        pair = _cycle([(a, slots[(i + 1) % len(slots)]) for i, a in enumerate(slots)])

        causal = torch.ones(width, width, dtype=torch.bool).tril()
        out = {
            "softmax": self._t(lambda: fns.softmax(pair()[0], -1)),
            # backward kernels read (gradient, output): their values do not change the time
            "softmax_bwd": self._t(
                lambda: torch._softmax_backward_data(*pair(), -1, torch.float32)),
            "log_softmax": self._t(lambda: fns.log_softmax(pair()[0], -1)),
            "log_softmax_bwd": self._t(
                lambda: torch._log_softmax_backward_data(*pair(), -1, torch.float32)),
            "gelu": self._t(lambda: fns.gelu(pair()[0])),
            "gelu_bwd": self._t(lambda: torch.ops.aten.gelu_backward(*pair())),
            "zeros": self._t(lambda: torch.zeros(n)),
            # a Linear's bias gradient: the output gradient summed over its rows (strided)
            "sum_rows": self._t(lambda: pair()[1].sum(0)),
            # the causal mask: a [rows, rows] boolean broadcast over the batch of score rows
            "masked_fill": self._t(
                lambda: pair()[0].view(-1, width, width).masked_fill(~causal, -1e9)),
            # greedy sampling: the index of each row's largest logit
            "argmax": self._t(lambda: pair()[0].argmax(-1, keepdim=True)),
        }
        return {k: v / n for k, v in out.items()}

    def fresh_pages(self) -> float:
        """Seconds per byte to fault in a freshly mapped tensor: ``empty(64 MiB).fill_`` (above
        the allocator's mmap threshold, so mapped, faulted and zeroed anew each call, and
        unmapped when freed) less the same fill into a buffer already mapped. 0 without
        torch (NumPy's own allocation path is not what the workloads run)."""
        if self.torch is None:
            return 0.0
        n = 2 * MMAP_THRESHOLD_BYTES // 4
        buf = self.torch.empty(n)
        fresh = self._t(lambda: self.torch.empty(n).fill_(1.0), min_s=0.05)
        warm = self._t(lambda: buf.fill_(1.0), min_s=0.05)
        return max(fresh - warm, 0.0) / (4 * n)

    def op_overheads(self) -> tuple[float, float]:
        """(seconds of one tiny eager op, extra seconds per op when autograd records it)."""
        if self.torch is None:
            x = self.np.ones(1, dtype="f4")
            return self._t(lambda: x + x), 0.0
        torch = self.torch
        x = torch.ones(4)
        plain = self._t(lambda: torch.add(x, x))
        w = torch.ones(4, requires_grad=True)
        chain = 16

        def fwd_bwd() -> None:
            y = w
            for _ in range(chain):
                y = y + 1.0
            y.sum().backward()

        per_op = self._t(fwd_bwd) / (chain + 2)  # + sum + the backward's root
        return plain, max(per_op - plain, 0.0)

    def step_overheads(self) -> dict[str, dict[str, float]]:
        """Framework seconds per GPT step at negligible size, fixed and per layer
        (:func:`suanli.bench.overhead.step_overheads`)."""
        return {} if self.torch is None else step_overheads(self.torch, self.clock)

    def step_overheads_cold(self, sizes: tuple[float, ...]
                            ) -> list[tuple[float, dict[str, dict[str, float]]]]:
        """The same steps' extra framework time when each layer streams W bytes between
        (:func:`suanli.bench.overhead.cold_step_overheads`), W in ``sizes``."""
        return [] if self.torch is None else cold_step_overheads(self.torch, self.clock, sizes)

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
        return 2 * 4 * n / self._t(lambda: self.np.copyto(dst, src)) / 1e9


def run_bench(threads: int, grid: tuple[tuple[int, ...], ...] = QUICK_GRID,
              dtypes: tuple[str, ...] = ("fp32",), collective: bool = False,
              progress: Callable[[str], None] | None = None,
              bmm_grid: tuple[tuple[int, ...], tuple[int, ...]] = (BMM_SEQ, BMM_DH)
              ) -> DeviceProfile:
    """Measure this machine and return the profile (see :class:`DeviceProfile`); ``grid``:
    the GEMM's (M, N, K) values, ``bmm_grid``: attention's (sequence lengths, head sizes)."""
    from suanli import __version__
    from suanli.workloads.record import cpu_name

    be = _Backend(threads)
    say = progress or (lambda _msg: None)
    gemm: dict[str, list[tuple[int, int, int, float]]] = {}
    gemm_warm: dict[str, list[tuple[int, int, int, float]]] = {}
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
        # warm weights where the weight read dominates: the decode rows (M <= WARM_MAX_M)
        gemm_warm[dtype] = [(m, n, k, be.gemm(m, n, k, dtype, cold=False))
                            for m, n, k, _ in rows if m <= WARM_MAX_M]
    elementwise = [(float(b), be.add(b)) for b in ELEMENTWISE_BYTES]
    elementwise_cold = [(float(b), be.add(b, cold=True)) for b in ELEMENTWISE_BYTES]
    say("element-wise bandwidth")
    plain, autograd = be.op_overheads()
    coll: dict[str, Any] | None = None
    if collective:
        from suanli.bench.collective import allreduce_profile

        coll = allreduce_profile(threads=1)
        say("collective")
    caches = cache_sizes()
    b, nh, s, dh = KV_SHAPE
    kv = be.kv_read(kv_working_sets(caches, 2.0 * b * nh * s * dh * 4))
    cold_rows = be.step_overheads_cold(evict_sizes(float(caches["l2"])))
    say("caches and framework overheads")
    versions = {"suanli": __version__, "python": platform.python_version(),
                "numpy": be.np.__version__}
    if be.torch is not None:
        versions["torch"] = be.torch.__version__
    return DeviceProfile(
        tool=f"suanli bench {__version__}",
        date=datetime.now(UTC).isoformat(timespec="seconds"),
        versions=versions,
        hardware={"kind": "cpu", "name": cpu_name(), "threads": threads, "backend": be.name,
                  "clock": "thread" if be.clock is time.thread_time else "wall"},
        gemm=gemm, gemm_warm={d: r for d, r in gemm_warm.items() if r},
        elementwise=elementwise, op_overhead_s=plain, autograd_overhead_s=autograd,
        kernels_s_per_element=be.kernels(), elementwise_cold=elementwise_cold,
        kernels_cold_s_per_element=be.kernels(cold=True), fresh_page_s_per_byte=be.fresh_pages(),
        bmm=be.bmm(*bmm_grid), kv_read=kv, caches=caches,
        gemm_warm_bytes=WARM_BYTES, gemm_cold_bytes=COLD_BYTES,
        step_overhead=be.step_overheads(), step_overhead_cold=cold_rows,
        step_overhead_fit=fit_cold_overheads(cold_rows, float(caches["l2"])),
        copy_gbs=be.copy_gbs(), collective=coll)
