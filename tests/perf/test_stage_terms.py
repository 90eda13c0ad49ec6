"""The pipeline is paced by its slowest stage; DeepSpeed's bf16 path pays a gradient
accumulation pass per micro-batch."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from suanli.perf.efficiency import load_efficiency
from suanli.perf.stack import get_stack
from suanli.perf.train_terms import (
    LAYER_TERMS,
    comm_terms,
    compute_terms,
    grad_accum_time,
    layout,
    slowest_stage,
)
from suanli.perf.training import Plan, TrainingJob, estimate


def _job(catalog, model: str, system: str, seq: int, batch: int,
         stack: str | None = None) -> TrainingJob:
    sys_ = catalog.system(system)
    return TrainingJob(model=catalog.model(model), system=sys_,
                       accelerator=catalog.accelerator(sys_.accelerator), tokens=1e9,
                       seq_len=seq, global_batch=batch, stack=stack)


def _raw_terms(job: TrainingJob, plan: Plan):
    eff = load_efficiency().for_family(job.accelerator.family)
    stack = job.software_stack
    lay = layout(job, plan.as_arrays())
    comp = compute_terms(job, lay, eff, stack, job.flash)
    net = comm_terms(job, lay, eff, stack, comp["t_attention"])
    return lay, comp, net


LLAMA_PLAN = Plan(tp=8, pp=16, dp=64, micro_batch=1, interleave=1, zero=1, recompute="none",
                  sp=True)


def test_an_uneven_split_is_paced_by_its_full_middle_stage(catalog):
    """Llama 3 405B on 16 stages: 126 layers leave the first and last stage one layer short
    (7 + embedding, 7 + head; Dubey et al. 2024 Sec. 3.3.2). The head costs less than a layer,
    so a full middle stage of 8 layers, no head, paces the pipeline."""
    job = _job(catalog, "llama3.1-405b", "dgx-h100", 8192, 2048, "meta-llama3-2024")
    lay, comp, net = _raw_terms(job, LLAMA_PLAN)
    assert (lay.layers_stage[0], lay.layers_first[0], lay.layers_last[0]) == (8, 7, 7)
    per_layer = sum({**comp, **net}[k] for k in LAYER_TERMS if k != "gemm_flops")[0] / 8
    assert 0 < comp["t_logits"][0] < per_layer
    c2, n2 = slowest_stage(lay, comp, net)
    assert c2["t_logits"][0] == 0.0
    for k in ("t_gemm", "t_attention", "t_tp_comm"):
        assert {**c2, **n2}[k][0] == pytest.approx({**comp, **net}[k][0])
    assert n2["t_pp_comm"][0] == net["t_pp_comm"][0]
    # the step is faster than charging a full stage plus the head, by that head
    est = estimate(job, LLAMA_PLAN)
    raw = sum(v[0] for k, v in {**comp, **net}.items() if k != "gemm_flops")
    paced = sum(v[0] for k, v in {**c2, **n2}.items() if k != "gemm_flops")
    assert raw - paced == pytest.approx(comp["t_logits"][0])
    assert est.breakdown["time_s"]["logits"] == 0.0


def test_the_pace_is_the_slower_of_a_full_middle_stage_and_the_short_last_stage(catalog):
    """BLOOM's 250,880-token head weighs about one of its layers (recomputed layers run four
    passes, the head three): BLOOM's partition ('type:transformer|embedding') gives the last
    stage 5 layers + head against 6 in the middle; the pace is the slower of the two, not
    6 layers + head."""
    job = _job(catalog, "bloom-176b", "aws-p4de", 2048, 2048, "megatron-deepspeed-2021")
    plan = Plan(tp=4, pp=12, dp=8, micro_batch=2, zero=1, recompute="full")
    lay, comp, net = _raw_terms(job, plan)
    assert (lay.layers_stage[0], lay.layers_last[0]) == (6, 5)
    terms = {**comp, **net}
    per_layer = sum(terms[k] for k in LAYER_TERMS if k != "gemm_flops")[0] / 6
    middle, last = 6 * per_layer, 5 * per_layer + comp["t_logits"][0]
    assert 0.8 < comp["t_logits"][0] / per_layer < 1.2
    c2, n2 = slowest_stage(lay, comp, net)
    paced = sum(v[0] for k, v in {**c2, **n2}.items() if k not in ("gemm_flops", "t_pp_comm"))
    assert paced == pytest.approx(max(middle, last))
    assert paced < 6 * per_layer + comp["t_logits"][0]


def test_an_even_split_keeps_the_last_stage_with_all_its_layers(catalog):
    job = _job(catalog, "gpt3-175b", "dgx-a100-80gb", 2048, 1536)
    plan = Plan(tp=8, pp=8, dp=16, micro_batch=1, interleave=2, zero=1, recompute="selective",
                sp=True)
    lay, comp, net = _raw_terms(job, plan)
    c2, n2 = slowest_stage(lay, comp, net)
    for k, v in {**comp, **net}.items():
        assert {**c2, **n2}[k][0] == pytest.approx(v[0]), k


@pytest.mark.parametrize("pp", [2, 3, 5, 7, 16, 24])
def test_the_paced_stage_is_never_slower_than_a_full_stage_with_the_head(catalog, pp):
    job = _job(catalog, "llama3.1-405b", "dgx-h100", 8192, 2048, "meta-llama3-2024")
    plan = replace(LLAMA_PLAN, pp=pp, dp=8)
    lay, comp, net = _raw_terms(job, plan)
    c2, n2 = slowest_stage(lay, comp, net)
    total = sum(v[0] for k, v in {**comp, **net}.items() if k != "gemm_flops")
    paced = sum(v[0] for k, v in {**c2, **n2}.items() if k != "gemm_flops")
    assert paced <= total * (1 + 1e-12)
    assert paced >= total - comp["t_logits"][0] - total / lay.layers_stage[0] - 1e-12


def test_deepspeed_bf16_pays_a_gradient_accumulation_pass_per_micro_batch(catalog):
    """DeepSpeed's bf16 pipeline path casts and adds every bf16 gradient into fp32 after each
    micro-batch (20 B per parameter, stacks.yaml): memory-bound, per local parameter. fp16 runs
    and stacks that accumulate inside the GEMM (the default) pay nothing."""
    job = _job(catalog, "bloom-176b", "aws-p4de", 2048, 2048, "megatron-deepspeed-2021")
    plan = Plan(tp=4, pp=12, dp=8, micro_batch=2, zero=1, recompute="full")
    eff = load_efficiency().for_family(job.accelerator.family)
    lay = layout(job, plan.as_arrays())
    stack = get_stack("megatron-deepspeed-2021")
    assert stack.grad_accum_bytes == 20.0
    t = grad_accum_time(job, lay, eff, stack)[0]
    params = (lay.dense_p + lay.expert_p)[0]
    assert t == pytest.approx(params * 20.0 / (job.accelerator.memory_bw * eff.mem_eff))
    assert grad_accum_time(replace(job, dtype="fp16"), lay, eff, stack)[0] == 0.0
    assert grad_accum_time(job, lay, eff, get_stack(None))[0] == 0.0
    est = estimate(job, plan)
    per_step = est.breakdown["time_s"]["grad_accum"]
    assert per_step == pytest.approx(t * est.breakdown["micro_batches_per_step"])
    assert sum(est.breakdown["time_s"].values()) == pytest.approx(est.step_time_s, rel=1e-9)
    # more micro-batches per step (smaller micro-batch) pay the pass more often
    small = estimate(job, replace(plan, micro_batch=1)).breakdown["time_s"]["grad_accum"]
    assert small == pytest.approx(2.0 * per_step)
    assert np.isfinite(small)
