"""LoRA adapter shapes: which block linears a target list names, and how many weights the
adapters add (Hu et al. 2021: a ``d_in x d_out`` linear gets ``A: d_in x r`` and ``B: r x d_out``).

Checked against PEFT: LLaMA-7B with ``r = 8`` on ``q, v`` has 4,194,304 trainable parameters.
"""

from __future__ import annotations

from suanli.catalog.schema import ModelSpec
from suanli.perf import ops

MODULES = ("q", "k", "v", "o", "gate", "up", "down")
TARGETS = {"attention": ("q", "k", "v", "o"), "mlp": ("gate", "up", "down"), "all": MODULES}


def linear_shapes(m: ModelSpec) -> list[tuple[str, int, int, int]]:
    """``(name, d_in, d_out, count over the whole model)`` of the block linears LoRA targets.

    MoE layers count every routed and shared expert's FFN matrices. MLA attention is counted
    as MHA of the same heads (its low-rank projections are not split out)."""
    h, q_dim, kv_dim, L = m.hidden, m.heads * m.d_head, m.n_kv_heads * m.d_head, m.layers
    out = [("q", h, q_dim, L), ("k", h, kv_dim, L), ("v", h, kv_dim, L), ("o", q_dim, h, L)]
    n_moe = ops.moe_layer_count(m)
    ffns = [(m.ffn_hidden, L - n_moe)]
    if m.moe is not None and n_moe:
        ffns.append((m.moe.expert_ffn_hidden,
                     n_moe * (m.moe.num_experts + m.moe.shared_experts)))
    for inner, n in ffns:
        if n:
            out += [("up", h, inner, n), ("down", inner, h, n)]
            if m.gated:
                out.append(("gate", h, inner, n))
    return out


def linear_params(m: ModelSpec) -> float:
    """Weights of all block linears (what QLoRA quantizes)."""
    return float(sum(i * o * n for _, i, o, n in linear_shapes(m)))


def adapter_params(m: ModelSpec, rank: int, targets: str) -> float:
    """LoRA weights: ``r (d_in + d_out)`` per targeted matrix (A: d_in x r, B: r x d_out)."""
    names = target_names(targets)
    return float(sum(rank * (i + o) * n for name, i, o, n in linear_shapes(m) if name in names))


def target_names(targets: str) -> tuple[str, ...]:
    """``"all"`` -> every block linear; ``"q,v,o,mlp"`` -> q, v, o, gate, up, down."""
    from suanli.errors import InputError

    out: list[str] = []
    for part in (p.strip().lower() for p in targets.split(",") if p.strip()):
        names = TARGETS.get(part) or ((part,) if part in MODULES else None)
        if names is None:
            raise InputError(f"unknown LoRA target '{part}'; use attention, mlp, all or a list "
                             f"of {', '.join(MODULES)} (e.g. 'q,v,o,mlp')")
        out += [n for n in names if n not in out]
    if not out:
        raise InputError("--lora-targets is empty; use attention, mlp, all or e.g. 'q,v'")
    return tuple(out)
