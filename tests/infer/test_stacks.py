"""The serving-stack input: documented features change a step's cost, nothing is fitted."""

from __future__ import annotations

import pytest

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
    assert dec_h["step_overhead"] == pytest.approx(hidden.eff.seq_overhead_s)  # 1 sequence
    assert dec_e["step_overhead"] - dec_h["step_overhead"] == pytest.approx(
        exposed.eff.step_overhead_s)


@pytest.mark.parametrize(("name", "hw", "tp", "prec"), [
    ("llama3.1-8b", "dgx-h100", 1, "fp8"), ("llama2-7b", "dgx-a100-80gb", 1, "fp16"),
    ("llama2-70b", "dgx-h100", 2, "fp8"), ("llama3.1-70b", "hgx-h200", 1, "fp8"),
    ("llama2-70b", "dgx-a100-80gb", 4, "fp16"), ("llama3.1-405b", "hgx-h200", 8, "fp8")])
def test_batch1_decode_within_15pct_of_the_bandwidth_floor(name: str, hw: str, tp: int,
                                                          prec: str) -> None:
    """The issue's bound on current runtimes (default stack): one decode step at batch 1 is
    within 15% of (weights + KV cache read) / achieved HBM bandwidth (0.90 x the datasheet,
    Jia et al. 2018 table 3.1: sustained ~88-92%); what is left is the TP all-reduces. The
    input embedding table is not read (one row is gathered): half the ``embeddings`` term."""
    dep = deployment(name, hw, tp=tp, precision=prec)
    sm = step_model(dep)
    ctx = 1024
    w = weight_terms(dep.model, dep.compression, tp, 1)
    nbytes = sum(w.values()) - w["embeddings"] / 2 \
        + ctx * kv_bytes_per_token_per_device(dep.model, dep.compression, tp, 1, False)
    floor = nbytes / (dep.accelerator.memory_bw * sm.eff.memory)
    t = total_s(sm.decode_ops(1, ctx))
    assert 0.98 * floor <= t <= 1.15 * floor, (t / floor)


def test_request_overhead_is_the_stacks_and_the_same_on_every_chip() -> None:
    """The fixed time before the first token is software: fitted per stack from that stack's
    TTFT rows, shared by every family; stacks without TTFT rows keep the generic value. A
    kernel-launch class with a fitted per-kernel cost replaces it (none is enabled: every
    shipped stack is ``graphs``; docs/inference.md, "Fixed costs per kernel")."""
    import yaml

    from suanli.infer.efficiency import Efficiency, efficiency_for
    from suanli.infer.validate import CASES

    ttft_stacks = {c.get("stack", "default") for c in yaml.safe_load(CASES.read_text())
                   if c.get("kind") == "ttft" and c.get("include", True)}
    assert all(st.launch == "graphs" for st in stacks().values())
    effs = [efficiency_for(f) for f in ("default", "hopper", "ampere")]
    assert {k for k, _ in effs[0].request_overhead_by_stack} == ttft_stacks
    assert all(e.request_overhead_by_stack == effs[0].request_overhead_by_stack for e in effs)
    for e in effs:
        assert e.request_overhead("default") == e.request_overhead_s
        assert e.kernel_s_by_launch == () and e.kernel_s("engine") == 0
    e = Efficiency(0.5, 0.9, 0.8, 0.0, request_overhead_s=1e-3,
                   request_overhead_by_stack=(("trtllm-0.5", 8e-3),),
                   kernel_s_by_launch=(("engine", 2e-5),))
    assert e.request_overhead("trtllm-0.5") == 8e-3 and e.request_overhead("trtllm-0.9") == 1e-3
    assert e.request_overhead("trtllm-0.5", "engine") == 0  # replaced by the per-kernel cost
    assert e.kernel_s("engine") == 2e-5 and e.kernel_s("graphs") == 0


def test_launch_cost_grows_with_layers_and_all_reduces_and_hides_behind_gpu_work() -> None:
    """The host enqueue time is kernels x kernel_s (layers, MoE layers and TP all-reduces add
    kernels); a step takes max(GPU work, host time): it binds a 128-token prefill of a 7B,
    not a 2048-token one, and adds nothing under the ``graphs`` class."""
    from dataclasses import replace

    from suanli.infer.launch import kernels_per_step
    from suanli.infer.model import StepModel

    assert kernels_per_step(80, 0, 160) > kernels_per_step(80, 0, 0) > kernels_per_step(32, 0, 0)
    assert kernels_per_step(32, 32, 0) > kernels_per_step(32, 0, 0)

    def sm(model: str, tp: int, launch: str = "engine") -> StepModel:
        dep = deployment(model, "dgx-h100", tp=tp, precision="fp8", stack="trtllm-0.5")
        base = step_model(dep)
        eff = replace(base.eff, kernel_s_by_launch=(("engine", 2e-5),))
        return StepModel(dep.model, dep.accelerator, dep.system, dep.compression, eff, tp=tp,
                         allreduce=dep.allreduce, launch=launch)

    seven, small, big = sm("llama2-7b", 1), sm("llama2-70b", 4), sm("falcon-180b", 8)
    assert seven.fixed_s < small.fixed_s == pytest.approx(big.fixed_s)  # both 80 layers, 160 ARs
    assert small.fixed_s == pytest.approx((80 * 9 + 160 + 3) * 2e-5)
    short = {o.name: o.time_s for o in seven.prefill_ops(1, 128)}
    long = {o.name: o.time_s for o in seven.prefill_ops(1, 2048)}
    gpu = sum(t for n, t in short.items() if n not in ("launch_bound", "step_overhead"))
    assert short["launch_bound"] == pytest.approx(seven.fixed_s - gpu)
    assert "launch_bound" not in long
    graphs = sm("llama2-7b", 1, launch="graphs")
    assert graphs.fixed_s == 0 and "launch_bound" not in {o.name for o in
                                                           graphs.prefill_ops(1, 128)}
    assert total_s(seven.prefill_ops(1, 128)) == pytest.approx(
        seven.time(128, 1, 128 * 129 / 2, 0), rel=1e-9)
