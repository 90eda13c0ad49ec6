"""The CPU terms of the workload prediction (``suanli.perf.oplevel`` on a bench profile): a
training step is priced at the cold rates, tensors above the allocator's mmap threshold pay
their first touch, and serving ends each step with greedy sampling. Profiles built inline."""

from __future__ import annotations

import pytest

from suanli.bench.profile import DeviceProfile
from suanli.perf.oplevel import decode_step, prefill, train_step
from suanli.workloads.shapes import PRESETS, ServeShape, TrainShape

KERNELS = {k: 1e-9 for k in ("softmax", "softmax_bwd", "log_softmax", "log_softmax_bwd", "gelu",
                             "gelu_bwd", "zeros", "sum_rows", "masked_fill", "argmax")}


def _profile(**extra) -> DeviceProfile:
    ax = (1, 64, 4096)
    gemm = [(m, n, k, 2.0 * m * n * k / 1e11) for m in ax for n in ax for k in ax]
    return DeviceProfile(tool="t", date="", versions={}, hardware={"threads": 1},
                         gemm={"fp32": gemm}, elementwise=[(1e3, 1e-7), (1e9, 0.1)],
                         op_overhead_s=0.0, autograd_overhead_s=0.0,
                         **({"kernels_s_per_element": KERNELS} | extra))


def test_training_pays_the_cold_rates_and_serving_the_hot_ones():
    hot = _profile()
    cold = _profile(elementwise_cold=[(1e3, 2e-7), (1e9, 0.2)],
                    kernels_cold_s_per_element={k: 2 * v for k, v in KERNELS.items()})
    ts = TrainShape(model=PRESETS["tiny"], batch=4, seq_len=128)
    ss = ServeShape(model=PRESETS["tiny"], batch=4, prompt_len=128, gen_len=8)
    a, b = train_step(hot, ts), train_step(cold, ts)
    assert b.elementwise == pytest.approx(2 * a.elementwise, rel=0.05)  # zeros: one rate
    assert b.optimizer == pytest.approx(2 * a.optimizer)
    assert b.gemm == a.gemm and b.overhead == a.overhead
    assert decode_step(cold, ss) == decode_step(hot, ss)
    assert prefill(cold, ss) == prefill(hot, ss)


def test_only_logits_above_the_mmap_threshold_are_faulted_in():
    p = _profile(fresh_page_s_per_byte=1e-9)
    small = TrainShape(model=PRESETS["small"], batch=4, seq_len=128)  # logits 16 MiB
    big = TrainShape(model=PRESETS["small"], batch=16, seq_len=128)  # logits 64 MiB
    assert train_step(p, small).pages == 0.0
    # the logits, the log-softmax, its gradient and NLL's zeroed gradient: 4 x 64 MiB
    assert train_step(p, big).pages == pytest.approx(4 * 64 * 2**20 * 1e-9)
    serve = ServeShape(model=PRESETS["small"], batch=16, prompt_len=128, gen_len=8)
    assert prefill(p, serve).pages == pytest.approx(64 * 2**20 * 1e-9)  # prompt logits
    assert decode_step(p, serve).pages == 0.0  # one token's logits: small
    assert train_step(_profile(), big).pages == 0.0  # an older profile: not measured


def test_sampling_scales_with_batch_and_vocabulary():
    p = _profile()
    base = decode_step(p, ServeShape(model=PRESETS["tiny"], batch=4, prompt_len=16, gen_len=8))
    no_argmax = _profile(kernels_s_per_element={k: v for k, v in KERNELS.items()
                                                if k != "argmax"} | {"argmax": 0.0})
    less = decode_step(no_argmax, ServeShape(model=PRESETS["tiny"], batch=4, prompt_len=16,
                                             gen_len=8))
    assert base.elementwise - less.elementwise == pytest.approx(4 * 2048 * 1e-9)


def test_decode_framework_time_grows_with_what_each_layer_streams():
    from suanli.bench.overhead import saturation
    from suanli.perf.oplevel import layer_bytes

    hot = {"fixed": 1e-4, "per_layer": 1e-4}
    fit = {"cache_bytes": 2.0 * 2**20, "half": 1.0, "steepness": 2.0,
           "extra": {"decode": {"fixed": 0.0, "per_layer": 2e-4}}, "rms": {"decode": 0.0}}
    p = _profile(step_overhead={"decode": hot}, step_overhead_fit=fit)
    m = PRESETS["small"]
    small, big = (ServeShape(model=m, batch=b, prompt_len=128, gen_len=8) for b in (1, 64))
    # a layer's weights and the K/V its attention reads: the bigger batch streams more
    assert layer_bytes(m, 64, 1, 132, "fp32") > layer_bytes(m, 1, 1, 132, "fp32") > 1e6
    o_small, o_big = decode_step(p, small).overhead, decode_step(p, big).overhead
    assert 1e-4 + 4 * 1e-4 < o_small < o_big < 1e-4 + 4 * 3e-4
    w = layer_bytes(m, 64, 1, 132, "fp32")  # the fitted curve at the step's bytes per layer
    assert o_big == pytest.approx(1e-4 + 4 * (1e-4 + 2e-4 * saturation(w, 2.0 * 2**20, 1.0,
                                                                       2.0)))
    assert decode_step(_profile(step_overhead={"decode": hot}), big).overhead == \
        pytest.approx(5e-4)  # without cold rows: the hot figure
