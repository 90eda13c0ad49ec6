"""A site's *measured* capability (``suanli bench``) and the one rule by which it enters quotes.

The descriptor's ``measured`` section (:class:`Measured`) summarises a bench profile
(:class:`suanli.bench.profile.DeviceProfile`) per device of one inventory line: the best dense
GEMM rate per dtype, the streaming memory bandwidth at the largest working set, the
host-device copy rate and the all-reduce algorithm bandwidth, with the tool's versions and
the date. ``suanli net join --bench FILE`` writes it from a bench file; a ``measured:`` key in
the site file may hold it, or the bench file's own ``measured`` object (converted on load; add
``inventory_hardware: <line>`` to it when the site lists more than one line).

**The rule: a measured figure replaces a declared one only where it is the same quantity.**
The training model's rooflines (:mod:`suanli.perf.train_terms`) run matmuls at
``peak(dtype) x gemm_max x x / (x + gemm_half)`` and element-wise traffic at
``memory_bw x mem_eff``:

* ``peak(dtype) x gemm_max`` is the saturated dense-GEMM rate of large shapes; the bench's
  best GEMM rate of the *same dtype* is that quantity measured, so for that dtype
  ``gemm_max = measured / peak`` (the shard-size curve ``x / (x + gemm_half)`` stays fitted).
  A bench of another dtype (fp32 on a bf16 job) is a different quantity and is not used.
* ``memory_bw x mem_eff`` is a streaming kernel's achieved bandwidth; the bench's element-wise
  add is one, so ``mem_eff = measured / memory_bw``.
* Attention-core efficiency, collective efficiency over each link class and the overlaps stay
  declared: the bench's all-reduce runs between workers of one host (world 2), not over the
  link classes a multi-node plan uses, and the copy rate is not a term of the step time. Both
  are kept in the section and shown, not used.

Inference offers keep the declared figures (the serving model is not adapted here); every
offer says which it used (``capability``: ``measured`` or ``declared``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:
    from suanli.perf.efficiency import Efficiency

__all__ = ["Measured", "MeasuredKey", "capability", "efficiency", "from_profile",
           "measured_key"]

MAX_TFLOPS = 100_000.0  # per device; the largest parts are ~10^4 TFLOP/s (fp4, sparse)
MAX_GBS = 1_000_000.0  # GB/s per device
TRAIN_DTYPE = "bf16"  # the precision network quotes train in (suanli.plan.api.make_job)
MeasuredKey = tuple[float | None, float | None]  # (GEMM FLOP/s at TRAIN_DTYPE, memory B/s)


class Measured(BaseModel):
    """What ``suanli bench`` measured on one device of an inventory line."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False,
                              str_max_length=400)

    hardware: str = Field(default="", max_length=64, description="the inventory line it "
                          "measured (system id or accelerator as listed); may be omitted when "
                          "the site has one line")
    date: str = Field(min_length=1, description="when it was measured, ISO 8601")
    tool: str = ""
    versions: dict[str, str] = Field(default_factory=dict, max_length=32)
    device: str = Field(default="", description="what the bench ran on (name, threads)")
    kind: Literal["", "cpu", "gpu"] = Field(default="", description="the kind of device the "
                                            "bench ran on (a CPU bench never describes a GPU)")
    gemm_tflops: dict[str, float] = Field(default_factory=dict, max_length=8,
                                          description="best dense GEMM rate per dtype, "
                                                      "TFLOP/s per device")
    memory_bw_gbs: float | None = Field(default=None, gt=0, le=MAX_GBS,
                                        description="streaming bandwidth, GB/s per device")
    copy_gbs: float | None = Field(default=None, gt=0, le=MAX_GBS,
                                   description="host <-> device copy, GB/s")
    collective_gbs: float | None = Field(default=None, gt=0, le=MAX_GBS,
                                         description="all-reduce algorithm bandwidth, GB/s")
    collective: str = Field(default="", description="backend and workers of that all-reduce")

    @model_validator(mode="before")
    @classmethod
    def _from_bench(cls, raw: Any) -> Any:
        """A bench file's own ``measured`` object (GEMM rows, element-wise rows) is
        summarised here, so it can be pasted into a site file as it is."""
        if isinstance(raw, dict) and "gemm" in raw and "elementwise" in raw:
            from suanli.bench.profile import DeviceProfile

            line = raw.get("inventory_hardware", "")  # the bench's "hardware" is its device
            prof = DeviceProfile.model_validate({k: v for k, v in raw.items()
                                                 if k != "inventory_hardware"})
            return from_profile(prof, str(line)).model_dump(exclude_defaults=True)
        return raw

    @model_validator(mode="after")
    def _bounded(self) -> Measured:
        for dtype, v in self.gemm_tflops.items():
            if dtype not in ("fp32", "tf32", "bf16", "fp16", "fp8"):
                raise ValueError(f"gemm_tflops: unknown dtype '{dtype[:20]}' (fp32, tf32, "
                                 "bf16, fp16, fp8)")
            if not 0 < v <= MAX_TFLOPS:
                raise ValueError(f"gemm_tflops.{dtype}: {v:g} is not in (0, {MAX_TFLOPS:g}]")
        return self

    def key(self) -> MeasuredKey:
        """The figures that enter the training model (the module's rule), hashable."""
        g = self.gemm_tflops.get(TRAIN_DTYPE)
        return (None if g is None else g * 1e12,
                None if self.memory_bw_gbs is None else self.memory_bw_gbs * 1e9)


def from_profile(prof: Any, hardware: str = "") -> Measured:
    """The descriptor's section from a :class:`~suanli.bench.profile.DeviceProfile`."""
    gemm = {d: flops / 1e12 for d, flops in prof.best_gemm_flops.items()}
    coll, how = None, ""
    if prof.collective and prof.collective.get("allreduce"):
        coll = max(b / s for b, s in prof.collective["allreduce"]) / 1e9
        how = f"{prof.collective.get('backend')}, {prof.collective.get('world')} workers"
    hw = prof.hardware
    kind = str(hw.get("kind", ""))
    return Measured(hardware=hardware, date=prof.date, tool=prof.tool,
                    kind=kind if kind in ("cpu", "gpu") else "",  # type: ignore[arg-type]
                    versions=dict(prof.versions),
                    device=f"{hw.get('name', '')} ({hw.get('threads')} threads, "
                           f"{hw.get('backend', '')})", gemm_tflops=gemm,
                    memory_bw_gbs=prof.memory_bw / 1e9, copy_gbs=prof.copy_gbs,
                    collective_gbs=coll, collective=how)


def measured_key(site: Any, hardware: str) -> MeasuredKey | None:
    """The measured figures of ``site``'s inventory line ``hardware`` that the training model
    uses, or None when the line is not measured (or nothing measured is the same quantity)."""
    m = getattr(site, "measured", None)
    if m is None or m.hardware.lower() != hardware.lower():
        return None
    key = m.key()
    return None if key == (None, None) else key


def capability(key: MeasuredKey | None) -> Literal["measured", "declared"]:
    """The label an offer or placement carries: ``measured`` when measured figures ``key``
    priced it (:func:`measured_key`), ``declared`` (catalog peaks x fitted efficiency) when
    None. The one rule, used by quotes and ``net place``."""
    return "declared" if key is None else "measured"


def efficiency(system: str, key: MeasuredKey) -> Efficiency:
    """The fitted efficiency of ``system``'s family with the measured figures in place of
    ``peak x gemm_max`` and ``memory_bw x mem_eff`` (the module's rule)."""
    from suanli.catalog import load_catalog
    from suanli.perf.efficiency import load_efficiency

    cat = load_catalog()
    acc = cat.accelerator(cat.system(system).accelerator)
    eff = load_efficiency().for_family(acc.family)
    gemm, mem = key
    fam = eff.family if gemm is None else replace(
        eff.family, gemm_max=gemm / acc.peak_flops(TRAIN_DTYPE))
    return replace(eff, family=fam,
                   mem_eff=eff.mem_eff if mem is None else mem / acc.memory_bw)
