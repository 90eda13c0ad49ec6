"""Request and response bodies (pydantic): the Create / Public families of the HTTP API.

Create models forbid unknown fields and bound every number and string, so bad input is a 422
with the field named before anything reaches the database or the scheduler.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from suanli.service.hardening import check_text

_ENTRY = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
YEAR = 365 * 86400.0  # seconds


class _Strict(BaseModel):
    """Unknown fields, NaN and Infinity refused; text fields without control characters."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @field_validator("*", mode="after")
    @classmethod
    def _no_control(cls, v: Any, info: Any) -> Any:
        if isinstance(v, str):
            return check_text(v, multiline=info.field_name == "command")
        if isinstance(v, list):
            for x in v:
                if isinstance(x, str):
                    check_text(x)
        return v


class WorkloadCreate(_Strict):
    """A ``train``/``serve`` job's GPT: a preset or the model's shape (``preset`` fields are
    overridden by any given), and how it runs. Bounds and cross-field checks are the
    workload shapes' own (:func:`suanli.service.workload_jobs.shape_of`)."""

    preset: str | None = Field(default=None, min_length=1, max_length=40)
    layers: int | None = None
    hidden: int | None = None
    heads: int | None = None
    ffn_hidden: int | None = None
    vocab: int | None = None
    max_seq_len: int | None = None
    batch: int = 8
    seq_len: int | None = None  # train: tokens per sequence (default 128)
    steps: int | None = None  # train: steps run (default 8; the first 2 are warm-up)
    warmup: int | None = None  # train
    prompt_len: int | None = None  # serve: prompt tokens per request (default 128)
    gen_len: int | None = None  # serve: output tokens per request (default 16)
    dtype: Literal["fp32", "bf16"] = "fp32"
    threads: int | None = Field(default=None, ge=1, le=1024)  # default: cpus, else profile's
    seed: int | None = Field(default=None, ge=0, le=2**31)


class InputData(_Strict):
    """A job's input dataset: where it lives (a federated site's name, a network site id, or a
    city / provider region of ``suanli net``'s locations) and its size in GB (1e9 bytes, the unit
egress is priced in; the request guard bounds numbers to 1e12). The broker's
    placement charges moving it to the chosen site (docs/federation.md, "Data locality")."""

    location: str = Field(min_length=1, max_length=100, pattern=r"^[\w.:\-]+$")
    gb: float = Field(ge=0, le=1e12)


class JobCreate(_Strict):
    name: str = Field(min_length=1, max_length=200, pattern=r"^[\w.\- ]+$")
    kind: Literal["command", "python", "train", "serve"]
    command: str | None = Field(default=None, min_length=1, max_length=8000)
    entrypoint: str | None = Field(default=None, max_length=300)
    args: dict[str, Any] = Field(default_factory=dict)
    cpus: float = Field(default=1.0, gt=0, le=1024)  # logical CPUs
    gpus: float = Field(default=0.0, ge=0, le=1024)  # devices
    memory_mb: int = Field(default=0, ge=0, le=16 << 20)  # MiB
    site: str | None = Field(default=None, min_length=1, max_length=100)
    model: str | None = Field(default=None, min_length=1, max_length=100)
    tokens: float | None = Field(default=None, gt=0, le=1e18)  # training tokens
    hardware: str | None = Field(default=None, min_length=1, max_length=100)
    predicted_duration_s: float | None = Field(default=None, gt=0, le=100 * YEAR)  # seconds
    predicted_cost_usd: float | None = Field(default=None, ge=0, le=1e12)  # USD
    # a quote's offer: the job runs on its site, hardware and devices, or is refused (409)
    quote_id: str | None = Field(default=None, max_length=40, pattern=r"^[\w-]+$")
    offer: int = Field(default=0, ge=0, le=99)  # which offer of the quote (0 = the best)
    max_retries: int = Field(default=0, ge=0, le=10)  # requeues after a lost run or preemption
    network: Literal["none", "egress"] = "none"  # the job's network: none, or outbound only
    wall_time_s: float | None = Field(default=None, gt=0, le=YEAR)  # hard limit, seconds
    workload: WorkloadCreate | None = None  # kinds train and serve
    input: InputData | None = None  # the input dataset: where it lives, its size in GB

    @model_validator(mode="after")
    def _consistent(self) -> JobCreate:
        from suanli.service.hardening import check_json

        check_json(self.args)  # finite numbers, no NUL (the body guard checks this too)
        if self.kind == "command" and not self.command:
            raise ValueError("kind 'command' needs a non-empty 'command' (a shell command)")
        if self.kind == "python":
            if not self.entrypoint or not _ENTRY.match(self.entrypoint):
                raise ValueError("kind 'python' needs 'entrypoint' as 'package.module:function'")
            if self.command:
                raise ValueError("kind 'python' takes 'entrypoint' and 'args', not 'command'")
        if (self.model is None) != (self.tokens is None) or (
                self.hardware is not None and self.model is None):
            raise ValueError("a predicted training job needs 'model', 'tokens' and "
                             "'hardware' together (and gpus >= 1)")
        if self.gpus > 1 and self.gpus != int(self.gpus):
            raise ValueError(f"more than one GPU must be a whole number, got {self.gpus}")
        self._workload_consistent()
        return self

    def _workload_consistent(self) -> None:
        from suanli.service.workload_jobs import WORKLOAD_KINDS, shape_of

        if self.kind not in WORKLOAD_KINDS:
            if self.workload is not None:
                raise ValueError("'workload' is for kinds 'train' and 'serve'")
            return
        if self.workload is None:
            raise ValueError(f"kind '{self.kind}' needs a 'workload' object, e.g. "
                             '{"preset": "tiny", "batch": 4}')
        if self.command or self.entrypoint or self.args:
            raise ValueError(f"kind '{self.kind}' takes 'workload', not 'command', "
                             "'entrypoint' or 'args'")
        if self.gpus or self.model is not None:
            raise ValueError(f"kind '{self.kind}' runs on CPUs here: drop 'gpus' and 'model'")
        if self.workload.threads is not None and "cpus" in self.model_fields_set and \
                self.workload.threads > self.cpus:
            raise ValueError(f"workload.threads ({self.workload.threads}) is more than cpus "
                             f"({self.cpus:g}): ask for as many CPUs as threads")
        shape_of(self.kind, self.workload.model_dump(), self.workload.threads or 1)


class JobPublic(BaseModel):
    id: str
    name: str
    state: str
    kind: str
    command: str | None
    entrypoint: str | None
    site: str | None
    model: str | None
    tokens: float | None
    hardware: str | None
    cpus: float
    gpus: float
    memory_mb: int
    created_at: float
    quoted_at: float | None
    placed_at: float | None
    queued_at: float | None
    started_at: float | None
    finished_at: float | None
    exit_code: int | None
    error: str | None
    predicted_duration_s: float | None
    actual_duration_s: float | None
    predicted_cost_usd: float | None
    actual_cost_usd: float | None

    max_retries: int = 0  # requeues allowed after a lost run
    attempts: int = 0  # runs handed to the executor so far
    network: str = "none"
    wall_time_s: float | None = None
    # train/serve jobs (suanli.service.workload_jobs.views): the shape run, the measured
    # figures and the prediction with its error; {"absent": why} when there is none
    workload: dict[str, Any] | None = None
    measured: dict[str, Any] | None = None
    predicted: dict[str, Any] | None = None
    # a job from a quote's offer (suanli.service.offers.offer_view): the offer it came from,
    # its quoted figures (for the quoted workload, not this job) and a note saying so
    offer: dict[str, Any] | None = None
    input: dict[str, Any] | None = None  # the input dataset as submitted (location, gb)

    model_config = ConfigDict(from_attributes=True)

    @model_validator(mode="before")
    @classmethod
    def _views(cls, obj: Any) -> Any:
        """From a :class:`~suanli.service.models.Job` row: its columns plus the views."""
        if isinstance(obj, dict):
            return obj
        from suanli.service.offers import offer_view
        from suanli.service.workload_jobs import views

        doc = {name: getattr(obj, name) for name in cls.model_fields if hasattr(obj, name)}
        raw = getattr(obj, "input_json", None)
        return {**doc, **views(obj), "offer": offer_view(obj),
                "input": None if raw is None else json.loads(raw)}


class JobList(BaseModel):
    jobs: list[JobPublic]
    count: int


class QuoteCreate(_Strict):
    """A training quote (model + tokens) or an inference quote (model + traffic)."""

    model: str = Field(min_length=1, max_length=100)
    tokens: float | str | None = None  # "300B" or a number
    traffic: float | str | None = None  # output tokens/s
    deadline: float | str | None = None  # "30d" or seconds
    budget: float | str | None = None  # "$1M" or USD
    spot: bool = False
    rank: Literal["cost", "time", "carbon"] = "cost"
    top: int = Field(default=10, ge=1, le=100)
    hardware: list[str] = Field(default_factory=list, max_length=50)
    sites: list[str] = Field(default_factory=list, max_length=200)

    @field_validator("tokens", "traffic", "deadline", "budget")
    @classmethod
    def _quantity(cls, v: float | str | None) -> float | str | None:
        """A positive finite number, or a short quantity string ("300B", "30d", "$1M")."""
        if isinstance(v, str):
            if not 1 <= len(v) <= 40:
                raise ValueError("a quantity string must have 1-40 characters, e.g. '300B'")
            check_text(v)
        elif v is not None and not 0 < v <= 1e18:
            raise ValueError(f"must be a positive number up to 1e18, got {v:g}")
        return v

    @model_validator(mode="after")
    def _one_kind(self) -> QuoteCreate:
        if (self.tokens is None) == (self.traffic is None):
            raise ValueError("give exactly one of 'tokens' (training) or 'traffic' "
                             "(inference, output tokens/s)")
        return self


class QuotePublic(BaseModel):
    id: str
    created_at: float
    request: dict[str, Any]
    offers: list[dict[str, Any]]
    warnings: list[str] = []  # joined sites skipped because their stored row is invalid


class UsagePublic(BaseModel):
    job_id: str
    site: str | None
    cpu_seconds: float
    gpu_seconds: float
    duration_s: float
    cost_usd: float
    created_at: float

    model_config = ConfigDict(from_attributes=True)


class UsageSummary(BaseModel):
    records: list[UsagePublic]
    total_cost_usd: float
    total_gpu_seconds: float
    total_cpu_seconds: float
    jobs: int
