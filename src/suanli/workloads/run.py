"""Run a workload and measure it: training steps and a serving loop, each -> ResultRecord.

Timing: wall clock (``time.perf_counter``) per step after ``warmup`` steps; the median is the
figure reported (robust to a noisy neighbour on a shared machine), with the fastest step (the
least disturbed). Each step is also timed in thread CPU seconds (``time.thread_time``): with
one thread, the fastest of those is the step's time on a core of its own, which on a crowded
machine the fastest wall-clock step is not once a step outlasts the scheduler's time slice
(``suanli bench`` uses the same clock with one thread). Peak memory: the process's
peak resident set (``ru_maxrss``), which on a CPU is where tensors live.
"""

from __future__ import annotations

import resource
import statistics
import time
from typing import Any

from suanli.errors import InputError
from suanli.workloads.record import ResultRecord, hardware_info, usable_cpus
from suanli.workloads.shapes import ServeShape, TrainShape

__all__ = ["run_serve", "run_train"]


def _torch():
    try:
        import torch
    except ImportError:
        raise InputError("the train/serve workloads need PyTorch: pip install "
                         "'suanli[workloads]' (a CPU build is enough)") from None
    return torch


def _setup(threads: int | None, seed: int) -> tuple[Any, int]:
    torch = _torch()
    n = threads or usable_cpus()
    torch.set_num_threads(n)
    torch.manual_seed(seed)
    return torch, n


def _peak_rss_bytes() -> int:
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024  # Linux: KiB


def run_train(shape: TrainShape) -> ResultRecord:
    """Train ``shape.steps`` AdamW steps on uniform random tokens; report the median step."""
    torch, threads = _setup(shape.threads, shape.seed)
    from suanli.workloads.gpt import GPT

    dtype = torch.bfloat16 if shape.dtype == "bf16" else torch.float32
    model = GPT(shape.model).to(dtype)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, foreach=True)
    vocab = shape.model.vocab
    gen = torch.Generator().manual_seed(shape.seed)
    started, times, cpu, loss = time.time(), [], [], float("nan")
    for step in range(shape.steps):
        tokens = torch.randint(0, vocab, (shape.batch, shape.seq_len + 1), generator=gen)
        t0, c0 = time.perf_counter(), time.thread_time()
        logits = model(tokens[:, :-1])
        out = torch.nn.functional.cross_entropy(logits.reshape(-1, vocab).float(),
                                                tokens[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        out.backward()
        opt.step()
        dt, dc = time.perf_counter() - t0, time.thread_time() - c0
        if step >= shape.warmup:
            times.append(dt)
            cpu.append(dc)
        loss = float(out.detach())
    median = statistics.median(times)
    return ResultRecord(kind="train", shape=shape.model_dump(), started_at=started,
                        hardware=hardware_info(threads, f"torch {torch.__version__}"),
                        step_time_s=median, step_time_min_s=min(times), step_times_s=times,
                        step_time_cpu_s=min(cpu),
                        final_loss=loss,
                        tokens_per_s=shape.batch * shape.seq_len / median,
                        peak_memory_bytes=_peak_rss_bytes())


def run_serve(shape: ServeShape) -> ResultRecord:
    """Prefill ``batch`` prompts, then decode ``gen_len`` tokens greedily with a KV cache."""
    torch, threads = _setup(shape.threads, shape.seed)
    from suanli.workloads.gpt import GPT

    dtype = torch.bfloat16 if shape.dtype == "bf16" else torch.float32
    model = GPT(shape.model).to(dtype).eval()
    gen = torch.Generator().manual_seed(shape.seed)
    prompt = torch.randint(0, shape.model.vocab, (shape.batch, shape.prompt_len), generator=gen)
    started = time.time()
    with torch.inference_mode():
        # one untimed warm-up pass (allocator and kernel selection), as serving engines do
        model(prompt, model.new_caches(shape.batch, shape.prompt_len + shape.gen_len, dtype), 0)
        caches = model.new_caches(shape.batch, shape.prompt_len + shape.gen_len, dtype)
        t0, c0 = time.perf_counter(), time.thread_time()
        logits = model(prompt, caches, 0)
        nxt = logits[:, -1].argmax(dim=-1, keepdim=True)  # [B, 1]
        ttft, ttft_cpu = time.perf_counter() - t0, time.thread_time() - c0
        steps, cpu = [], []
        for i in range(shape.gen_len - 1):
            t1, c1 = time.perf_counter(), time.thread_time()
            logits = model(nxt, caches, shape.prompt_len + i)
            nxt = logits[:, -1].argmax(dim=-1, keepdim=True)
            steps.append(time.perf_counter() - t1)
            cpu.append(time.thread_time() - c1)
    tpot = statistics.median(steps)
    return ResultRecord(kind="serve", shape=shape.model_dump(), started_at=started,
                        hardware=hardware_info(threads, f"torch {torch.__version__}"),
                        ttft_s=ttft, ttft_cpu_s=ttft_cpu, tpot_s=tpot, tpot_min_s=min(steps),
                        tpot_cpu_s=min(cpu),
                        output_tokens_per_s=shape.batch / tpot,
                        peak_memory_bytes=_peak_rss_bytes())
