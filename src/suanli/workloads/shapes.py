"""Workload shapes: a GPT given like the catalog's models, plus how it is run.

The presets are small enough that a training step runs in well under a second on two CPU
cores; ``medium`` is a ~30M-parameter model for the benchmark table.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from suanli.errors import InputError

__all__ = ["PRESETS", "ServeShape", "TrainShape", "WorkloadModel", "preset"]


class WorkloadModel(BaseModel):
    """A decoder-only GPT: GELU MLP, pre-LayerNorm, learned positions, tied embeddings."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    layers: int = Field(ge=1, le=256)
    hidden: int = Field(ge=8, le=65536)
    heads: int = Field(ge=1, le=1024)
    ffn_hidden: int = Field(ge=8, le=262144)
    vocab: int = Field(ge=16, le=1_000_000)
    max_seq_len: int = Field(ge=8, le=131072)

    @model_validator(mode="after")
    def _heads_divide(self) -> WorkloadModel:
        if self.hidden % self.heads:
            raise ValueError(f"hidden ({self.hidden}) must be divisible by heads ({self.heads})")
        return self

    def to_spec(self, name: str = "workload"):  # -> suanli.catalog.schema.ModelSpec
        """The same architecture as a catalog :class:`ModelSpec`, for the performance model."""
        from suanli.catalog.schema import ModelSpec
        from suanli.perf.ops import param_count

        spec = ModelSpec(id=name, name=name, family="workload", params_b=1e-9, layers=self.layers,
                         hidden=self.hidden, heads=self.heads, ffn_hidden=self.ffn_hidden,
                         vocab=self.vocab, max_seq_len=self.max_seq_len, mlp="gelu",
                         norm="layernorm", position="learned", tied_embeddings=True,
                         source="suanli workload shape")
        return spec.model_copy(update={"params_b": param_count(spec) / 1e9})


class _Run(BaseModel):
    """What every run of a workload fixes: the model, the batch, precision, threads, seed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: WorkloadModel
    batch: int = Field(ge=1, le=4096)
    dtype: Literal["fp32", "bf16"] = "fp32"
    threads: int | None = Field(default=None, ge=1, le=1024)
    seed: int = 0


class TrainShape(_Run):
    """Train ``steps`` steps of AdamW on random tokens: ``batch`` sequences of ``seq_len``."""

    seq_len: int = Field(ge=2, le=131072)
    steps: int = Field(default=8, ge=2, le=100_000)
    warmup: int = Field(default=2, ge=0, le=1000)

    @model_validator(mode="after")
    def _fits(self) -> TrainShape:
        if self.seq_len > self.model.max_seq_len:
            raise ValueError(f"seq_len {self.seq_len} > the model's max_seq_len "
                             f"{self.model.max_seq_len}")
        if self.warmup >= self.steps:
            raise ValueError(f"warmup ({self.warmup}) must be below steps ({self.steps})")
        return self


class ServeShape(_Run):
    """Serve ``batch`` requests at once: a ``prompt_len`` prefill, then ``gen_len`` decode steps."""

    prompt_len: int = Field(ge=1, le=131072)
    gen_len: int = Field(default=16, ge=2, le=100_000)

    @model_validator(mode="after")
    def _fits(self) -> ServeShape:
        if self.prompt_len + self.gen_len > self.model.max_seq_len:
            raise ValueError(f"prompt_len + gen_len = {self.prompt_len + self.gen_len} > the "
                             f"model's max_seq_len {self.model.max_seq_len}")
        return self


PRESETS: dict[str, WorkloadModel] = {
    "tiny": WorkloadModel(layers=2, hidden=128, heads=4, ffn_hidden=512, vocab=2048,
                          max_seq_len=512),
    "small": WorkloadModel(layers=4, hidden=256, heads=8, ffn_hidden=1024, vocab=8192,
                           max_seq_len=1024),
    "medium": WorkloadModel(layers=6, hidden=512, heads=8, ffn_hidden=2048, vocab=16384,
                            max_seq_len=1024),
}


def preset(name: str) -> WorkloadModel:
    """A preset by name, with the list in the error."""
    try:
        return PRESETS[name]
    except KeyError:
        raise InputError(f"unknown workload preset '{name}'; use one of: "
                         f"{', '.join(PRESETS)} (or give layers/hidden/heads/ffn/vocab)") from None
