"""The op-level model on a measured profile: interpolation and the model's laws. The profile
here is built inline (a three-point-per-axis table), as SkyPilot's tests build price tables."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from suanli.bench.profile import DeviceProfile
from suanli.perf.oplevel import decode_step, prefill, train_step
from suanli.workloads.shapes import ServeShape, TrainShape, WorkloadModel

AX = (16, 256, 4096)


def _profile(rate=lambda m, n, k: 50e9 * min(m, n, k) / (min(m, n, k) + 64)) -> DeviceProfile:
    gemm = [(m, n, k, 2.0 * m * n * k / rate(m, n, k)) for m, n, k in itertools.product(AX, AX, AX)]
    return DeviceProfile(
        tool="test", date="2026-01-01", versions={}, hardware={"kind": "cpu", "threads": 1},
        gemm={"fp32": gemm}, elementwise=[(1e3, 1e-6), (1e6, 1e-4), (1e9, 0.05)],
        op_overhead_s=0.0, autograd_overhead_s=5e-6,  # no dispatch: rates are the table's
        step_overhead={p: {"fixed": 1e-4, "per_layer": 2e-4}
                       for p in ("train", "prefill", "decode")})


P = _profile()


def test_interpolation_hits_grid_points_and_stays_between_them():
    assert P.gemm_rate(256, 256, 256) == pytest.approx(50e9 * 256 / 320)
    mid = P.gemm_rate(1024, 256, 256)  # between M=256 and M=4096 at the same rate
    assert mid == pytest.approx(50e9 * 256 / 320)
    r_lo, r_hi = P.gemm_rate(256, 256, 16), P.gemm_rate(256, 256, 256)
    assert r_lo < P.gemm_rate(256, 256, 64) < r_hi
    assert P.gemm_rate(1, 1, 1) == P.gemm_rate(16, 16, 16)  # clamped at the edges
    assert P.bandwidth(1e6) == pytest.approx(1e10)
    assert 1e7 < P.bandwidth(1e4) < 1e10


def _model(layers: int = 2, hidden: int = 64) -> WorkloadModel:
    return WorkloadModel(layers=layers, hidden=hidden, heads=4, ffn_hidden=4 * hidden,
                         vocab=512, max_seq_len=256)


@given(layers=st.integers(1, 6), batch=st.integers(1, 8), seq=st.integers(8, 128))
def test_more_layers_or_tokens_never_take_less_time(layers, batch, seq):
    base = train_step(P, TrainShape(model=_model(layers), batch=batch, seq_len=seq))
    deeper = train_step(P, TrainShape(model=_model(layers + 1), batch=batch, seq_len=seq))
    longer = train_step(P, TrainShape(model=_model(layers), batch=batch + 1, seq_len=seq))
    assert deeper.total > base.total and longer.total >= base.total
    terms = base.gemm + base.attention + base.elementwise + base.optimizer + base.overhead
    assert base.total == pytest.approx(terms)


def test_training_costs_more_than_its_forward_and_decode_grows_with_context():
    m = _model(3)
    t = train_step(P, TrainShape(model=m, batch=4, seq_len=64))
    f = prefill(P, ServeShape(model=m, batch=4, prompt_len=64, gen_len=2))
    assert t.gemm == pytest.approx(3 * f.gemm, rel=0.35)  # backward = 2 x forward matmuls
    s = ServeShape(model=m, batch=4, prompt_len=16, gen_len=200)
    assert decode_step(P, s, context=200).total > decode_step(P, s, context=20).total
