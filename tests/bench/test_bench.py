"""``suanli bench``: a real (reduced) measurement run, the profile round trip, and the measured
machine as a catalog accelerator that plans like any other."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import pytest

from suanli.bench.measure import run_bench
from suanli.bench.profile import DeviceProfile, load_profile
from suanli.catalog.schema import Accelerator
from suanli.errors import InputError

SMALL_GRID = ((16, 256), (64, 256), (32, 256))


@pytest.fixture(scope="module")
def profile():
    return run_bench(1, SMALL_GRID, bmm_grid=((32, 128), (32,)))


def test_measurements_are_physical(profile):
    assert len(profile.gemm["fp32"]) == 8
    assert 1e8 < profile.peak_gemm_flops < 1e13  # 0.1 GFLOP/s .. 10 TFLOP/s on one thread
    assert 1e8 < profile.memory_bw < 1e12
    # a large square GEMM runs at a higher rate than a skinny one
    assert profile.gemm_rate(256, 256, 256) > profile.gemm_rate(16, 64, 32)
    assert profile.op_overhead_s > 0 and profile.hardware["threads"] == 1
    if "torch" in profile.versions:
        o = profile.step_overhead["train"]
        assert o["fixed"] + o["per_layer"] > profile.op_overhead_s  # a step is many ops
        assert {"masked_fill", "sum_rows"} <= set(profile.kernels_s_per_element)
        assert {(m, n, k) for m, n, k, _ in profile.bmm} == {
            (32, 32, 32), (128, 128, 32), (128, 32, 128)}  # (s, s, dh) and (s, dh, s)
        assert {r[0] for r in profile.gemm_warm["fp32"]} == {16}  # the decode-sized rows
        # KV reads from a working set beyond the last-level cache cost more per byte than
        # from one inside a core's L2: the bench's working sets span the two, as the OS
        # gives the caches' sizes (here 2 MiB of L2 and 480 MiB of L3; a 128 MiB vs 8 MiB
        # pair sat in the L3 at both ends and read 1.185x once). Here DRAM vs L2 read 4-5x
        per_byte, caches = dict(profile.kv_read), profile.caches
        assert caches["source"] in ("sysfs", "sysconf", "fallback")
        assert min(per_byte) < float(caches["l2"]) < float(caches["llc"]) < max(per_byte)
        assert per_byte[max(per_byte)] > 1.2 * per_byte[min(per_byte)]
        assert profile.warm_fraction(min(per_byte)) == 1.0
        assert profile.warm_fraction(max(per_byte)) == 0.0
        assert profile.hardware["clock"] == "thread"  # one thread: CPU seconds
        # cold inputs (cycled through 128 MiB) never stream faster than reused ones, at
        # the size where reuse keeps them in the caches (a little slack for noise)
        hot, cold = dict(profile.elementwise), dict(profile.elementwise_cold)
        assert set(hot) == set(cold) and cold[786432.0] > 0.8 * hot[786432.0]
        assert set(profile.kernels_cold_s_per_element) == set(profile.kernels_s_per_element)
        # a fresh 64 MiB tensor's pages are faulted in and zeroed: a cost per byte of its
        # own, between 0.01 and 100 ns (a 4 KiB page in 0.04..400 us)
        assert 1e-11 < profile.fresh_page_s_per_byte < 1e-7


def test_profile_round_trip_and_catalog_row(profile, tmp_path: Path):
    path = tmp_path / "p.json"
    profile.save(path)
    back = load_profile(path)
    assert back.gemm_rate(100, 100, 100) == pytest.approx(profile.gemm_rate(100, 100, 100))
    row = profile.to_accelerator_row("local-test", 16.0)
    acc = Accelerator.model_validate({k: v for k, v in row.items() if v != ""})
    assert acc.peak_flops("fp32") == pytest.approx(profile.peak_gemm_flops, rel=1e-3)
    assert "measured by" in acc.source


def test_bad_profiles_are_refused(tmp_path: Path):
    with pytest.raises(InputError, match="suanli bench"):
        load_profile(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"measured": {"tool": 1}}')
    with pytest.raises(InputError, match="not a suanli bench profile"):
        load_profile(bad)


def test_cli_rejects_bad_flags():
    p = subprocess.run([sys.executable, "-m", "suanli.cli.main", "bench", "--dtype", "fp8"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "fp32 or bf16" in p.stderr


def test_a_second_run_in_the_same_process_measures_everything_again():
    first, second = (run_bench(1, SMALL_GRID, bmm_grid=((32,), (32,))) for _ in range(2))
    assert len(second.elementwise) == len(first.elementwise) > 3
    assert len(second.gemm["fp32"]) == len(first.gemm["fp32"])


def _inline(**extra) -> DeviceProfile:
    gemm = [(m, n, k, 2.0 * m * n * k / 1e10) for m in (1, 64) for n in (64, 256)
            for k in (64, 256)]  # 10 GFLOP/s everywhere
    return DeviceProfile(tool="t", date="", versions={}, hardware={"threads": 1},
                         gemm={"fp32": gemm}, elementwise=[(1e3, 1e-6), (1e9, 0.1)],
                         op_overhead_s=0.0, autograd_overhead_s=0.0, **extra)


def test_bmm_kv_and_warm_lookups_follow_their_rows():
    old = _inline()  # a profile from before these measurements: the old pricing
    assert old.bmm_seconds(64, 64, 64, count=8) == old.gemm_seconds(64, 64, 64, count=8)
    assert old.kv_seconds(1e6, 1e9) == pytest.approx(1e6 / old.memory_bw)
    assert old.warm_fraction(1.0) == 0.0
    p = _inline(bmm=[(64, 64, 64, 2.0 * 64**3 / 5e9)],  # half the GEMM rate per matrix
                kv_read=[(8e6, 1e-11), (128e6, 1e-10)],
                gemm_warm={"fp32": [(m, n, k, 2.0 * m * n * k / 4e10) for m in (1, 16)
                                    for n in (64, 256) for k in (64, 256)]})
    assert p.bmm_seconds(64, 64, 64, count=8) == pytest.approx(
        2 * old.gemm_seconds(64, 64, 64, count=8))
    assert p.kv_seconds(1e6, 1e6) == pytest.approx(1e-5)  # clamped at the warm end
    assert p.kv_seconds(1e6, 1e9) == pytest.approx(1e-4)  # ... and at the cold end
    assert 1e-5 < p.kv_seconds(1e6, 32e6) < 1e-4
    assert p.warm_fraction(1e6) == 1.0 and p.warm_fraction(1e9) == 0.0
    assert 0.0 < p.warm_fraction(32e6) < 1.0
    cold = p.gemm_seconds(8, 128, 128)
    assert p.gemm_seconds(8, 128, 128, warm=1.0) == pytest.approx(cold / 4)
    assert p.gemm_seconds(8, 128, 128, warm=0.5) == pytest.approx(cold * 5 / 8)
    assert p.gemm_seconds(64, 128, 128, warm=1.0) == p.gemm_seconds(64, 128, 128)  # no rows


def test_declared_profile_is_the_datasheet_roofline():
    from suanli.bench.profile import declared_profile
    from suanli.catalog import load_catalog

    acc = load_catalog().accelerator("EPYC-9654")
    p = declared_profile(acc, share=1 / 96)
    for shape in ((1, 1, 1), (7, 300, 5000), (4096, 4096, 4096)):
        assert p.gemm_rate(*shape) == pytest.approx(acc.peak_flops("fp32") / 96)
    assert p.memory_bw == pytest.approx(acc.memory_bw_gbs * 1e9 / 96)
    assert p.overhead("train", 4) == 0.0
    with pytest.raises(InputError, match="share"):
        declared_profile(acc, share=2.0)


def test_cold_and_fresh_page_lookups():
    old = _inline(kernels_s_per_element={"gelu": 1e-9})  # an older profile: no cold rows
    assert old.elementwise_seconds(1e6, cold=True) == old.elementwise_seconds(1e6)
    assert old.kernel_seconds("gelu", 1e6, 4e6, cold=True) == pytest.approx(1e-3)
    assert old.fresh_seconds(1e9) == 0.0  # no first-touch cost measured
    p = _inline(kernels_s_per_element={"gelu": 1e-9}, kernels_cold_s_per_element={
        "gelu": 2e-9}, elementwise_cold=[(1e3, 2e-6), (1e9, 0.2)], fresh_page_s_per_byte=1e-10)
    assert p.kernel_seconds("gelu", 1e6, 4e6, cold=True) == pytest.approx(2e-3)
    assert p.kernel_seconds("gelu", 1e6, 4e6) == pytest.approx(1e-3)
    assert p.elementwise_seconds(1e9, cold=True) == pytest.approx(0.2)
    assert p.elementwise_seconds(1e9) == pytest.approx(0.1)
    # the allocator maps afresh only at or above its mmap threshold (glibc: 32 MiB at most)
    from suanli.bench.profile import MMAP_THRESHOLD_BYTES
    assert p.fresh_seconds(MMAP_THRESHOLD_BYTES - 1) == 0.0
    assert p.fresh_seconds(2 * MMAP_THRESHOLD_BYTES) == pytest.approx(
        2 * MMAP_THRESHOLD_BYTES * 1e-10)


def test_grids_are_built_once_and_follow_a_copy():
    p = _inline()
    rate = p.gemm_rate(32, 128, 128)
    assert p._grids[("gemm", "fp32")][2] is p._grid_of("gemm", "fp32")  # cached
    slower = p.model_copy(update={"gemm": {"fp32": [(m, n, k, 2 * s) for m, n, k, s in
                                                    p.gemm["fp32"]]}})
    assert slower.gemm_rate(32, 128, 128) == pytest.approx(rate / 2)
    assert p.gemm_rate(32, 128, 128) == rate


def test_lookups_take_the_per_op_dispatch_off_once():
    p = _inline()
    q = p.model_copy(update={"op_overhead_s": 1e-6})  # counted in the step's overhead term
    t = p.gemm_seconds(64, 256, 256)  # 2 * 64 * 256 * 256 / 1e10 = 0.84 ms as timed
    assert q.gemm_seconds(64, 256, 256) == pytest.approx(t - 1e-6)
    assert q.elementwise_seconds(1e9) == pytest.approx(0.1 - 1e-6)
    assert q.elementwise_seconds(1e3) == pytest.approx(0.05e-6)  # all dispatch: 5% kept


def _curve_rows(half: float, steep: float, cache: float, noise: tuple[float, ...] = ()
                ) -> list[tuple[float, dict[str, dict[str, float]]]]:
    """Cold-overhead rows on the bench's sizes from a known curve (decode: 2e-4 per layer,
    1e-4 fixed; prefill half that), each row scaled by its ``noise`` factor."""
    from suanli.bench.overhead import evict_sizes, saturation

    rows = []
    for i, w in enumerate(evict_sizes(cache)):
        s = saturation(w, cache, half, steep) * (noise[i % len(noise)] if noise else 1.0)
        rows.append((w, {"decode": {"fixed": 1e-4 * s, "per_layer": 2e-4 * s},
                         "prefill": {"fixed": 0.5e-4 * s, "per_layer": 1e-4 * s}}))
    return rows


def test_the_cold_overhead_fit_recovers_a_known_curve():
    from suanli.bench.overhead import HALF_GRID, fit_cold_overheads

    cache = 2.0 * 2**20
    fit = fit_cold_overheads(_curve_rows(HALF_GRID[22], 3.0, cache), cache)
    assert fit["half"] == HALF_GRID[22] and fit["steepness"] == 3.0
    assert fit["extra"]["decode"] == pytest.approx({"fixed": 1e-4, "per_layer": 2e-4})
    assert fit["extra"]["prefill"] == pytest.approx({"fixed": 0.5e-4, "per_layer": 1e-4})
    assert set(fit["extra"]) == {"decode", "prefill"}  # only the phases every row has
    assert max(fit["rms"].values()) < 1e-9
    assert fit_cold_overheads([], cache) == {}


def test_noisy_cold_rows_give_a_smooth_monotone_overhead():
    from suanli.bench.overhead import saturation

    cache = 2.0 * 2**20
    hot = {"fixed": 1e-4, "per_layer": 1e-4}
    # rows 25% off either way, in no order, one of them a dip on the plateau
    rows = _curve_rows(0.75, 3.0, cache, noise=(1.0, 1.25, 0.8, 1.1, 0.75, 1.2, 0.9))
    p = _inline(step_overhead={"decode": hot}, step_overhead_cold=rows,
                caches={"l2": cache, "llc": 32 * cache, "source": "sysfs"})
    assert p.overhead("decode", 2) == pytest.approx(3e-4)  # no bytes streamed: hot
    ws = [cache * 2 ** (j / 8) for j in range(-24, 33)]
    seen = [p.overhead("decode", 2, w) for w in ws]
    assert all(b >= a for a, b in itertools.pairwise(seen))  # never less for more
    for w, got in zip(ws, seen, strict=True):  # within 15% of the true extra on the steep part
        true = 3e-4 + 5e-4 * saturation(w, cache, 0.75, 3.0)
        assert got == pytest.approx(true, rel=0.15), w
    assert p.overhead("train", 2, 4e6) == 0.0  # a phase the profile did not time


def test_cold_step_overhead_lookup():
    from suanli.bench.caches import FALLBACK
    from suanli.bench.overhead import fit_cold_overheads, saturation

    hot = {"fixed": 1e-4, "per_layer": 1e-4}
    old = _inline(step_overhead={"decode": hot})  # an older profile: no cold rows
    assert old.overhead("decode", 2, 1e9) == pytest.approx(3e-4)
    # the stored fit is data: read as it is, whatever rows sit beside it
    fit = {"cache_bytes": 1e6, "half": 1.0, "steepness": 2.0,
           "extra": {"decode": {"fixed": 1e-4, "per_layer": 2e-4}}, "rms": {"decode": 0.1}}
    p = _inline(step_overhead={"decode": hot}, step_overhead_fit=fit,
                step_overhead_cold=_curve_rows(4.0, 1.0, 1e6))
    assert p.overhead("decode", 2, 1e6) == pytest.approx(3e-4 + 0.5 * 5e-4)
    assert p.overhead("decode", 2, 3e6) == pytest.approx(3e-4 + 0.9 * 5e-4)
    # rows without a fit (a profile from before the fit): fitted when read, with the L2 the
    # profile recorded, else the fallback's
    rows = _curve_rows(0.75, 3.0, FALLBACK["l2"])
    q = _inline(step_overhead={"decode": hot}, step_overhead_cold=rows)
    f = fit_cold_overheads(rows, FALLBACK["l2"])
    assert q.overhead_fit() == f
    a = f["extra"]["decode"]
    assert q.overhead("decode", 2, 3e6) == pytest.approx(3e-4 + (a["fixed"] + 2 * a[
        "per_layer"]) * saturation(3e6, FALLBACK["l2"], f["half"], f["steepness"]))


def test_the_framework_slows_down_when_each_layer_evicts_the_caches(profile):
    if "torch" not in profile.versions:
        pytest.skip("the step overheads are measured with PyTorch")
    rows = dict(profile.step_overhead_cold)
    assert len(rows) >= 3 and all(set(r) == {"train", "prefill", "decode"}
                                  for r in rows.values())
    # 16 MiB streamed before each layer is past any core's own cache: the same decode step
    # spends more framework time than with nothing streamed (2-3x per layer on this machine)
    hot = profile.step_overhead["decode"]
    big = rows[max(rows)]["decode"]
    assert big["fixed"] + 3 * big["per_layer"] > 0.2 * (hot["fixed"] + 3 * hot["per_layer"])
