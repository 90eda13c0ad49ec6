"""A measured device profile and the lookups the op-level model uses.

Each timed op includes the framework's dispatch; the op-level model counts that once per op in
its ``overhead`` term (the step measured at negligible size), so GEMM and stream lookups use
the op's time less ``op_overhead_s``.

Cold and hot: a training step touches far more memory than a core's caches hold, so the
activations an op reads were written long before and come from memory, not the caches; the
bench times each stream and kernel both ways (inputs reused, and inputs cycled through more
memory than the caches hold) and the model picks the regime its step is in. A tensor above the
C allocator's mmap threshold (glibc: 32 MiB at most, ``mallopt(3)`` M_MMAP_THRESHOLD) is
mapped fresh at every allocation and its pages are faulted in and zeroed by the kernel on first
touch: ``fresh_page_s_per_byte`` prices that.

Interpolation: GEMM seconds are measured on a grid of (M, N, K); between grid points the
*rate* (FLOP/s) is interpolated linearly in log2(M), log2(N), log2(K) (multilinear over the
enclosing cell) and clamped at the grid's edges, so a shape between two measured ones gets a
rate between theirs. Element-wise bandwidth is interpolated in log2(bytes) the same way.
"""

from __future__ import annotations

import bisect
import json
import math
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from suanli.errors import InputError

__all__ = ["MMAP_THRESHOLD_BYTES", "DeviceProfile", "declared_profile", "load_profile"]

# glibc malloc serves requests at or above its mmap threshold with a fresh mapping; the
# threshold adapts to freed chunks but never exceeds 32 MiB on 64-bit (mallopt(3),
# DEFAULT_MMAP_THRESHOLD_MAX), so a tensor this large is faulted in afresh every time
MMAP_THRESHOLD_BYTES = 32 * 2**20


class DeviceProfile(BaseModel):
    """What ``suanli bench`` measured. Times in s, sizes in bytes, rates in FLOP/s or B/s."""

    model_config = ConfigDict(frozen=True)

    tool: str
    date: str  # ISO 8601, UTC
    versions: dict[str, str]
    hardware: dict[str, Any]  # kind, name, threads
    gemm: dict[str, list[tuple[int, int, int, float]]] = Field(min_length=1)  # dtype -> [(M,
    # N, K, seconds)]
    # the small-M rows again with warm weights (cycled within the last-level cache):
    # dtype -> [(M, N, K, s)]
    gemm_warm: dict[str, list[tuple[int, int, int, float]]] = Field(default_factory=dict)
    elementwise: list[tuple[float, float]] = Field(min_length=1)  # [(bytes moved, s)], a + b
    op_overhead_s: float = Field(ge=0)  # one tiny eager op (dispatch + launch)
    autograd_overhead_s: float = Field(ge=0)  # extra per op recorded for backward
    # framework time of a whole GPT step at negligible size (``suanli.workloads`` at hidden 16,
    # one token): {"train"|"prefill"|"decode": {"fixed": s, "per_layer": s}}. Empty without torch.
    step_overhead: dict[str, dict[str, float]] = Field(default_factory=dict)
    # the extra framework time of the same steps when each layer streams W bytes between
    # (its code and metadata evicted from the caches; :mod:`suanli.bench.overhead`):
    # [(W bytes, {phase: {"fixed": s, "per_layer": s}})]. Empty in older profiles.
    step_overhead_cold: list[tuple[float, dict[str, dict[str, float]]]] = Field(
        default_factory=list)
    # the smooth curve fitted to those rows (:func:`suanli.bench.overhead.fit_cold_overheads`):
    # {"cache_bytes", "half", "steepness", "extra": {phase: {part: s}}, "rms": {phase: x}};
    # empty in older profiles (then fitted from their rows when read)
    step_overhead_fit: dict[str, Any] = Field(default_factory=dict)
    # this CPU's caches as the bench read them (:func:`suanli.bench.caches.cache_sizes`):
    # {"l2": bytes, "llc": bytes, "source": "sysfs" | "sysconf" | "fallback"}
    caches: dict[str, float | str] = Field(default_factory=dict)
    # the working sets the warm and cold GEMM rows cycled their weights through
    gemm_warm_bytes: float = Field(default=8 * 2**20, gt=0)
    gemm_cold_bytes: float = Field(default=128 * 2**20, gt=0)
    # seconds per element of kernels that are not plain streams: softmax(_bwd),
    # log_softmax(_bwd), gelu(_bwd), zeros (a fresh zero-filled buffer). Empty without torch.
    kernels_s_per_element: dict[str, float] = Field(default_factory=dict)
    # attention's batched matmuls: [(M, N, K, seconds per matrix)], QK^T and AV shapes
    bmm: list[tuple[int, int, int, float]] = Field(default_factory=list)
    # decode attention over a strided KV cache: [(working set bytes, seconds per byte read)]
    kv_read: list[tuple[float, float]] = Field(default_factory=list)
    # the same streams and kernels with cold inputs (cycled through more memory than the
    # caches hold), as a training step meets its activations. Empty in older profiles.
    elementwise_cold: list[tuple[float, float]] = Field(default_factory=list)
    kernels_cold_s_per_element: dict[str, float] = Field(default_factory=dict)
    # first touch of a freshly mapped tensor (page faults + the kernel's zeroing), s per byte
    fresh_page_s_per_byte: float = Field(default=0.0, ge=0)
    copy_gbs: float | None = None  # host <-> device (CPU: memcpy) GB/s
    collective: dict[str, Any] | None = None  # backend, world, allreduce [(bytes, s)]
    _grids: dict[tuple[str, str], tuple[Any, float, dict[str, Any]]] = PrivateAttr(
        default_factory=dict)

    # -- lookups -------------------------------------------------------------------------------
    def gemm_rate(self, m: float, n: float, k: float, dtype: str = "fp32") -> float:
        """Achieved FLOP/s for an (M x K) @ (K x N) matmul."""
        rows = self.gemm.get(dtype)
        if not rows:
            raise InputError(f"the profile has no {dtype} GEMM measurements; run `suanli bench "
                             f"--dtype {dtype}` on this site")
        return 2.0 ** _multilinear(self._grid_of("gemm", dtype), _log_point(m, n, k))

    def _grid_of(self, table: str, dtype: str) -> dict[str, Any]:
        """The interpolation grid of ``table`` (gemm, gemm_warm, bmm) for ``dtype``, built
        once per table of rows."""
        rows = self.bmm if table == "bmm" else getattr(self, table)[dtype]
        hit = self._grids.get((table, dtype))
        # a model_copy(update=...) shares this cache: rebuild if it brought new rows or dispatch
        if hit is None or hit[0] is not rows or hit[1] != self.op_overhead_s:
            hit = self._grids[(table, dtype)] = (rows, self.op_overhead_s, _grid(
                rows if table == "bmm" else self._net(rows)))
        return hit[2]

    def gemm_seconds(self, m: float, n: float, k: float, dtype: str = "fp32",
                     count: float = 1.0, warm: float = 0.0) -> float:
        """Seconds for ``count`` matmuls of shape (M, N, K), batched as one (M x count) GEMM.
        ``warm`` (0..1, see :meth:`warm_fraction`): how much of the weight is read from the
        caches rather than DRAM; it blends in the warm-weight rate where one was measured
        (M up to the warm grid's largest), else the weight is priced cold."""
        cold = count * 2.0 * m * n * k / self.gemm_rate(m * count, n, k, dtype)
        rows = self.gemm_warm.get(dtype)
        if warm <= 0.0 or not rows or m * count > max(r[0] for r in rows):
            return cold
        hot = count * 2.0 * m * n * k / 2.0 ** _multilinear(
            self._grid_of("gemm_warm", dtype), _log_point(m * count, n, k))
        return (1.0 - warm) * cold + warm * hot

    def _curve(self, name: str, rows: list[tuple[float, float]],
               point: Any) -> dict[str, Any]:
        """``rows`` sorted (``pts``) and mapped by ``point`` to log-log ``xs``/``ys``, built
        once per table of rows (cached as :meth:`_grid_of`'s grids)."""
        hit = self._grids.get((name, ""))
        if hit is None or hit[0] is not rows or hit[1] != self.op_overhead_s:
            pts = sorted(rows)
            xy = [point(a, b) for a, b in pts]
            hit = self._grids[(name, "")] = (rows, self.op_overhead_s, {
                "pts": pts, "xs": [x for x, _ in xy], "ys": [y for _, y in xy]})
        return hit[2]

    def _kv_curve(self) -> dict[str, Any]:
        return self._curve("kv_read", self.kv_read,
                           lambda w, t: (math.log2(w), math.log2(max(t, 1e-15))))

    def warm_fraction(self, working_set: float) -> float:
        """Where a step touching ``working_set`` bytes sits between the warm GEMM rows (weights
        cycled through ``gemm_warm_bytes``: 1) and the cold ones (``gemm_cold_bytes``: 0),
        read off the measured KV-read cost per byte ``c``: (c(cold) - c(here)) / (c(cold) -
        c(warm)), clamped to [0, 1]; 1 at or below the warm set, 0 at or above the cold."""
        lo, hi = self.gemm_warm_bytes, self.gemm_cold_bytes
        if len(self.kv_read) < 2 or working_set >= hi:
            return 0.0
        if working_set <= lo:
            return 1.0
        warm, cold = self.kv_seconds(1.0, lo), self.kv_seconds(1.0, hi)
        if cold <= warm:
            return 0.0
        here = self.kv_seconds(1.0, working_set)
        return min(max((cold - here) / (cold - warm), 0.0), 1.0)

    def bmm_seconds(self, m: float, n: float, k: float, dtype: str = "fp32",
                    count: float = 1.0) -> float:
        """Seconds for ``count`` independent (M x K) @ (K x N) matmuls (a batched matmul, each
        matrix its own operands), at the measured attention-bmm rate for that shape; a
        profile without bmm rows (older, or not fp32) prices them as one GEMM."""
        if not self.bmm or dtype != "fp32":
            return self.gemm_seconds(m, n, k, dtype, count)
        rate = 2.0 ** _multilinear(self._grid_of("bmm", dtype), _log_point(m, n, k))
        return count * 2.0 * m * n * k / rate

    def kv_seconds(self, nbytes: float, working_set: float) -> float:
        """Seconds for decode attention to read ``nbytes`` of cached K and V when the step
        touches ``working_set`` bytes in all (it stays in the caches only if that fits):
        the measured seconds per byte at that working set (log-log interpolated, clamped).
        Without kv rows: a stream at the largest working set's bandwidth."""
        if not self.kv_read:
            return nbytes / self.memory_bw
        c = self._kv_curve()
        return nbytes * float(2.0 ** _interp1(c["xs"], c["ys"],
                                              math.log2(max(working_set, 1.0))))

    def _net_s(self, seconds: float) -> float:
        """A timed op less the framework's per-op dispatch (``op_overhead_s``), which the
        step's ``overhead`` term already counts once per op (kept >= 5% of the op)."""
        return max(seconds - self.op_overhead_s, 0.05 * seconds)

    def _net(self, rows: list[tuple[int, int, int, float]]) -> list[tuple[int, int, int, float]]:
        return [(m, n, k, self._net_s(t)) for m, n, k, t in rows]

    def bandwidth(self, nbytes: float, cold: bool = False) -> float:
        """Achieved bytes/s of a streaming element-wise op moving ``nbytes`` in total; with
        ``cold``, its inputs coming from memory rather than the caches (where measured)."""
        name = "elementwise_cold" if cold and self.elementwise_cold else "elementwise"
        c = self._curve(name, getattr(self, name),
                        lambda b, t: (math.log2(b), math.log2(b / self._net_s(t))))
        return float(2.0 ** _interp1(c["xs"], c["ys"], math.log2(max(nbytes, 1.0))))

    def elementwise_seconds(self, nbytes: float, cold: bool = False) -> float:
        """Seconds to stream ``nbytes`` through one element-wise kernel (no overhead)."""
        return nbytes / self.bandwidth(nbytes, cold)

    def fresh_seconds(self, nbytes: float) -> float:
        """Seconds to fault in a fresh tensor of ``nbytes`` (0 below the mmap threshold,
        where the allocator reuses pages it already has)."""
        return nbytes * self.fresh_page_s_per_byte if nbytes >= MMAP_THRESHOLD_BYTES else 0.0

    @property
    def best_gemm_flops(self) -> dict[str, float]:
        """The best measured dense GEMM rate per dtype, FLOP/s, dtypes with no rows left out:
        the one rule for a profile's peak, read by :attr:`peak_gemm_flops`, the catalog row
        (:meth:`to_accelerator_row`) and the site's ``measured`` section."""
        return {d: max(2.0 * m * n * k / s for m, n, k, s in rows)
                for d, rows in self.gemm.items() if rows}

    @property
    def peak_gemm_flops(self) -> float:
        """The best measured GEMM rate, FLOP/s (fp32 unless only another dtype was run)."""
        best = self.best_gemm_flops
        if not best:
            raise InputError("the profile has no GEMM measurements; run `suanli bench` again")
        return best["fp32"] if "fp32" in best else next(iter(best.values()))

    @property
    def memory_bw(self) -> float:
        """The streaming bandwidth at the largest measured working set, B/s."""
        b, s = max(self.elementwise)
        return b / s

    def kernel_seconds(self, name: str, elements: float, fallback_bytes: float,
                       cold: bool = False) -> float:
        """Seconds of kernel ``name`` over ``elements`` (``cold``: inputs from memory, where
        measured); a stream of ``fallback_bytes`` when the profile did not time it."""
        rate = (self.kernels_cold_s_per_element.get(name) if cold else None) or \
            self.kernels_s_per_element.get(name)
        return elements * rate if rate is not None else \
            self.elementwise_seconds(fallback_bytes, cold)

    def overhead(self, phase: str, layers: int, layer_bytes: float = 0.0) -> float:
        """Framework seconds of one ``phase`` step of a ``layers``-layer GPT: at zero size,
        plus, when each layer streams ``layer_bytes`` between (evicting the framework's code
        and metadata from the caches), the extra of the curve fitted to the measured rows
        (:meth:`overhead_fit`): ``a[phase][part] * s(layer_bytes)`` for the fixed part and
        each layer's, ``s`` the evicted share (:func:`suanli.bench.overhead.saturation`)."""
        o = self.step_overhead.get(phase)
        if o is None:
            return 0.0
        fixed, per_layer = o["fixed"], o["per_layer"]
        fit = self.overhead_fit()
        extra = fit.get("extra", {}).get(phase)
        if extra and layer_bytes > 0:
            from suanli.bench.overhead import saturation

            s = saturation(layer_bytes, fit["cache_bytes"], fit["half"], fit["steepness"])
            fixed, per_layer = fixed + extra["fixed"] * s, per_layer + extra["per_layer"] * s
        return fixed + layers * per_layer

    def overhead_fit(self) -> dict[str, Any]:
        """The fitted cold-overhead curve: as stored by the bench, else fitted here to the
        rows (an older profile) with this CPU's L2 as recorded, or the fallback's."""
        if self.step_overhead_fit or not self.step_overhead_cold:
            return self.step_overhead_fit
        hit = self._grids.get(("overhead_fit", ""))
        if hit is None or hit[0] is not self.step_overhead_cold:
            from suanli.bench.caches import FALLBACK
            from suanli.bench.overhead import fit_cold_overheads

            cache = float(self.caches.get("l2", FALLBACK["l2"]))
            hit = self._grids[("overhead_fit", "")] = (self.step_overhead_cold, 0.0, (
                fit_cold_overheads(self.step_overhead_cold, cache)))
        return hit[2]

    def to_accelerator_row(self, acc_id: str, memory_gb: float) -> dict[str, str]:
        """This machine as a catalog accelerator row (``accelerators*.csv``), its peaks the
        best *measured* rates, so a measured CPU (or GPU) site plans like any catalog part."""
        rows = self.best_gemm_flops
        name = str(self.hardware.get("name", acc_id))
        return {
            "id": acc_id, "name": f"{name} (measured, {self.hardware.get('threads')} threads)",
            "vendor": name.split()[0] if name else "unknown", "family": str(
                self.hardware.get("kind", "cpu")), "memory_gb": f"{memory_gb:.1f}",
            "memory_bw_gbs": f"{self.memory_bw / 1e9:.2f}",
            "fp32_tflops": f"{rows['fp32'] / 1e12:.6g}" if "fp32" in rows else "",
            "bf16_tflops": f"{rows['bf16'] / 1e12:.6g}" if "bf16" in rows else "",
            "sparsity_2_4": "false", "scale_up_gbs": f"{(self.copy_gbs or 1.0):.2f}",
            "scale_up_domain": "1",
            "source": f"measured by {self.tool} on {self.date} ({self.hardware.get('backend')})",
        }

    def save(self, path: Path) -> None:
        path.write_text(json.dumps({"measured": self.model_dump()}, indent=1), encoding="utf-8")


def declared_profile(acc: Any, share: float = 1.0, dtype: str = "fp32") -> DeviceProfile:
    """What a site *declares* before it measures: a catalog accelerator row as a profile, every
    matmul at the datasheet peak and every stream at the datasheet bandwidth, times ``share``
    (the part of the device a job gets: one thread of a 96-core socket is 1/96), with no
    overheads or cache effects. A roofline with no efficiency losses: it predicts too little
    time, by how much depends on the part and the shape; ``suanli calibrate --from-runs``
    learns that from measured runs."""
    if not 0 < share <= 1:
        raise InputError(f"share must be in (0, 1], not {share}: the part of {acc.id} a job gets")
    flops = acc.peak_flops(dtype) * share  # FLOP/s
    bw = acc.memory_bw_gbs * 1e9 * share  # B/s
    ax = (1, 4096)
    gemm = [(m, n, k, 2.0 * m * n * k / flops) for m in ax for n in ax for k in ax]
    return DeviceProfile(
        tool="declared", date="", versions={},
        hardware={"kind": acc.family, "name": acc.name, "declared": acc.id, "share": share},
        gemm={dtype: gemm}, elementwise=[(1.0, 1.0 / bw), (1e12, 1e12 / bw)],
        op_overhead_s=0.0, autograd_overhead_s=0.0)


def load_profile(path: str | Path) -> DeviceProfile:
    """Read a profile written by ``suanli bench`` (JSON or YAML; top-level ``measured:``)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the bench profile {p}: {exc}; run `suanli bench -o "
                         f"{p}` to make one") from None
    import yaml

    try:
        doc = yaml.safe_load(text)  # YAML is a superset of this JSON
    except yaml.YAMLError as exc:
        raise InputError(f"{p}: not JSON/YAML ({str(exc).splitlines()[0]})") from None
    if isinstance(doc, dict) and "measured" in doc:
        doc = doc["measured"]
    try:
        return DeviceProfile.model_validate(doc)
    except Exception as exc:
        raise InputError(f"{p}: not a suanli bench profile ({str(exc).splitlines()[0]})") from None


# -- interpolation ----------------------------------------------------------------------------
def _grid(rows: list[tuple[int, int, int, float]]) -> dict[str, Any]:
    axes = [sorted({math.log2(r[i]) for r in rows}) for i in range(3)]
    vals = {(math.log2(m), math.log2(n), math.log2(k)): math.log2(2.0 * m * n * k / s)
            for m, n, k, s in rows}
    return {"axes": axes, "vals": vals}


def _log_point(m: float, n: float, k: float) -> tuple[float, float, float]:
    return math.log2(max(m, 1)), math.log2(max(n, 1)), math.log2(max(k, 1))


def _bracket(axis: list[float], x: float) -> tuple[float, float, float]:
    """(lo, hi, weight of hi) around ``x``, clamped to the axis ends."""
    if x <= axis[0]:
        return axis[0], axis[0], 0.0
    if x >= axis[-1]:
        return axis[-1], axis[-1], 0.0
    i = bisect.bisect_right(axis, x)
    lo, hi = axis[i - 1], axis[i]
    return lo, hi, (x - lo) / (hi - lo)


def _multilinear(grid: dict[str, Any], point: tuple[float, float, float]) -> float:
    brackets = [_bracket(ax, x) for ax, x in zip(grid["axes"], point, strict=True)]
    total = weight = 0.0
    for corner in range(8):
        key, w = [], 1.0
        for d, (lo, hi, t) in enumerate(brackets):
            use_hi = (corner >> d) & 1
            key.append(hi if use_hi else lo)
            w *= t if use_hi else 1.0 - t
        value = grid["vals"].get(tuple(key))
        if value is not None and w > 0:
            total += w * value
            weight += w
    if weight == 0:  # sparse grid: nearest measured point in log space
        best = min(grid["vals"], key=lambda g: sum((a - b) ** 2 for a, b in zip(g, point,
                                                                             strict=True)))
        return float(grid["vals"][best])
    return total / weight


def _interp1(xs: list[float], ys: list[float], x: float) -> float:
    if x <= xs[0]:
        return ys[0]
    if x >= xs[-1]:
        return ys[-1]
    i = bisect.bisect_right(xs, x)
    t = (x - xs[i - 1]) / (xs[i] - xs[i - 1])
    return ys[i - 1] + t * (ys[i] - ys[i - 1])
