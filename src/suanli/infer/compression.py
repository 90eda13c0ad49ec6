"""Compression as inputs to the serving model: precision of weights, activations and KV cache,
and weight sparsity. Each option changes only *bytes stored*, *bytes moved* and the *peak*
used; quality loss is an input the user gives (``quality_loss``), never invented here.

Bytes per weight (quantized formats carry scales; Frantar et al. 2023 GPTQ / Lin et al. 2024 AWQ
use one fp16 scale (+ zero point) per group of 128 weights):

* ``w4a16``: 4 bits + 32 bits per 128-group = 0.5 + 4/128 = 0.53125 B.
* ``w4a16-g32``: 4 bits + a bf16 scale and a bf16 zero per group of 32 = 0.5 + 4/32 = 0.625 B
  (PyTorch gpt-fast ``quantize.py`` ``WeightOnlyInt4QuantHandler``: ``scales_and_zeros`` is a
  bf16 ``[K / groupsize, N, 2]`` tensor read by ``aten._weight_int4pack_mm``; its README's
  "4-bit (G=32)" rows).
* ``w8a8`` (SmoothQuant, Xiao et al. 2023, int8 GEMMs), ``fp8`` (Micikevicius et al. 2022):
  1 B, per-channel/per-tensor scales (negligible).

Sparsity (Mishra et al. 2021, "Accelerating Sparse Deep Neural Networks", NVIDIA 2:4):

* ``2:4``: half the values kept plus 2 bits of index per kept value:
  ``0.5 * b + 0.5 * 2/8`` bytes per dense weight; the tensor-core peak doubles on hardware
  with ``sparsity_2_4`` (else an error says so).
* ``unstructured50`` (SparseGPT, Frantar & Alistarh 2023): half the values kept plus a
  1-bit mask: ``0.5 * b + 1/8`` bytes. Memory is saved; **time is not** unless
  ``sparse_kernel=True`` says a kernel streams the compressed weights (then weight traffic
  shrinks by the same ratio; FLOPs stay dense, as in Flash-LLM, Xia et al. 2023).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from suanli.catalog.schema import Accelerator
from suanli.errors import InputError

# bytes per stored element (weights), including per-group scale overhead
WEIGHT_BYTES: dict[str, float] = {"fp32": 4.0, "bf16": 2.0, "fp16": 2.0, "fp8": 1.0,
                                  "int8": 1.0, "int4": 0.5 + 4.0 / 128.0,
                                  "int4-g32": 0.5 + 4.0 / 32.0}
ACT_BYTES: dict[str, float] = {"fp32": 4.0, "bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "int8": 1.0}
KV_BYTES: dict[str, float] = {"bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "int8": 1.0,
                              "int4": 0.5 + 4.0 / 64.0}

# name -> (weight dtype, compute dtype = activation dtype of the GEMMs, KV-cache dtype)
PRESETS: dict[str, tuple[str, str, str]] = {
    "fp32": ("fp32", "fp32", "fp16"),
    "fp16": ("fp16", "fp16", "fp16"),
    "bf16": ("bf16", "bf16", "bf16"),
    "fp8": ("fp8", "fp8", "fp8"),  # TensorRT-LLM FP8 recipe: FP8 GEMMs and FP8 KV cache
    "fp8-kv16": ("fp8", "fp8", "bf16"),
    "w8a8": ("int8", "int8", "bf16"),  # SmoothQuant
    "w8a16": ("int8", "bf16", "bf16"),  # weight-only int8
    "w4a16": ("int4", "bf16", "bf16"),  # GPTQ / AWQ weight-only int4
    "w4a16-g32": ("int4-g32", "bf16", "bf16"),  # gpt-fast int4, group 32 (module doc)
}
SPARSITY = ("none", "2:4", "unstructured50")


@dataclass(frozen=True)
class Compression:
    """Precision and sparsity of one deployment; ``quality_loss`` is the user's own number."""

    weights: str = "bf16"
    compute: str = "bf16"  # dtype of the GEMM inputs: selects the peak
    kv: str = "bf16"
    sparsity: str = "none"
    sparse_kernel: bool = False  # unstructured: a kernel streams compressed weights
    quality_loss: float | None = None  # e.g. perplexity or accuracy delta, given by the user
    name: str = "bf16"

    @property
    def weight_bytes(self) -> float:
        """Stored bytes per dense weight element, after sparsity."""
        b = WEIGHT_BYTES[self.weights]
        if self.sparsity == "2:4":
            return 0.5 * b + 0.5 * 2.0 / 8.0
        if self.sparsity == "unstructured50":
            return 0.5 * b + 1.0 / 8.0
        return b

    @property
    def weight_bytes_moved(self) -> float:
        """Bytes read per dense weight element in a GEMM (dense unless a kernel exists)."""
        if self.sparsity == "unstructured50" and not self.sparse_kernel:
            return WEIGHT_BYTES[self.weights]  # decompressed to dense before the GEMM
        return self.weight_bytes

    @property
    def weight_only(self) -> bool:
        """Integer weights dequantised to the 16-bit compute dtype inside the GEMM
        (``w8a16``, ``w4a16``): the GEMV converts every weight element it reads
        (``infer.kernels.gemv_instr_s``)."""
        return self.weights.startswith("int") and self.compute in ("bf16", "fp16")

    @property
    def act_bytes(self) -> float:
        return ACT_BYTES.get(self.compute, 2.0)

    @property
    def kv_bytes(self) -> float:
        return KV_BYTES[self.kv]

    def peak_flops(self, acc: Accelerator) -> float:
        """FLOP/s for the GEMMs: dense peak of the compute dtype, x2 with 2:4 sparsity."""
        peak = acc.peak_flops(self.compute)
        return 2.0 * peak if self.sparsity == "2:4" else peak

    def check(self, acc: Accelerator) -> None:
        """Raise InputError when the accelerator cannot run this compression."""
        try:
            acc.peak_flops(self.compute)
        except InputError:
            alt = "w8a8 (int8) or w4a16" if acc.int8_tops else "bf16 or w4a16"
            raise InputError(f"{acc.id} has no {self.compute} tensor-core peak, so precision "
                             f"'{self.name}' cannot run on it; try --precision {alt}") from None
        if self.sparsity == "2:4" and not acc.sparsity_2_4:
            raise InputError(f"{acc.id} has no 2:4 sparse tensor cores; use --sparsity "
                             "unstructured50 (memory only) or hardware with 2:4 support")


def parse_compression(precision: str = "bf16", *, kv: str | None = None,
                      sparsity: str = "none", sparse_kernel: bool = False,
                      quality_loss: float | None = None) -> Compression:
    """``precision`` is a preset (``bf16``, ``fp8``, ``w8a8``, ``w4a16`` ...); ``kv``
    overrides the KV-cache dtype (``int8``, ``fp8``, ``bf16``)."""
    key = precision.strip().lower()
    if key not in PRESETS:
        raise InputError(f"unknown precision '{precision}'; use one of: {', '.join(PRESETS)}")
    w, c, k = PRESETS[key]
    if kv is not None:
        kv_key = kv.strip().lower()
        if kv_key not in KV_BYTES:
            raise InputError(f"unknown KV-cache dtype '{kv}'; use one of: {', '.join(KV_BYTES)}")
        k = kv_key
    sp = sparsity.strip().lower()
    if sp in ("", "dense"):
        sp = "none"
    if sp not in SPARSITY:
        raise InputError(f"unknown sparsity '{sparsity}'; use one of: {', '.join(SPARSITY)}")
    name = key + (f"+kv-{k}" if kv is not None else "") + ("" if sp == "none" else f"+{sp}")
    return Compression(w, c, k, sp, sparse_kernel, quality_loss, name)


def with_kv(comp: Compression, kv: str) -> Compression:
    return replace(comp, kv=kv, name=f"{comp.name}+kv-{kv}")
