"""Request-level serving simulation with continuous batching, on the shared EventLoop.

Each replica runs iteration-level scheduling (Orca, Yu et al. 2022) with chunked prefill
(Sarathi-Serve, Agrawal et al. 2024), the policy of vLLM and TensorRT-LLM in-flight batching:

1. every running sequence in its decode phase contributes one token to the step;
2. the remaining token budget (``chunk_tokens``) goes to prompt chunks, first-come first-served;
3. waiting requests are admitted while ``max_batch`` and the KV cache allow. A request reserves
   KV for ``prompt + output`` tokens at admission (no preemption: conservative, as vLLM's
   admission when outputs are known in advance);
4. the step's time is the roofline ``StepModel.time`` of its tokens, (query, key) pairs and KV
   reads; a sequence's first token appears at the end of the step that finishes its prompt.

While the batch only decodes and nothing can be admitted, ``k`` identical decode steps are
simulated as one event (``k`` up to the next completion or the next arrival; the step time is
taken at the mid-point context), so a trace of tens of thousands of requests takes seconds.

Requests go to the replica with the fewest outstanding requests (join-shortest-queue).
Events: ``arrival`` (one per request) and ``step_end`` (one per replica iteration); the same
:class:`~suanli.events.EventLoop` drives the cluster scheduler simulator.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from dataclasses import dataclass, field

from suanli.errors import InfeasibleError, InputError
from suanli.events import Event, EventLoop
from suanli.infer.efficiency import Efficiency
from suanli.infer.estimate import Deployment, check_weights_fit, memory_only, step_model
from suanli.infer.memory import kv_bytes_per_token_per_device
from suanli.infer.model import StepModel
from suanli.infer.trace import Request


@dataclass(slots=True)
class _Seq:
    req: Request
    prefilled: int = 0  # prompt tokens processed
    admitted_s: float = 0.0
    first_token_s: float = -1.0
    finish_s: float = -1.0


@dataclass(slots=True)
class _Replica:
    """Aggregates kept incrementally so a step costs O(new work), not O(batch)."""

    idx: int
    sm: StepModel
    kv_tokens: float  # KV capacity, tokens
    waiting: deque[Request] = field(default_factory=deque)
    prefilling: list[_Seq] = field(default_factory=list)  # FCFS
    decode_heap: list[tuple[int, int, _Seq]] = field(default_factory=list)  # (finish step, id)
    decode_clock: int = 0  # decode steps run so far
    ctx_sum: float = 0.0  # cached tokens of the decoding sequences
    kv_used: float = 0.0
    busy: bool = False
    busy_s: float = 0.0
    steps: int = 0
    plan: tuple[float, int, list[tuple[_Seq, int]]] = (0.0, 0, [])

    @property
    def n_dec(self) -> int:
        return len(self.decode_heap)

    @property
    def outstanding(self) -> int:
        return len(self.waiting) + len(self.prefilling) + len(self.decode_heap)


@dataclass(frozen=True)
class SimResult:
    """Per-request arrays (seconds) in request order, and a summary."""

    ttft_s: list[float]
    tpot_s: list[float]  # NaN for single-token outputs
    e2e_s: list[float]
    queue_s: list[float]
    summary: dict[str, float]


def simulate(dep: Deployment, requests: list[Request], *, replicas: int = 1,
             max_batch: int = 256, chunk_tokens: int = 2048,
             eff: Efficiency | None = None) -> SimResult:
    """Replay ``requests`` on ``replicas`` copies of ``dep``; see the module docstring.
    Defaults: ``max_batch`` 256 and ``chunk_tokens`` 2048 (vLLM's ``max_num_seqs`` and its
    chunked-prefill ``max_num_batched_tokens``)."""
    if replicas < 1 or max_batch < 1 or chunk_tokens < 1:
        raise InputError("--replicas, --max-batch and --chunk-tokens must be >= 1")
    if not requests:
        raise InputError("no requests to simulate")
    check_weights_fit(dep)
    requests = sorted(requests, key=lambda r: (r.arrival_s, r.id))
    mem = memory_only(dep, 0, 1)
    per_tok = kv_bytes_per_token_per_device(dep.model, dep.compression, dep.tp, dep.pp,
                                            dep.attn_dp)
    kv_tokens = mem.kv_capacity / per_tok
    biggest = max(r.prompt + r.output for r in requests)
    if biggest > kv_tokens:
        raise InfeasibleError(f"a request of {biggest} tokens needs more KV cache than a "
                              f"replica holds ({kv_tokens:,.0f} tokens)",
                              fixes=["raise --tp", "use --kv fp8", "a device with more memory"])
    sm = step_model(dep, eff)
    reps = [_Replica(i, sm, kv_tokens) for i in range(replicas)]
    seqs: dict[int, _Seq] = {}
    loop = EventLoop()
    arrived = [0]  # arrivals processed so far (requests are sorted by arrival)

    def next_arrival() -> float:
        return requests[arrived[0]].arrival_s if arrived[0] < len(requests) else math.inf

    def start(lp: EventLoop, rep: _Replica) -> list[Event]:
        plan = _plan_step(rep, lp.now, chunk_tokens, max_batch, seqs, next_arrival())
        if plan is None:
            rep.busy = False
            return []
        rep.busy, rep.plan = True, plan
        return [Event(lp.now + plan[0], step_end, rep, priority=1)]

    def arrival(lp: EventLoop, ev: Event) -> list[Event]:
        arrived[0] += 1
        rep = min(reps, key=lambda r: (r.outstanding, r.idx))
        rep.waiting.append(ev.payload)
        return [] if rep.busy else start(lp, rep)

    def step_end(lp: EventLoop, ev: Event) -> list[Event]:
        rep: _Replica = ev.payload
        dur, k, chunks = rep.plan
        rep.busy_s += dur
        rep.steps += k
        rep.decode_clock += k
        rep.ctx_sum += rep.n_dec * k  # every decoding sequence appended k tokens
        heap = rep.decode_heap
        while heap and heap[0][0] <= rep.decode_clock:
            _, _, s = heapq.heappop(heap)
            _finish(rep, s, lp.now)
        for s, c in chunks:
            s.prefilled += c
            if s.prefilled >= s.req.prompt:  # prompt done: first token out
                rep.prefilling.remove(s)
                s.first_token_s = lp.now
                if s.req.output <= 1:
                    _finish(rep, s, lp.now, decoding=False)
                else:
                    heapq.heappush(heap, (rep.decode_clock + s.req.output - 1, s.req.id, s))
                    rep.ctx_sum += s.req.prompt + 1
        return start(lp, rep)

    for r in requests:
        loop.schedule(Event(r.arrival_s, arrival, r))
    loop.run()
    return _result(requests, seqs, reps, loop.now)


def _finish(rep: _Replica, s: _Seq, now: float, decoding: bool = True) -> None:
    if decoding:
        rep.ctx_sum -= s.req.prompt + s.req.output
    rep.kv_used -= s.req.prompt + s.req.output
    s.finish_s = now


def _plan_step(rep: _Replica, now: float, chunk: int, max_batch: int,
               seqs: dict[int, _Seq], next_arrival: float
               ) -> tuple[float, int, list[tuple[_Seq, int]]] | None:
    """Choose the next iteration: (duration, identical decode steps, prompt chunks). None when
    there is nothing to run."""
    while rep.waiting and len(rep.prefilling) + rep.n_dec < max_batch:
        r = rep.waiting[0]
        if rep.kv_used + r.prompt + r.output > rep.kv_tokens:
            break  # FCFS: later requests wait behind it
        rep.waiting.popleft()
        rep.kv_used += r.prompt + r.output
        s = _Seq(r, admitted_s=now)
        seqs[r.id] = s
        rep.prefilling.append(s)
    n_dec = rep.n_dec
    if not n_dec and not rep.prefilling:
        return None
    sm, ctx = rep.sm, rep.ctx_sum
    if rep.prefilling:
        budget = max(chunk - n_dec, 1)
        chunks: list[tuple[_Seq, int]] = []
        pairs, kv_read, p_tok = ctx, ctx, 0
        for s in rep.prefilling:
            if budget <= 0:
                break
            c = min(s.req.prompt - s.prefilled, budget)
            budget -= c
            chunks.append((s, c))
            p = s.prefilled  # tokens of this prompt already cached
            pairs += c * p + c * (c + 1) / 2.0
            kv_read += p
            p_tok += c
        dur = sm.time(n_dec + p_tok, n_dec + len(chunks), pairs, kv_read) * sm.pp
        return dur, 1, chunks
    # pure decode: k identical steps up to the next completion or the next arrival
    k = rep.decode_heap[0][0] - rep.decode_clock
    dt = sm.time(n_dec, n_dec, ctx, ctx) * sm.pp
    if not rep.waiting and math.isfinite(next_arrival):  # an arrival could join the batch
        k = max(1, min(k, math.ceil(max(next_arrival - now, 0.0) / dt)))
    if k > 1:
        mid = ctx + n_dec * (k - 1) / 2.0
        dt = sm.time(n_dec, n_dec, mid, mid) * sm.pp
    return dt * k, k, []


def _result(requests: list[Request], seqs: dict[int, _Seq], reps: list[_Replica],
            end: float) -> SimResult:
    import numpy as np

    ttft, tpot, e2e, queue = [], [], [], []
    for r in requests:
        s = seqs[r.id]
        ttft.append(s.first_token_s - r.arrival_s)
        e2e.append(s.finish_s - r.arrival_s)
        queue.append(s.admitted_s - r.arrival_s)
        tpot.append((s.finish_s - s.first_token_s) / (r.output - 1) if r.output > 1
                    else math.nan)
    span = max(end - requests[0].arrival_s, 1e-9)
    a_ttft, a_tpot = np.asarray(ttft), np.asarray(tpot)
    a_tpot = a_tpot[~np.isnan(a_tpot)]
    out_tokens = sum(r.output for r in requests)
    summary = {
        "requests": float(len(requests)), "makespan_s": span,
        "ttft_p50_s": float(np.percentile(a_ttft, 50)),
        "ttft_p90_s": float(np.percentile(a_ttft, 90)),
        "ttft_p99_s": float(np.percentile(a_ttft, 99)),
        "tpot_p50_s": float(np.percentile(a_tpot, 50)) if a_tpot.size else math.nan,
        "tpot_p90_s": float(np.percentile(a_tpot, 90)) if a_tpot.size else math.nan,
        "tpot_p99_s": float(np.percentile(a_tpot, 99)) if a_tpot.size else math.nan,
        "e2e_p50_s": float(np.percentile(e2e, 50)), "e2e_p99_s": float(np.percentile(e2e, 99)),
        "queue_mean_s": float(np.mean(queue)), "queue_p99_s": float(np.percentile(queue, 99)),
        "output_tokens_per_s": out_tokens / span,
        "total_tokens_per_s": (out_tokens + sum(r.prompt for r in requests)) / span,
        "utilization": sum(r.busy_s for r in reps) / (len(reps) * span),
        "iterations": float(sum(r.steps for r in reps)),
    }
    return SimResult(ttft, tpot, e2e, queue, summary)
