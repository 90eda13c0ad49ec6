"""Catalog record types: accelerators, systems and models, validated on load.

These are the three inputs of the performance model, kept apart as in Calculon:
the *model* (architecture), the *system* (hardware), and the plan (in ``suanli.perf.plan``).
All are frozen; functions return new objects.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DTYPES = ("fp32", "tf32", "bf16", "fp16", "fp8", "int8")
Dtype = Literal["fp32", "tf32", "bf16", "fp16", "fp8", "int8"]
BYTES_PER_ELEMENT: dict[str, float] = {
    "fp32": 4.0, "tf32": 4.0, "bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "int8": 1.0, "int4": 0.5,
}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Accelerator(_Frozen):
    """One accelerator (GPU, TPU chip, NPU). Peaks are *dense* (no 2:4 sparsity) in TFLOP/s."""

    id: str = Field(min_length=1)
    name: str
    vendor: str
    family: str = Field(description="architecture family; efficiency curves are fitted per family")
    memory_gb: float = Field(gt=0, description="device memory, GB (1e9 bytes)")
    memory_mib: float | None = Field(default=None, gt=0, description="capacity as the driver "
                                     "reports it, MiB (NVIDIA's '80GB' parts have 80 GiB)")
    memory_bw_gbs: float = Field(gt=0, description="device memory bandwidth, GB/s")
    fp32_tflops: float | None = Field(default=None, gt=0)
    tf32_tflops: float | None = Field(default=None, gt=0)
    bf16_tflops: float | None = Field(default=None, gt=0)
    fp16_tflops: float | None = Field(default=None, gt=0)
    fp8_tflops: float | None = Field(default=None, gt=0)
    int8_tops: float | None = Field(default=None, gt=0)
    sparsity_2_4: bool = Field(default=False, description="hardware 2:4 structured sparsity")
    scale_up_gbs: float = Field(gt=0, description="scale-up link bandwidth per device, GB/s, "
                                                  "one direction")
    scale_up_domain: int = Field(ge=1, description="devices in one scale-up (NVLink) domain")
    tdp_w: float | None = Field(default=None, gt=0)
    price_usd_per_hour: float | None = Field(default=None, gt=0,
                                             description="example on-demand price per device-hour")
    price_source: str = ""
    aliases: str = Field(default="", description="other names, separated by '|'")
    source: str = Field(min_length=1)

    def peak_flops(self, dtype: str) -> float:
        """Dense peak in FLOP/s for ``dtype``; raises if the part has no such peak."""
        from suanli.errors import InputError

        col = "int8_tops" if dtype == "int8" else f"{dtype}_tflops"
        value = getattr(self, col, None)
        if value is None:
            have = [d for d in DTYPES if getattr(self, "int8_tops" if d == "int8"
                                                 else f"{d}_tflops") is not None]
            raise InputError(f"{self.id} has no dense {dtype} peak in the catalog; "
                             f"use one of: {', '.join(have)}")
        return float(value) * 1e12

    @property
    def memory_bytes(self) -> float:
        """Capacity in bytes: the driver-reported MiB when known, else the vendor's GB."""
        return self.memory_mib * 2.0**20 if self.memory_mib else self.memory_gb * 1e9

    @property
    def memory_bw(self) -> float:
        """Bytes per second."""
        return self.memory_bw_gbs * 1e9


class System(_Frozen):
    """A node type and how nodes connect: the hardware a plan runs on.

    Bandwidths are per device and one direction (what a ring collective's bandwidth term uses).
    """

    id: str = Field(min_length=1)
    name: str
    accelerator: str
    devices_per_node: int = Field(ge=1)
    scale_up_domain: int = Field(ge=1, description="devices sharing the fast fabric (NVLink/ICI)")
    scale_up_gbs: float = Field(gt=0, description="per device, GB/s, one direction")
    scale_up_latency_us: float = Field(ge=0)
    scale_out_gbs: float = Field(gt=0, description="NIC bandwidth per device, GB/s, one direction")
    scale_out_latency_us: float = Field(ge=0)
    host_power_w_per_device: float = Field(default=0.0, ge=0,
                                           description="CPU, NIC, fans... per device, watts")
    price_usd_per_device_hour: float | None = Field(default=None, gt=0)
    aliases: str = ""
    source: str = Field(min_length=1)
    # Host side, for CPU/NVMe offload (ZeRO-Offload/Infinity), usually joined from hosts.csv;
    # blank = offload not modelled.
    pcie_gbs: float | None = Field(default=None, gt=0, description="host<->device PCIe per "
                                   "device, GB/s, one direction (Gen4 x16 ~32, Gen5 x16 ~64)")
    host_memory_gb: float | None = Field(default=None, gt=0, description="CPU RAM per node, GB")
    host_memory_bw_gbs: float | None = Field(default=None, gt=0,
                                             description="CPU RAM bandwidth per node, GB/s")
    nvme_gbs: float | None = Field(default=None, gt=0, description="local NVMe bandwidth per "
                                   "node, GB/s (all drives together; for ZeRO-Infinity)")


class MoE(_Frozen):
    """Mixture-of-experts layout of the FFN blocks."""

    num_experts: int = Field(ge=2)
    top_k: int = Field(ge=1)
    expert_ffn_hidden: int = Field(ge=1)
    shared_experts: int = Field(default=0, ge=0)
    first_dense_layers: int = Field(default=0, ge=0, description="leading layers with a dense FFN")
    layer_freq: int = Field(default=1, ge=1, description="every n-th layer is MoE")

    @model_validator(mode="after")
    def _k_le_e(self) -> MoE:
        if self.top_k > self.num_experts:
            raise ValueError(f"top_k ({self.top_k}) > num_experts ({self.num_experts})")
        return self


class MLA(_Frozen):
    """Multi-head latent attention (DeepSeek-V2/V3): low-rank Q and compressed KV."""

    q_lora_rank: int = Field(default=0, ge=0, description="0 = no Q compression")
    kv_lora_rank: int = Field(ge=1)
    qk_nope_head_dim: int = Field(ge=1)
    qk_rope_head_dim: int = Field(ge=0)
    v_head_dim: int = Field(ge=1)


class ModelSpec(_Frozen):
    """A decoder-only transformer. ``params_b`` is the published size; the exact count is
    computed from the architecture (``suanli.perf.ops.param_count``)."""

    id: str = Field(min_length=1)
    name: str
    family: str
    params_b: float = Field(gt=0, description="published parameter count, billions")
    layers: int = Field(ge=1)
    hidden: int = Field(ge=1)
    heads: int = Field(ge=1)
    kv_heads: int | None = Field(default=None, ge=1, description="None = heads (MHA)")
    head_dim: int | None = Field(default=None, ge=1, description="None = hidden / heads")
    ffn_hidden: int = Field(ge=1, description="dense FFN inner size")
    vocab: int = Field(ge=1)
    max_seq_len: int = Field(default=2048, ge=1)
    mlp: Literal["gelu", "swiglu", "geglu", "relu2", "relu"] = "gelu"
    norm: Literal["layernorm", "rmsnorm"] = "layernorm"
    position: Literal["learned", "rope", "alibi"] = "learned"
    tied_embeddings: bool = False
    moe: MoE | None = None
    mla: MLA | None = None
    aliases: str = ""
    source: str = Field(min_length=1)

    @field_validator("id")
    @classmethod
    def _lower(cls, v: str) -> str:
        return v.strip()

    @model_validator(mode="after")
    def _shapes(self) -> ModelSpec:
        kv = self.kv_heads or self.heads
        if self.heads % kv:
            raise ValueError(f"heads ({self.heads}) must be a multiple of kv_heads ({kv})")
        if self.head_dim is None and self.mla is None and self.hidden % self.heads:
            raise ValueError(f"hidden ({self.hidden}) is not divisible by heads ({self.heads}); "
                             "give head_dim explicitly")
        return self

    @property
    def n_kv_heads(self) -> int:
        return self.kv_heads or self.heads

    @property
    def d_head(self) -> int:
        return self.head_dim or self.hidden // self.heads

    @property
    def gated(self) -> bool:
        """SwiGLU-style FFN with three weight matrices instead of two."""
        return self.mlp in ("swiglu", "geglu")

    @property
    def attention_kind(self) -> str:
        if self.mla is not None:
            return "MLA"
        if self.n_kv_heads == 1:
            return "MQA"
        return "GQA" if self.n_kv_heads < self.heads else "MHA"


class ExchangeRate(_Frozen):
    """US dollars per one unit of ``currency`` on ``date`` (``catalog/data/fx.csv``)."""

    currency: str = Field(min_length=3, max_length=3, description="ISO 4217 code, e.g. CNY")
    usd_per_unit: float = Field(gt=0)
    date: str = ""
    symbol: str = ""
    aliases: str = ""
    source: str = Field(min_length=1)

    @field_validator("currency")
    @classmethod
    def _upper(cls, v: str) -> str:
        return v.upper()


class PriceRow(_Frozen):
    """One public rental price per device-hour (``catalog/data/prices.csv``)."""

    accelerator: str = Field(min_length=1)
    provider: str = Field(min_length=1)
    region: str = ""
    price: float = Field(gt=0, description="per device-hour, in ``currency``")
    currency: str = Field(min_length=3, max_length=3)
    kind: Literal["on-demand", "spot", "reserved", "marketplace"] = "on-demand"
    date: str = Field(min_length=4, description="when the price was listed (YYYY[-MM[-DD]])")
    quality: Literal["published", "snapshot", "recalled"]
    source: str = Field(min_length=1)


class HostSide(_Frozen):
    """The host side of a system (``catalog/data/hosts.csv``), joined to it by id."""

    system: str = Field(min_length=1)
    pcie_gbs: float | None = Field(default=None, gt=0)
    host_memory_gb: float | None = Field(default=None, gt=0)
    host_memory_bw_gbs: float | None = Field(default=None, gt=0)
    nvme_gbs: float | None = Field(default=None, gt=0)
    source: str = Field(min_length=1)
