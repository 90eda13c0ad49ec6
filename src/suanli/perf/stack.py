"""The software stack a training run uses: which kernels are fused, which communication
overlaps, how the allocator behaves. Data, not code: ``perf/data/stacks.yaml``.

The same chip reaches different efficiency under Megatron-LM 2021 (unfused attention, dropout,
gradient all-reduce after the backward), Megatron-LM 2022 (sequence parallel, selective
recompute) and Megatron-Core/Transformer Engine 2024 (flash attention, TP and DP communication
overlapped with GEMMs, no dropout, expandable allocator segments). Each switch below changes a
physical term of the model; none is a fudge factor:

* ``flash_attention``: attention core at ``attn_eff`` with no ``s x s`` scores stored or moved
  (else two batched GEMMs over the head dimension plus softmax/dropout traffic);
* ``dropout``: a 1-byte mask per dropped element is stored for the backward pass
  (Korthikanti et al. 2022, Sec. 4.1) and read/written by the element-wise kernels;
* ``attention_eff``: FLOP efficiency of the stack's fused attention kernel per accelerator
  family (FlashAttention-2 reaches ~35% of H100 peak, FlashAttention-3 / cuDNN ~60-75%);
* ``tp_overlap``: share of the tensor-parallel collectives hidden under the GEMMs;
* ``dp_overlap``: share of the gradient reduction that runs under the backward pass;
* ``pp_scatter_gather``: each TP rank sends ``1/t`` of a stage's output to the next stage,
  which all-gathers it over NVLink (Narayanan et al. 2021, Sec. 4.1);
* ``free_pipeline_outputs``: a stage frees its output once sent (Megatron
  ``deallocate_output_tensor``); otherwise one ``2 s b h`` tensor per micro-batch in flight stays;
* ``allocator_slack``, ``reserved_gb``: what the process cannot fill (fragmentation; context,
  NCCL and cuBLAS workspaces).
* ``fsdp_param_bytes``: bytes per parameter a ZeRO-3/FSDP all-gather moves: 2 when the sharded
  parameters are gathered in bf16, 4 when FSDP gathers the fp32 parameters and autocast casts
  them per GEMM (Composer's 2023 ``mixed_precision: DEFAULT``, llm-foundry's default). Such a
  stack also pays the casts in HBM traffic (``param_cast_bytes`` per parameter per micro-batch).
* ``grad_accum_bytes``: HBM bytes per local parameter per micro-batch that a separate gradient
  accumulation pass moves (0 where the accumulation happens inside the weight-gradient GEMM,
  Megatron's ``gradient_accumulation_fusion``, or on a 1/DP shard, FSDP). DeepSpeed's bf16
  pipeline path runs one after every micro-batch's backward (``train_terms.grad_accum_time``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import cache
from pathlib import Path

from suanli.errors import CatalogError, InputError

STACKS_FILE = Path(__file__).parent / "data" / "stacks.yaml"


@dataclass(frozen=True)
class Stack:
    id: str
    name: str
    flash_attention: bool
    dropout: bool
    fused_elementwise: bool
    tp_overlap: float  # 0..1
    dp_overlap: float  # 0..1
    pp_scatter_gather: bool
    free_pipeline_outputs: bool
    allocator_slack: float  # 0..1 of capacity
    reserved_gb: float
    source: str
    attention_eff: dict[str, float] | None = None  # fused-kernel FLOP efficiency by family
    fsdp_param_bytes: float = 2.0  # bytes per parameter in a ZeRO-3/FSDP all-gather
    grad_accum_bytes: float = 0.0  # HBM bytes per parameter per micro-batch, separate pass

    @property
    def param_cast_bytes(self) -> float:
        """HBM bytes per gathered parameter per micro-batch spent casting fp32 parameters for
        autocast GEMMs (``fsdp_param_bytes`` 4): the forward cast (read 4, write 2), the cast of
        the bf16 weight gradient back to fp32 (read 2, write 4), and FSDP's cast of that gradient
        to the bf16 reduce dtype (read 4, write 2): 18 bytes. 0 when parameters are gathered in
        the compute precision."""
        return 18.0 if self.fsdp_param_bytes > 2.0 else 0.0

    @property
    def residual_bytes(self) -> float:
        """Bytes per element of the residual stream. A stack that keeps fp32 parameters and
        runs GEMMs under autocast (``fsdp_param_bytes`` 4: Composer's ``DEFAULT`` mixed
        precision) has an fp32 residual stream: the embedding lookup is not autocast, so its
        output is fp32, and every residual add of a bf16 branch output promotes back to fp32
        (PyTorch autocast docs, "ops that can autocast to float32 / type promotion"); its
        gradient is fp32 too. Else the stream is bf16 (2)."""
        return 4.0 if self.fsdp_param_bytes > 2.0 else 2.0

    def attn_eff(self, family: str, fallback: float) -> float:
        """Fused-attention efficiency of this stack's kernel on ``family`` (fwd + bwd)."""
        table = self.attention_eff or {}
        return float(table.get(family, table.get("default", fallback)))

    @property
    def reserved_bytes(self) -> float:
        return self.reserved_gb * 1e9

    def usable_bytes(self, capacity_bytes: float) -> float:
        """What a training process can fill on a device of ``capacity_bytes`` (the allocator's
        share after fragmentation, minus context and communication workspaces)."""
        return capacity_bytes * (1.0 - self.allocator_slack) - self.reserved_bytes


@dataclass(frozen=True)
class StackTable:
    stacks: dict[str, Stack]
    default: str

    def get(self, name: str | None) -> Stack:
        """The stack called ``name`` (``None``: the default)."""
        key = (name or self.default).strip().lower()
        if key not in self.stacks:
            raise InputError(f"unknown stack '{name}'; choose one of: "
                             f"{', '.join(sorted(self.stacks))}")
        return self.stacks[key]


def _stack(sid: str, raw: object) -> Stack:
    optional = {"attention_eff", "fsdp_param_bytes", "grad_accum_bytes"}
    names = [f.name for f in fields(Stack) if f.name != "id" and f.name not in optional]
    if not isinstance(raw, dict) or set(raw) - optional != set(names):
        raise CatalogError(f"expected keys {sorted(names)}", file=str(STACKS_FILE),
                           field=f"stacks.{sid}")
    st = Stack(id=sid, **raw)
    for name in ("tp_overlap", "dp_overlap", "allocator_slack"):
        if not 0.0 <= float(getattr(st, name)) <= 1.0:
            raise CatalogError(f"{name} must be within [0, 1]", file=str(STACKS_FILE),
                               field=f"stacks.{sid}.{name}")
    if not 0.0 <= float(st.grad_accum_bytes) <= 64.0:
        raise CatalogError("grad_accum_bytes must be within [0, 64] bytes per parameter",
                           file=str(STACKS_FILE), field=f"stacks.{sid}.grad_accum_bytes")
    if float(st.fsdp_param_bytes) not in (2.0, 4.0):
        raise CatalogError("fsdp_param_bytes must be 2 (bf16/fp16 gather) or 4 (fp32 gather)",
                           file=str(STACKS_FILE), field=f"stacks.{sid}.fsdp_param_bytes")
    return st


@cache
def load_stacks(path: Path = STACKS_FILE) -> StackTable:
    import yaml

    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    stacks = {k: _stack(k, v) for k, v in (doc.get("stacks") or {}).items()}
    default = doc.get("default")
    if default not in stacks:
        raise CatalogError(f"default stack '{default}' is not listed", file=str(path))
    return StackTable(stacks=stacks, default=str(default))


def get_stack(name: str | None = None) -> Stack:
    return load_stacks().get(name)
