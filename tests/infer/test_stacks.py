"""The serving-stack input: documented features change a step's cost, nothing is fitted."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as hs

from suanli.errors import InputError
from suanli.infer.estimate import deployment, step_model
from suanli.infer.memory import kv_bytes_per_token_per_device, weight_terms
from suanli.infer.model import total_s
from suanli.infer.stacks import stack, stacks


def test_every_stack_says_where_its_features_come_from() -> None:
    table = stacks()
    assert "default" in table and len(table) >= 4
    assert all(len(s.source) > 40 for s in table.values())


def test_unknown_stack_is_a_clear_error() -> None:
    with pytest.raises(InputError, match=r"unknown serving stack 'vllm-9'; known: .*trtllm-0\.5"):
        deployment("llama2-70b", "dgx-h100", tp=4, precision="fp8", stack="vllm-9")


def test_a_deployment_holds_its_stack_given_by_id_or_looked_up() -> None:
    """The id and the looked-up :class:`Stack` build the same deployment; it carries the
    stack itself (default: ``default``), and forcing the legacy GQA kernel keeps the stack's
    id (its fitted per-request overhead) while the step reads K/V per query head."""
    from dataclasses import replace

    from suanli.infer.estimate import Deployment

    by_id = deployment("llama2-70b", "dgx-h100", tp=4, precision="fp8", stack="trtllm-0.9")
    by_stack = deployment("llama2-70b", "dgx-h100", tp=4, precision="fp8",
                          stack=stack("trtllm-0.9"))
    assert by_id == by_stack and by_id.stack is stack("trtllm-0.9")
    plain = deployment("llama2-70b", "dgx-h100", tp=4, precision="fp8")
    assert plain.stack is stack("default") and plain.stack.allreduce == "peer"
    assert Deployment(plain.model, plain.system, plain.accelerator,
                      plain.compression).stack == stack("default")
    forced = deployment("llama2-70b", "dgx-h100", tp=4, precision="fp8",
                        legacy_gqa_kernel=True)
    assert forced.stack == replace(stack("default"), legacy_gqa_kernel=True)
    assert step_model(forced).kv_read_factor == 8.0 and step_model(plain).kv_read_factor == 1.0


def test_nccl_ring_costs_more_latency_than_peer_allreduce() -> None:
    """Same hardware and layout: the v0.5 stack (NCCL ring, 2(t-1) latencies per call) spends
    more on the 160 all-reduces of a 70B TP4 step than peer-access kernels (one per phase)."""
    old = step_model(deployment("llama2-70b", "dgx-h100", tp=4, precision="fp8",
                                stack="trtllm-0.5"))
    new = step_model(deployment("llama2-70b", "dgx-h100", tp=4, precision="fp8"))
    ar_old = {o.name: o for o in old.decode_ops(1, 128)}["tp_allreduce"].time_s
    ar_new = {o.name: o for o in new.decode_ops(1, 128)}["tp_allreduce"].time_s
    sysm = deployment("llama2-70b", "dgx-h100", tp=4).system
    extra = 160 * (2 * 3 - 1) * sysm.scale_up_latency_us * 1e-6  # ring 6 alphas vs one-shot 1
    assert ar_old - ar_new == pytest.approx(extra, rel=0.5)
    assert stack("trtllm-0.5").legacy_gqa_kernel and old.kv_read_factor == 8.0


def test_hidden_host_overhead_leaves_no_fixed_step_cost() -> None:
    exposed = step_model(deployment("llama3.1-8b", "dgx-h100", precision="fp8",
                                    stack="trtllm-0.9"))
    hidden = step_model(deployment("llama3.1-8b", "dgx-h100", precision="fp8"))
    dec_e = {o.name: o.time_s for o in exposed.decode_ops(1, 1024)}
    dec_h = {o.name: o.time_s for o in hidden.decode_ops(1, 1024)}
    # current runtimes: the sequence's own time and the counted kernels' (``infer.kernels``);
    # trtllm-0.9 counts none (its fitted host time holds them) and exposes the host time
    kernels = hidden.kernels_step * max(hidden.eff.kernel_s - hidden.kernel_tok_s, 0.0)
    assert hidden.kernels_step == 32 * 5 and exposed.kernels_step == 0 and kernels > 0
    assert dec_h["step_overhead"] == pytest.approx(hidden.eff.seq_overhead_s + kernels)
    host = exposed.eff.step_overhead_s + 32 * exposed.eff.layer_overhead_s
    assert dec_e["step_overhead"] - dec_h["step_overhead"] == pytest.approx(host - kernels)


def test_exposed_host_time_grows_with_the_decoder_layers_of_the_stage() -> None:
    """On the GptSession stacks the host time between steps is ``step_overhead_s`` plus
    ``layer_overhead_s`` per decoder layer the stage runs (each step sets every layer's input
    tensors and re-runs the engine's shape inference: data/stacks.yaml): Llama-2 70B's 80 layers
    pay 48 more than the 7B's 32, whatever the TP degree; a pipeline stage pays for its own
    layers; stacks that hide the host time pay none of it."""
    from dataclasses import replace

    def host(model: str, tp: int = 1, pp: int = 1, st: str | None = "trtllm-0.9") -> float:
        dep = deployment(model, "dgx-h100", tp=tp, precision="fp8", stack=st)
        return step_model(replace(dep, pp=pp)).step_s

    eff = step_model(deployment("llama2-7b", "dgx-h100", precision="fp8")).eff
    assert eff.layer_overhead_s > 0
    assert host("llama2-70b", 4) - host("llama2-7b") == pytest.approx(48 * eff.layer_overhead_s)
    assert host("llama2-70b", 4) == pytest.approx(host("llama2-70b", 8))
    assert host("llama2-70b", 4, pp=2) == pytest.approx(
        eff.step_overhead_s + 40 * eff.layer_overhead_s)
    assert host("llama2-70b", 4, st=None) == 0.0


@pytest.mark.parametrize(("name", "hw", "tp", "prec"), [
    ("llama3.1-8b", "dgx-h100", 1, "fp8"), ("llama2-7b", "dgx-a100-80gb", 1, "fp16"),
    ("llama2-70b", "dgx-h100", 2, "fp8"), ("llama3.1-70b", "hgx-h200", 1, "fp8"),
    ("llama2-70b", "dgx-a100-80gb", 4, "fp16"), ("llama3.1-405b", "hgx-h200", 8, "fp8")])
def test_batch1_decode_within_15pct_of_the_bandwidth_floor(name: str, hw: str, tp: int,
                                                          prec: str) -> None:
    """On current runtimes (default stack) the streaming part of a batch-1 decode step is
    within 15% of (weights + KV cache read) / achieved HBM bandwidth (0.90 x the datasheet,
    Jia et al. 2018 table 3.1: sustained ~88-92%); what is left is the TP all-reduces. On top
    of it come the counted kernels' fixed GPU time (``infer.kernels``), which published
    batch-1 runs need (20-40% of their step: test_validate's batch-1 rows). The input
    embedding table is not read (one row is gathered): half the ``embeddings`` term."""
    dep = deployment(name, hw, tp=tp, precision=prec)
    sm = step_model(dep)
    ctx = 1024
    w = weight_terms(dep.model, dep.compression, tp, 1)
    nbytes = sum(w.values()) - w["embeddings"] / 2 \
        + ctx * kv_bytes_per_token_per_device(dep.model, dep.compression, tp, 1, False)
    floor = nbytes / (dep.accelerator.memory_bw * sm.eff.memory)
    kernels = sm.kernels_step * max(sm.eff.kernel_s - sm.kernel_tok_s, 0.0)
    assert kernels > 0
    t = total_s(sm.decode_ops(1, ctx))
    assert 0.98 * floor <= t - kernels <= 1.15 * floor, ((t - kernels) / floor)


def test_request_overhead_is_the_stacks_and_the_same_on_every_chip() -> None:
    """The fixed time before the first token is software: fitted per stack from that stack's
    TTFT rows, shared by every family; stacks without TTFT rows keep the generic value. So is
    the custom all-reduce kernel's rate (``infer.allreduce``)."""
    import yaml

    from suanli.infer.efficiency import Efficiency, efficiency_for
    from suanli.infer.validate import CASES

    ttft_stacks = {c.get("stack", "default") for c in yaml.safe_load(CASES.read_text())
                   if c.get("kind") == "ttft" and c.get("include", True)}
    effs = [efficiency_for(f) for f in ("default", "hopper", "ampere")]
    assert {k for k, _ in effs[0].request_overhead_by_stack} == ttft_stacks
    assert all(e.request_overhead_by_stack == effs[0].request_overhead_by_stack for e in effs)
    assert all(e.custom_allreduce_gbs == effs[0].custom_allreduce_gbs > 0 for e in effs)
    for e in effs:
        assert e.request_overhead("default") == e.request_overhead_s
    e = Efficiency(0.5, 0.9, 0.8, 0.0, request_overhead_s=1e-3,
                   request_overhead_by_stack=(("trtllm-0.5", 8e-3),))
    assert e.request_overhead("trtllm-0.5") == 8e-3 and e.request_overhead("trtllm-0.9") == 1e-3


def test_custom_allreduce_reads_every_peer_at_the_kernel_rate_up_to_its_workspace() -> None:
    """TensorRT-LLM v0.6-v0.9's custom all-reduce: ``alpha + (t-1) B / kernel_bw`` up to the
    IPC workspace; never faster than the link allows (the laws it shares with ``custom_grid``:
    :func:`test_engine_era_allreduce_laws`)."""
    from suanli.infer.allreduce import serving_allreduce_s

    bw, alpha, kbw = 450e9, 4e-6, 120e9
    small = 2e6
    assert serving_allreduce_s(small, 4, bw, alpha, "custom", kernel_bw=kbw) == pytest.approx(
        alpha + 3 * small / kbw)
    assert serving_allreduce_s(small, 8, bw, alpha, "custom", kernel_bw=kbw) > \
        serving_allreduce_s(small, 4, bw, alpha, "custom", kernel_bw=kbw)
    assert serving_allreduce_s(small, 4, bw, alpha, "custom", kernel_bw=1e15) == pytest.approx(
        alpha + 3 * small / bw)  # the link caps the kernel


def test_small_prefill_all_reduce_grows_with_peers_on_the_custom_stack() -> None:
    """At 128 tokens the engine-era custom all-reduce costs Falcon-180B more on TP8 than on
    TP4 per all-reduce (``(t-1) B``), and the 2048-token messages take the NCCL ring; the
    step's ops and its hot-path time agree."""
    def ar_ms(model: str, tp: int, prompt: int, hw: str = "dgx-h100") -> float:
        dep = deployment(model, hw, tp=tp, precision="fp8", stack="trtllm-0.9")
        sm = step_model(dep)
        ops = sm.prefill_ops(1, prompt)
        assert total_s(ops) == pytest.approx(sm.time(prompt, 1, prompt * (prompt + 1) / 2, 0),
                                             rel=1e-9)
        return 1e3 * sum(o.time_s for o in ops if o.name == "tp_allreduce")

    assert ar_ms("falcon-180b", 8, 128) > 2 * ar_ms("falcon-180b", 4, 128)
    assert ar_ms("falcon-180b", 4, 128) > ar_ms("llama2-70b", 4, 128)


def test_custom_allreduce_grid_is_the_kernels_launch_configuration() -> None:
    """``kernelLaunchConfig`` of TensorRT-LLM's custom all-reduce: one-shot one CTA per 1,024
    threads up to 24; two-shot the smallest block count dividing one rank's threads with at most
    1,024 threads a block, divided by its smallest factor to 24 or fewer. Falcon-180B's hidden
    size 14,848 = 2^9 x 29 leaves 2 CTAs on 4 ranks and 1 on 8 at 128 tokens; Llama-2 70B's
    8,192 keeps 16. The plugin picks one-shot on 2 ranks and below 1 MB / 500 KB."""
    from suanli.infer.allreduce import custom_blocks, custom_strategy

    assert custom_strategy(2e6, 4) == custom_strategy(6e5, 8) == "twoshot"
    assert custom_strategy(16e6, 2) == custom_strategy(9e5, 4) == custom_strategy(4e5, 8) \
        == "oneshot"
    assert custom_blocks(128 * 14848, 4, "twoshot") == 2
    assert custom_blocks(128 * 14848, 8, "twoshot") == 1
    assert custom_blocks(128 * 8192, 4, "twoshot") == 16
    assert custom_blocks(128 * 8192, 8, "twoshot") == 16  # 16,384 threads: 16 blocks of 1,024
    assert custom_blocks(128 * 4096, 2, "oneshot") == 24  # capped
    assert custom_blocks(14848, 8, "oneshot") == 2  # 1,856 threads
    assert custom_blocks(8, 4, "oneshot") == custom_blocks(32, 4, "twoshot") == 1


@pytest.mark.parametrize(("algo", "bw", "kbw", "msg"), [
    ("custom", 450e9, 120e9, 2e6), ("custom_grid", 360e9, 300e9, 128 * 8192 * 2.0)])
def test_engine_era_allreduce_laws(algo: str, bw: float, kbw: float, msg: float) -> None:
    """Both models of TensorRT-LLM's engine-era kernel: ``peer`` (current runtimes) is at
    least as fast for the same message; beyond the IPC workspace (16 MB on 2 ranks, 8 MB
    above) and across nodes the NCCL ring; nothing on one rank."""
    from suanli.infer.allreduce import custom_workspace_bytes, serving_allreduce_s
    from suanli.perf.comm import ring_allreduce_s

    alpha = 4e-6
    assert serving_allreduce_s(msg, 4, bw, alpha, "peer") <= \
        serving_allreduce_s(msg, 4, bw, alpha, algo, kernel_bw=kbw)
    big = custom_workspace_bytes(4) * 1.01
    assert serving_allreduce_s(big, 4, bw, alpha, algo, kernel_bw=kbw) == pytest.approx(
        ring_allreduce_s(big, 4, bw, alpha))
    assert custom_workspace_bytes(2) > custom_workspace_bytes(8)
    assert serving_allreduce_s(msg, 1, bw, alpha, algo, kernel_bw=kbw) == 0.0
    assert serving_allreduce_s(msg, 4, bw, alpha, algo, inside=False,
                               kernel_bw=kbw) == pytest.approx(ring_allreduce_s(msg, 4, bw, alpha))


def test_custom_grid_moves_its_peer_bytes_at_its_grids_rate_up_to_its_workspace() -> None:
    """TensorRT-LLM v0.6-v0.9's custom all-reduce as its kernel runs (``custom_grid``):
    one-shot ``alpha + (t-1) B / rate``, two-shot ``2 alpha + 2 (t-1)/t B / rate``,
    ``rate = kernel_bw x blocks / 24`` capped by the link, up to the IPC workspace (the laws it
    shares with ``custom``: :func:`test_engine_era_allreduce_laws`)."""
    from suanli.infer.allreduce import serving_allreduce_s

    bw, alpha, kbw = 360e9, 4e-6, 300e9
    llama, falcon = 128 * 8192 * 2.0, 128 * 14848 * 2.0  # bytes at 128 tokens
    assert serving_allreduce_s(llama, 4, bw, alpha, "custom_grid", kernel_bw=kbw) == pytest.approx(
        2 * alpha + 1.5 * llama / (kbw * 16 / 24))
    assert serving_allreduce_s(falcon, 4, bw, alpha, "custom_grid", kernel_bw=kbw) == pytest.approx(
        2 * alpha + 1.5 * falcon / (kbw * 2 / 24))
    assert serving_allreduce_s(falcon, 8, bw, alpha, "custom_grid", kernel_bw=kbw) == pytest.approx(
        2 * alpha + 1.75 * falcon / (kbw / 24))
    mixtral = 128 * 4096 * 2.0  # 2 ranks: one-shot, a full grid
    assert serving_allreduce_s(mixtral, 2, bw, alpha, "custom_grid", kernel_bw=kbw) == \
        pytest.approx(alpha + mixtral / kbw)
    assert serving_allreduce_s(mixtral, 2, bw, alpha, "custom_grid", kernel_bw=1e15) == \
        pytest.approx(alpha + mixtral / bw)  # the link caps the kernel


def test_falcon_all_reduces_once_per_layer_where_the_stack_sums_attention_and_mlp() -> None:
    """Falcon runs attention and MLP in parallel: current runtimes (the default stack: vLLM,
    TensorRT-LLM >= v0.7) all-reduce their sum once per layer, the 2023 layer of the v0.5
    engines each (``trtllm-0.9``, built from the later layer, once); Llama-2 70B (sequential)
    reduces twice on every stack."""
    from suanli.infer.allreduce import allreduces_per_layer

    def per_step(model: str, st: str | None) -> float:
        return step_model(deployment(model, "dgx-h100", tp=8, precision="fp8",
                                     stack=st)).ar_per_step

    assert per_step("falcon-180b", None) == per_step("falcon-180b", "trtllm-0.9") == 80
    assert per_step("falcon-180b", "trtllm-0.5") == 160
    assert per_step("llama2-70b", None) == per_step("llama2-70b", "trtllm-0.5") == 160
    assert not stack("trtllm-0.5").fused_parallel_allreduce
    assert stack("default").fused_parallel_allreduce
    assert allreduces_per_layer("falcon", True) == 1
    assert allreduces_per_layer("falcon", False) == allreduces_per_layer("llama", True) == 2


def test_small_prefill_all_reduce_follows_the_kernels_grid() -> None:
    """At 128 tokens the engine-era custom all-reduce's grid (``custom_grid``) collapses for
    Falcon-180B (2 CTAs on TP4, 1 on TP8): one of its calls costs more than the byte ratio over
    Llama-2 70B's (16 CTAs), TP8 more than TP4; the 2048-token messages take the NCCL ring; the
    step's ops and its hot-path time agree."""
    from dataclasses import replace

    def ar_ms(model: str, tp: int, prompt: int, hw: str = "dgx-h100") -> float:
        dep = deployment(model, hw, tp=tp, precision="fp8", stack="trtllm-0.9")
        sm = step_model(replace(dep, stack=replace(dep.stack, allreduce="custom_grid")))
        ops = sm.prefill_ops(1, prompt)
        assert total_s(ops) == pytest.approx(sm.time(prompt, 1, prompt * (prompt + 1) / 2, 0),
                                             rel=1e-9)
        return 1e3 * sum(o.time_s for o in ops if o.name == "tp_allreduce") / sm.ar_per_step

    assert ar_ms("falcon-180b", 8, 128) > 2 * ar_ms("falcon-180b", 4, 128)
    assert ar_ms("falcon-180b", 4, 128) > 3 * (14848 / 8192) * ar_ms("llama2-70b", 4, 128)
    from suanli.perf.comm import ring_allreduce_s

    dep = deployment("falcon-180b", "dgx-h100", tp=4, precision="fp8", stack="trtllm-0.9")
    sm = step_model(replace(dep, stack=replace(dep.stack, allreduce="custom_grid")))
    assert ar_ms("falcon-180b", 4, 2048) == pytest.approx(
        1e3 * ring_allreduce_s(2048 * 14848 * 2.0, 4, sm.link_bw, sm.link_alpha))


def test_held_out_prior_follows_the_kernel_model_the_stacks_run(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The held-out custom all-reduce rate is the sgl-kernel measurement read by the kernel
    model a stack runs: the full-grid 400 GB/s on the shipped stacks (``trtllm-0.9`` runs
    ``custom_grid``), ``custom``'s 200 GB/s of one-shot bytes where no stack runs the grid
    model (``fit.prior_custom_gbs``)."""
    from dataclasses import replace

    import suanli.infer.stacks as st
    from suanli.infer.fit import (
        PRIOR_CUSTOM_ALLREDUCE_GBS,
        PRIOR_CUSTOM_GRID_GBS,
        prior_custom_gbs,
    )

    assert stack("trtllm-0.9").allreduce == "custom_grid"
    assert prior_custom_gbs() == PRIOR_CUSTOM_GRID_GBS > PRIOR_CUSTOM_ALLREDUCE_GBS
    table = {k: (replace(v, allreduce="custom") if k == "trtllm-0.9" else v)
             for k, v in stacks().items()}
    monkeypatch.setattr(st, "stacks", lambda: table)
    assert prior_custom_gbs() == PRIOR_CUSTOM_ALLREDUCE_GBS


def test_legacy_mmha_reads_hbm_once_and_loads_at_the_kernels_rate() -> None:
    """The pre-XQA masked MHA kernel (``infer.kernels.masked_mha_read_s``): with its L2 reuse
    on, the query heads of a group share the K/V lines (HBM bytes as a GQA-aware kernel's) and
    the per-query-head loads run at ``legacy_kv_gbs``; off, every load comes from HBM."""
    from dataclasses import replace

    from suanli.infer.stacks import stack

    gqa = deployment("llama2-70b", "dgx-a100-80gb", tp=4, precision="fp16")
    old = replace(stack("trtllm-0.5"), mmha_l2_reuse=False)
    l2 = replace(old, mmha_l2_reuse=True)
    kv = {o.name: o for o in step_model(gqa).decode_ops(240, 1152)}["attention"]
    for rate in (2500.0, 3900.0, 9000.0):  # GB/s, above the A100's 2,039 of HBM
        eff = replace(step_model(gqa).eff, legacy_kv_gbs=rate)
        on = {o.name: o for o in step_model(deployment(
            "llama2-70b", "dgx-a100-80gb", tp=4, precision="fp16", stack=l2), eff)
            .decode_ops(240, 1152)}["attention"]
        off = {o.name: o for o in step_model(deployment(
            "llama2-70b", "dgx-a100-80gb", tp=4, precision="fp16", stack=old), eff)
            .decode_ops(240, 1152)}["attention"]
        assert on.bytes == pytest.approx(kv.bytes, rel=1e-9)  # HBM: each K/V head once
        assert off.bytes == pytest.approx(8 * kv.bytes, rel=0.01)  # 64 / 8 heads, from HBM
        # the kernel's 8 loads per K/V head at its rate, never faster than HBM streams them once
        assert on.memory_s == pytest.approx(max(kv.memory_s, 8 * kv.bytes / (rate * 1e9)),
                                            rel=0.01)
        assert kv.memory_s <= on.memory_s <= off.memory_s
    sm = step_model(deployment("llama2-70b", "dgx-a100-80gb", tp=4, precision="fp16",
                               stack=l2), replace(step_model(gqa).eff, legacy_kv_gbs=3900.0))
    for args in [(1, 1, 100, 100), (240, 240, 240 * 1152, 240 * 1152), (2048, 1, 2e6, 0)]:
        assert sm.time(*args) == pytest.approx(total_s(sm.ops(*args)), rel=1e-12)


@given(hs.floats(1e3, 1e12), hs.floats(1.0, 64.0), hs.floats(5e11, 5e12), hs.floats(5e11, 2e13))
def test_masked_mha_read_laws(kv: float, loads: float, hbm: float, rate: float) -> None:
    from suanli.infer.kernels import masked_mha_read_s

    t = masked_mha_read_s(kv, loads, hbm, rate)
    assert t >= kv / hbm * (1 - 1e-12)  # never faster than streaming each K/V head once
    assert t >= loads * kv / rate * (1 - 1e-12)  # nor than the kernel's loads at its rate
    assert masked_mha_read_s(kv, loads, hbm, math.inf) == pytest.approx(loads * kv / hbm)
    assert masked_mha_read_s(kv, loads + 1, hbm, rate) >= t  # more loads never cheaper


def test_legacy_kv_rate_is_fitted_only_where_a_stack_runs_the_l2_reuse(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``legacy_kv_gbs`` starts at its prior and is freed only when a stack runs the masked MHA
    kernel with ``mmha_l2_reuse``; otherwise it stays 0 (no ceiling, each load from HBM)."""
    from dataclasses import replace

    import suanli.infer.stacks as stacks_mod
    from suanli.infer.fit import PRIOR_LEGACY_KV_GBS, prior_legacy_kv_gbs, software_fields
    from suanli.infer.validate import load_cases

    cases = [c for c in load_cases() if c.include]
    for on in (False, True):
        table = {k: (replace(v, mmha_l2_reuse=on) if v.legacy_gqa_kernel else v)
                 for k, v in stacks().items()}
        monkeypatch.setattr(stacks_mod, "stacks", lambda t=table: t)
        assert prior_legacy_kv_gbs() == (PRIOR_LEGACY_KV_GBS if on else 0.0)
        assert ("legacy_kv_gbs" in software_fields(cases)) is on

