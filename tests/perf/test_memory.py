"""Memory per device: what the frameworks hold, and the laws the model obeys."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from suanli.perf import memory
from suanli.perf.plan_rules import kv_heads_per_rank
from suanli.perf.training import Plan, TrainingJob, estimate


@pytest.fixture(scope="module")
def job(catalog) -> TrainingJob:
    system = catalog.system("dgx-h100")
    return TrainingJob(model=catalog.model("gpt3-175b"), system=system,
                       accelerator=catalog.accelerator(system.accelerator), tokens=1e12,
                       seq_len=2048, global_batch=1536)


def test_in_flight_micro_batches_follow_the_schedules():
    p, v, m = np.array([8.0]), np.array([1.0]), np.array([64.0])
    # 1F1B: stage i holds p - i micro-batches (Narayanan 2021)
    assert [memory.in_flight(p, v, m, np.array([float(i)]))[0] for i in range(8)] == \
        [8, 7, 6, 5, 4, 3, 2, 1]
    # fewer micro-batches than stages: all of them
    assert memory.in_flight(p, v, np.array([3.0]), np.array([0.0]))[0] == 3
    # interleaved, v = 12: 2 (p - 1) + (v - 1) p + 1 chunks on stage 0 (Megatron-Core), each
    # chunk 1/v of the stage: Korthikanti's p (1 + (p - 1) / (p v))
    v12 = np.array([12.0])
    first = memory.in_flight(p, v12, m, np.array([0.0]))[0]
    assert first == pytest.approx((14 + 88 + 1) / 12)
    assert first == pytest.approx(8 * (1 + 7 / (8 * 12)))
    last = memory.in_flight(p, v12, m, np.array([7.0]))[0]
    assert last == pytest.approx((11 * 8 + 1) / 12)


def test_stacks_without_dropout_store_no_masks(job):
    plan = Plan(tp=8, pp=8, dp=16, interleave=1, zero=1, recompute="none", sp=True)
    old = estimate(replace(job, stack="megatron-lm-2022"), plan)
    new = estimate(replace(job, stack="megatron-core-2024", flash_attention=False), plan)
    a_old = old.breakdown["memory_gb"]["activations"]
    a_new = new.breakdown["memory_gb"]["activations"]
    # per layer with SP and unfused attention: sbh/t (34 + 5as/h) -> sbh/t (32 + 2as/h)
    h, a, s = 12288, 96, 2048
    assert a_new / a_old == pytest.approx((32 + 2 * a * s / h) / (34 + 5 * a * s / h), rel=1e-6)


def test_kv_heads_are_replicated_when_tp_exceeds_them(catalog):
    palm = catalog.model("palm-540b")  # 48 heads, multi-query
    assert kv_heads_per_rank(palm, np.array([12.0]))[0] == 1
    llama = catalog.model("llama3-70b")  # 64 heads, 8 KV heads
    assert list(kv_heads_per_rank(llama, np.array([4.0, 8.0, 16.0]))) == [2, 1, 1]
    nemo = catalog.model("nemotron-4-340b")  # 96 heads, 8 KV groups of 12: TP12 straddles
    assert kv_heads_per_rank(nemo, np.array([12.0]))[0] == 2


@settings(max_examples=30)
@given(tp=st.sampled_from([1, 2, 3, 4, 6, 8, 12, 16]), pp=st.integers(1, 24),
       zero=st.integers(0, 1), rc=st.sampled_from(["none", "selective", "full"]))
def test_more_tp_or_pp_never_raises_weight_memory(job, tp, pp, zero, rc):
    """On the stage that holds the most weights (embedding, layers, head)."""
    plan = Plan(tp=tp, pp=pp, dp=2, micro_batch=1, zero=zero, recompute=rc, sp=tp > 1)
    j = replace(job, global_batch=512)
    w = estimate(j, plan).breakdown["weights_gb_max_stage"]
    for bigger in (replace(plan, tp=tp * 2, sp=True), replace(plan, pp=pp + 1)):
        if 96 % bigger.tp or bigger.pp > 96:
            continue
        assert estimate(j, bigger).breakdown["weights_gb_max_stage"] <= w * (1 + 1e-9)


@settings(max_examples=30)
@given(tp=st.sampled_from([1, 2, 4, 8]), pp=st.sampled_from([1, 2, 3, 5, 8, 12]),
       dp=st.integers(1, 64), mb=st.integers(1, 4), v=st.integers(1, 3),
       zero=st.integers(0, 3), rc=st.sampled_from(["none", "selective", "full"]),
       stack=st.sampled_from(["megatron-lm-2021", "megatron-core-2024", "llm-foundry-2023"]))
def test_any_layout_memory_is_the_sum_of_its_terms(job, tp, pp, dp, mb, v, zero, rc, stack):
    plan = Plan(tp=tp, pp=pp, dp=dp, micro_batch=mb, interleave=v if pp > 1 else 1,
                zero=zero if pp == 1 else min(zero, 1), recompute=rc, sp=tp > 1)
    j = replace(job, stack=stack, global_batch=dp * mb * pp * 4)
    est = estimate(j, plan)
    mem = est.breakdown["memory_gb"]
    total = mem["weights_grads_optimizer"] + mem["activations"] + mem["buffers_and_reserved"]
    assert total == pytest.approx(est.memory_per_device_gb, rel=1e-9)
    assert all(v >= 0 for v in mem.values())
    assert sum(est.breakdown["time_s"].values()) == pytest.approx(est.step_time_s, rel=1e-9)


@settings(max_examples=20)
@given(tokens=st.floats(min_value=1e9, max_value=1e13))
def test_flops_are_linear_in_tokens(job, tokens):
    plan = Plan(tp=8, pp=4, dp=8, micro_batch=1, zero=1, recompute="selective", sp=True)
    a = estimate(replace(job, tokens=tokens), plan)
    b = estimate(replace(job, tokens=3 * tokens), plan)
    assert b.total_flops == pytest.approx(3 * a.total_flops, rel=1e-12)
    assert b.hardware_flops == pytest.approx(3 * a.hardware_flops, rel=1e-12)


@settings(max_examples=30, deadline=None)
@given(pp=st.sampled_from([1, 2, 4, 8]), v=st.sampled_from([1, 2, 3]), dp=st.integers(1, 32),
       zero=st.integers(1, 3), k=st.integers(2, 4))
def test_more_dp_never_raises_per_device_model_state(job, pp, v, dp, zero, k):
    """The distributed optimizer / ZeRO shard over DP: k times the data-parallel ranks never
    hold more weights, gradients and optimizer state per device (Rajbhandari et al. 2020)."""
    zero = zero if pp == 1 else 1  # ZeRO-2/3 with pipelining is not a valid plan
    plan = Plan(tp=8, pp=pp, dp=dp, micro_batch=1, interleave=v if pp > 1 else 1, zero=zero,
                recompute="full", sp=True)
    j = replace(job, global_batch=dp * k * pp * 4)
    small = estimate(j, plan).breakdown["memory_gb"]["weights_grads_optimizer"]
    big = estimate(j, replace(plan, dp=dp * k)).breakdown["memory_gb"]["weights_grads_optimizer"]
    assert big <= small * (1 + 1e-12)
    n = np.array([1e9])
    assert memory.model_state_bytes(n, 0 * n, np.array([dp * k]), n / n, np.array([zero]))[0] \
        <= memory.model_state_bytes(n, 0 * n, np.array([dp]), n / n, np.array([zero]))[0]


@settings(max_examples=40, deadline=None)
@given(tp=st.sampled_from([1, 2, 4, 8]), sp=st.booleans(), flash=st.booleans(),
       dropout=st.booleans(), b=st.integers(1, 8), s=st.sampled_from([512, 2048, 8192]),
       model=st.sampled_from(["gpt3-175b", "llama3-70b", "nemotron-4-340b", "mpt-7b"]))
def test_recompute_never_raises_activation_memory(catalog, tp, sp, flash, dropout, b, s, model):
    """Korthikanti et al. 2022: selective recompute drops the attention scores, full recompute
    keeps only the layer input; neither can store more than keeping everything."""
    m = catalog.model(model)
    one = np.ones(1)

    def acts(rc: str) -> float:
        return float(memory.layer_activation_bytes(
            m, s * one, b * one, tp * one, float(sp and tp > 1) * one,
            memory.RECOMPUTE_NAMES.index(rc) * one, flash, dropout=dropout)[0])

    none, sel, full = acts("none"), acts("selective"), acts("full")
    assert full <= sel <= none
    assert full > 0


def test_nemotron_stage0_terms_match_the_framework_count(catalog):
    """The stated Nemotron-4 340B layout (TP8 PP8 VP12 DP2, SP, distributed optimizer, no
    recompute) counted tensor by tensor: stage 0 holds 12 one-layer chunks and the embedding
    (5.77B parameters per device at 2 + 2 + 12/2 bytes) and 2 (p - 1) + (v - 1) p + 1 = 103
    one-layer chunks of activations at 28.33 s b h / t bytes each (no dropout, flash attention,
    GQA 8, squared-ReLU FFN 4h). The memory model must give exactly this sum."""
    system = catalog.system("dgx-h100")
    m = catalog.model("nemotron-4-340b")
    j = TrainingJob(model=m, system=system, accelerator=catalog.accelerator(system.accelerator),
                    tokens=1e9, seq_len=4096, global_batch=32, stack="megatron-core-2024")
    est = estimate(j, Plan(tp=8, pp=8, dp=2, micro_batch=1, interleave=12, zero=1,
                           recompute="none", sp=True))
    h, t, s = m.hidden, 8, 4096
    layer = h * (h + 2 * 8 * m.d_head) + h * h + 2 * h * m.ffn_hidden
    params = (12 * layer + m.vocab * h) / t
    kv = 8 * m.d_head / h
    # LN1 in, LN1 out, Q, K and V (GQA), O, LN2 in, LN2 out, squared-ReLU in and out (4h each)
    per_layer = s * h * (2 + 2 + 2 + 4 * kv + 2 + 2 + 2 + 16) / t
    mem = est.breakdown["memory_gb"]
    assert mem["weights_grads_optimizer"] * 1e9 == pytest.approx(params * 10.0, rel=2e-3)
    assert mem["activations"] * 1e9 == pytest.approx(103 * per_layer, rel=1e-3)
    # the benchmark's own config: Apex DistributedFusedAdam state in bf16, 2 + 2 + 6/2 bytes
    bf16 = estimate(replace(j, optimizer_state="bf16"), est.plan).breakdown["memory_gb"]
    assert bf16["weights_grads_optimizer"] * 1e9 == pytest.approx(params * 7.0, rel=2e-3)
    assert bf16["activations"] == mem["activations"]


@settings(max_examples=30, deadline=None)
@given(dp=st.integers(1, 64), zero=st.integers(0, 3), expert=st.floats(0.0, 1e9),
       ep=st.sampled_from([1, 2, 4]))
def test_bf16_optimizer_state_saves_six_bytes_per_parameter_shard(dp, zero, expert, ep):
    """Apex DistributedFusedAdam with ``dtype=bf16`` keeps its parameter copy, m and v in bf16
    (6 bytes) instead of fp32 master + m + v (12): the saving is exactly 6 bytes per parameter
    over the ranks that shard the optimizer (all of them for ZeRO 0)."""
    n, ex = np.array([3e9]), np.array([expert])
    d, e, z = np.array([float(dp)]), np.array([float(ep)]), np.array([float(zero)])
    fp32 = memory.model_state_bytes(n, ex, d, e, z, memory.optimizer_bytes("fp32"))
    bf16 = memory.model_state_bytes(n, ex, d, e, z, memory.optimizer_bytes("bf16"))
    ranks = dp if zero >= 1 else 1
    ranks_exp = max(dp / ep, 1.0) if zero >= 1 else 1
    assert fp32[0] - bf16[0] == pytest.approx(6.0 * (3e9 / ranks + expert / ranks_exp), rel=1e-12)
    assert bf16[0] < fp32[0]


@settings(max_examples=20, deadline=None)
@given(dp=st.sampled_from([1, 2, 4, 8]), zero=st.integers(0, 2),
       rc=st.sampled_from(["none", "full"]))
def test_bf16_optimizer_state_lowers_the_estimate_and_nothing_else(job, dp, zero, rc):
    """One stage (pp 1): the whole estimate with bf16 optimizer state holds 6 / d bytes less per
    parameter the device holds (its weights / 2 bytes), the same activations, and is not slower."""
    plan = Plan(tp=8, pp=1, dp=dp, micro_batch=1, zero=zero, recompute=rc, sp=True)
    j = replace(job, model=job.model, global_batch=dp * 4)
    a = estimate(j, plan)
    b = estimate(replace(j, optimizer_state="bf16"), plan)
    ma, mb = a.breakdown["memory_gb"], b.breakdown["memory_gb"]
    params = ma["weights"] / memory.WEIGHT_BYTES
    ranks = dp if zero >= 1 else 1
    saved = ma["weights_grads_optimizer"] - mb["weights_grads_optimizer"]
    assert saved == pytest.approx(6.0 * params / ranks, rel=1e-9)
    assert mb["activations"] == ma["activations"]
    assert b.memory_per_device_gb < a.memory_per_device_gb
    assert b.step_time_s <= a.step_time_s


def test_unknown_optimizer_state_is_a_clear_error(job):
    from suanli.errors import InputError

    with pytest.raises(InputError, match=r"optimizer state precision 'fp8'.*fp32, bf16"):
        estimate(replace(job, optimizer_state="fp8"), Plan(tp=8, pp=1, dp=1, sp=True))
