"""MoE serving as it is run: expert parallelism, load imbalance, grouped GEMMs by tokens per
expert, the dispatch/combine all-to-all over NVLink and the scale-out NIC, two-micro-batch
overlap. Pure functions; parameters with their sources in ``data/moe.yaml``.

Layout (DeepSeek-V3 inference system, github.com/deepseek-ai/open-infra-index "Day 6";
TensorRT-LLM ``enable_attention_dp``; SGLang ``--enable-dp-attention``): ``ranks`` devices per
pipeline stage; routed experts split over ``ep`` ranks (each holds ``ceil(E / ep)`` experts) and
``etp = ranks / ep`` ways inside each expert; under attention-DP every rank runs attention, dense
FFN layers and shared experts on its own ``1 / ranks`` of the tokens (weights replicated, no TP
all-reduce), and only the routed experts exchange tokens.

* **Load imbalance** (the slowest rank sets the step; Poisson routing noise plus expert
  popularity skew of coefficient of variation ``cv``): a rank hosting ``n = E / ep`` experts
  receives on average ``L = T k / ep`` (token, expert) pairs, with variance
  ``L + cv^2 L^2 / n``; the maximum over ``ep`` ranks is about ``mean + sd sqrt(2 ln ep)``:

      imbalance = 1 + sqrt(2 ln ep) x sqrt(1 / L + cv^2 / n)      (1 when ep = 1)

* **Grouped GEMM by tokens per expert**: a rank touches ``u = n (1 - (1 - k/E)^T)`` of its
  experts, each with ``M = L x imbalance / u`` tokens; time
  ``max(2 u ceil_tile(M) w / peak, (u w b + act) / bw)``: a small ``M`` is weight-read bound.
* **Dispatch + combine all-to-all** per MoE layer (DeepEP): a rank sends each of its ``T_r``
  tokens to ``k`` experts; copies to other ranks cross NVLink, and once per remote *node* touched
  the scale-out NIC (tokens are deduplicated per node, then forwarded over NVLink):

      t = alpha + imbalance x max(B_nvlink / bw_up, B_nic / bw_out)

  with ``B_nvlink = T_r k h b (ep-1)/ep`` and ``B_nic = T_r h b (N-1)(1 - (1 - 1/N)^k)`` for
  ``N`` nodes; all peers in parallel (bandwidth-bound with one latency, not one per peer).
* **All-gather path** (TensorRT-LLM's CUTLASS fused MoE under attention-DP, stack flag
  ``moe_gather``): instead of sending each token to its ``k`` experts' ranks, every rank
  all-gathers all ranks' tokens (the dispatch) and reduce-scatters the expert outputs back
  (the combine). A rank receives ``(ranks - 1) T_r h b`` in each, whatever the routing: the same
  bytes as the all-to-all when ``ep = k`` (Qwen3-235B: 8 and 8), ``ep / k`` times more when
  ``k < ep``, and no imbalance factor (every rank gets every row).
* **Two-micro-batch overlap** (DeepSeek's dual-batch overlap; SGLang TBO): the step runs as two
  halves whose communication hides behind the other's compute:
  ``t = max(2 x compute(T/2), comm(T))``, else ``compute(T) + comm(T)``; the runtime keeps the
  faster (halves re-read the weights, so it loses at small batch).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from suanli.errors import CatalogError

DATA = Path(__file__).parent / "data" / "moe.yaml"


@dataclass(frozen=True)
class MoEParams:
    expert_load_cv: float
    gemm_tile_m: int
    comm_efficiency: float
    dispatch_bytes: float
    combine_bytes: float


@cache
def moe_params(path: Path = DATA) -> MoEParams:
    import yaml

    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    try:
        vals = {k: raw[k]["value"] for k in MoEParams.__dataclass_fields__}
    except (KeyError, TypeError) as exc:
        raise CatalogError(f"missing or malformed entry {exc}", file=str(path)) from exc
    p = MoEParams(float(vals["expert_load_cv"]), int(vals["gemm_tile_m"]),
                  float(vals["comm_efficiency"]), float(vals["dispatch_bytes"]),
                  float(vals["combine_bytes"]))
    if p.expert_load_cv < 0 or p.gemm_tile_m < 1 or not 0 < p.comm_efficiency <= 1:
        raise CatalogError("expert_load_cv >= 0, gemm_tile_m >= 1, comm_efficiency in (0, 1]",
                           file=str(path))
    return p


def experts_per_rank(num_experts: int, ep: int) -> int:
    """Routed experts one rank holds: ``ceil(E / ep)`` (never rises with ``ep``)."""
    return math.ceil(num_experts / max(ep, 1))


def load_imbalance(tokens: float, top_k: int, num_experts: int, ep: int, cv: float) -> float:
    """Expected max-rank / mean-rank routed load (module docstring); >= 1."""
    if ep <= 1 or tokens <= 0:
        return 1.0
    mean = tokens * top_k / ep  # (token, expert) pairs per rank
    n = experts_per_rank(num_experts, ep)
    return 1.0 + math.sqrt(2.0 * math.log(ep)) * math.sqrt(1.0 / mean + cv * cv / n)


def touched_experts(tokens: float, top_k: int, num_experts: int, local: int) -> float:
    """Expected experts of a rank's ``local`` ones that at least one of ``tokens`` routes to."""
    return local * (1.0 - (1.0 - top_k / num_experts) ** max(tokens, 0.0))


# Tolerance (in tiles) of the tile count: ``m`` is an expectation (pairs / touched experts),
# and ``touched_experts`` stays a hair below the rank's expert count however many tokens come
# (``1 - (1 - k/E)^T`` is 1 - 1e-8 at Mixtral's T = 64), so an exact multiple of the tile
# would otherwise round up to one more whole tile: Mixtral 8x7B at batch 64 (16 rows per
# expert) computed 32 rows, twice the 16-row batch-32 cost, from float error alone.
TILE_TOL = 1e-6


def padded_rows(m: float, tile: int) -> float:
    """Rows a GEMM computes for ``m`` tokens: whole tiles (tile quantization); ``m`` within
    ``TILE_TOL`` tiles above a multiple of the tile is that multiple (float error, not a row)."""
    return math.ceil(m / tile - TILE_TOL) * tile if m > 0 else 0.0


@dataclass(frozen=True)
class ExpertCost:
    flops: float  # useful FLOP on the slowest rank
    bytes: float  # weights of the touched experts + activations
    imbalance: float
    tokens_per_expert: float
    padded_flops: float  # FLOP the tiles compute (>= flops): what the compute time uses


def routed_expert_cost(tokens: float, *, top_k: int, num_experts: int, ep: int,
                       expert_weights: float, weight_bytes: float, act_bytes: float,
                       hidden: int, inner: int, layers: float, cv: float, tile: int,
                       imbalance: float | None = None) -> ExpertCost:
    """Routed-expert GEMMs on the slowest rank for a step of ``tokens`` tokens over the whole EP
    group. ``expert_weights``: elements of one expert held on one rank (``/ etp``);
    ``inner``: the expert's intermediate size on the rank. Activations: each (token, expert) pair
    reads ``hidden`` and writes ``hidden``, plus the gated intermediate (3 x inner)."""
    imb = load_imbalance(tokens, top_k, num_experts, ep, cv) if imbalance is None else imbalance
    local = experts_per_rank(num_experts, ep)
    pairs = tokens * top_k / max(ep, 1) * imb  # (token, expert) pairs on the slowest rank
    used = max(touched_experts(tokens, top_k, num_experts, local), 1e-12)
    m = pairs / used
    flops = layers * 2.0 * pairs * expert_weights
    padded = layers * 2.0 * used * padded_rows(m, tile) * expert_weights
    act = layers * pairs * (2.0 * hidden + 3.0 * inner) * act_bytes
    return ExpertCost(flops, layers * used * expert_weights * weight_bytes + act, imb, m, padded)


def nodes_spanned(ranks: int, devices_per_node: int) -> int:
    return max(1, math.ceil(ranks / devices_per_node))


def a2a_bytes(tokens_per_rank: float, *, hidden: int, top_k: int, ep: int, nodes: int,
              elem_bytes: float) -> tuple[float, float]:
    """(bytes over NVLink, bytes over the NIC) one rank sends in one dispatch or combine."""
    if ep <= 1:
        return 0.0, 0.0
    per_copy = tokens_per_rank * hidden * elem_bytes
    nvlink = per_copy * top_k * (ep - 1) / ep
    nic = 0.0
    if nodes > 1:
        nic = per_copy * (nodes - 1) * (1.0 - (1.0 - 1.0 / nodes) ** top_k)
    return nvlink, nic


def a2a_time_s(tokens_per_rank: float, *, hidden: int, top_k: int, ep: int, nodes: int,
               elem_bytes: float, scale_up_bw: float, scale_out_bw: float, alpha: float,
               imbalance: float = 1.0) -> float:
    """Seconds of one dispatch or combine: one latency, then the NVLink and NIC transfers in
    parallel, the slowest rank receiving ``imbalance`` x the mean (module docstring)."""
    nvl, nic = a2a_bytes(tokens_per_rank, hidden=hidden, top_k=top_k, ep=ep, nodes=nodes,
                         elem_bytes=elem_bytes)
    if nvl == 0.0 and nic == 0.0:
        return 0.0
    return alpha + imbalance * max(nvl / scale_up_bw, nic / scale_out_bw if nic else 0.0)


def gather_bytes(tokens_per_rank: float, *, hidden: int, ranks: int, nodes: int,
                 elem_bytes: float) -> tuple[float, float]:
    """(bytes over NVLink, bytes over the NIC) one rank receives in one all-gather of every
    rank's ``tokens_per_rank`` rows, or sends in the matching reduce-scatter (module doc)."""
    if ranks <= 1:
        return 0.0, 0.0
    per_peer = tokens_per_rank * hidden * elem_bytes
    local = ranks / max(nodes, 1)  # ranks per node
    return per_peer * (local - 1), per_peer * (ranks - local)


def gather_time_s(tokens_per_rank: float, *, hidden: int, ranks: int, nodes: int,
                  elem_bytes: float, scale_up_bw: float, scale_out_bw: float,
                  alpha: float) -> float:
    """Seconds of one all-gather (or reduce-scatter) of the MoE's all-gather path: one latency,
    then the NVLink and NIC parts in parallel; every rank moves the same bytes (no routing
    imbalance: each rank gets every token, routed or not)."""
    nvl, nic = gather_bytes(tokens_per_rank, hidden=hidden, ranks=ranks, nodes=nodes,
                            elem_bytes=elem_bytes)
    if nvl == 0.0 and nic == 0.0:
        return 0.0
    return alpha + max(nvl / scale_up_bw, nic / scale_out_bw if nic else 0.0)


def overlapped_s(compute_half_s: float, comm_s: float) -> float:
    """Step time with two micro-batches: each half's communication hides behind the other's
    compute; ``compute_half_s`` is the compute of one half (weights re-read per half)."""
    return max(2.0 * compute_half_s, comm_s)
