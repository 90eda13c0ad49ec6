"""Job requests the network quotes and places, and the filters a buyer can set.

Quantities are typed the way people write them (``tokens: 300B``, ``deadline: 30d``,
``budget: $2M``, ``data_size: 20TB``); ``jobs.yaml`` is a list of these (see examples/jobs.yaml)::

    - id: pretrain-70b
      kind: train            # or: infer
      model: llama3-70b
      tokens: 300B
      deadline: 30d
      budget: 3000000
      data_size: 50TB
      data_location: shanghai
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from suanli.errors import InputError
from suanli.units import parse_bytes, parse_count, parse_duration


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def parse_money(v: Any) -> Any:
    """"$2M", "2,000,000" or 2e6 -> 2e6 (USD)."""
    if isinstance(v, str):
        s = v.strip().replace(",", "").replace("$", "")
        return parse_count(s, what="an amount of dollars")
    return v


class TrainJob(_Frozen):
    """Train ``model`` on ``tokens`` tokens; data of ``data_bytes`` sits at ``data_location``."""

    id: str = Field(min_length=1)
    kind: Literal["train"] = "train"
    model: str = Field(min_length=1)
    tokens: float = Field(gt=0)
    deadline_s: float | None = Field(default=None, gt=0, alias="deadline")
    budget_usd: float | None = Field(default=None, gt=0, alias="budget")
    data_bytes: float = Field(default=0.0, ge=0, alias="data_size")
    data_location: str | None = None
    seq_len: int | None = Field(default=None, ge=1)
    spot_ok: bool = Field(default=False, alias="spot")
    counts: tuple[int, ...] | None = Field(default=None, description="device counts to try")
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    _tok = field_validator("tokens", mode="before")(lambda v: parse_count(v, what="tokens"))
    _dl = field_validator("deadline_s", mode="before")(
        lambda v: None if v is None else parse_duration(v))
    _bud = field_validator("budget_usd", mode="before")(parse_money)
    _data = field_validator("data_bytes", mode="before")(parse_bytes)


class InferJob(_Frozen):
    """Serve ``model`` at ``traffic`` output tokens/s to users in ``user_regions`` under an SLO.

    The TTFT SLO is end to end: the network round trip to the farthest user region is taken
    out of it before the serving model sizes the replicas.
    """

    id: str = Field(min_length=1)
    kind: Literal["infer"] = "infer"
    model: str = Field(min_length=1)
    traffic_tokens_per_s: float = Field(gt=0, alias="traffic")
    prompt_len: int = Field(default=1024, ge=1)
    output_len: int = Field(default=256, ge=1)
    ttft_slo_s: float | None = Field(default=None, gt=0, alias="ttft_slo")
    tpot_slo_s: float | None = Field(default=None, gt=0, alias="tpot_slo")
    user_regions: tuple[str, ...] = Field(default=(), description="cities or sites")
    hours: float = Field(default=720.0, gt=0, description="service period priced, hours")
    budget_usd: float | None = Field(default=None, gt=0, alias="budget")
    precision: str = "bf16"
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    _tr = field_validator("traffic_tokens_per_s", mode="before")(
        lambda v: parse_count(v, what="traffic (output tokens/s)"))
    _tt = field_validator("ttft_slo_s", "tpot_slo_s", mode="before")(
        lambda v: None if v is None else _slo(v))
    _bud = field_validator("budget_usd", mode="before")(parse_money)


def _slo(v: Any) -> float:
    if isinstance(v, str) and v.strip().endswith("ms"):
        return float(v.strip()[:-2]) / 1000.0
    return parse_duration(v)


Job = TrainJob | InferJob


class Filters(_Frozen):
    """What a buyer accepts. Empty tuples mean "any"."""

    providers: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    hardware: tuple[str, ...] = ()  # system ids or accelerator ids
    sites: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    spot: bool = True  # allow spot offers (for jobs that accept them)
    max_price_usd_per_device_hour: float | None = Field(default=None, gt=0)
    carbon_cap_kg: float | None = Field(default=None, ge=0)
    include_examples: bool = False  # fictional sites (descriptor ``example: true``)

    def accepts_site(self, provider: str, country: str, site_id: str, kind: str) -> bool:
        low = [p.lower() for p in self.providers]
        return ((not self.providers or provider.lower() in low)
                and (not self.countries or country.lower() in [c.lower() for c in
                                                               self.countries])
                and (not self.sites or site_id in self.sites)
                and (not self.kinds or kind in self.kinds))


def parse_job(raw: Any, where: str = "job") -> Job:
    if not isinstance(raw, dict):
        raise InputError(f"{where}: each job must be a mapping with at least id, kind, model")
    cls: type[TrainJob] | type[InferJob] = InferJob if raw.get("kind") == "infer" else TrainJob
    try:
        return cls.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "?"
        msg = str(err["msg"]).removeprefix("Value error, ")
        raise InputError(f"{where} ({raw.get('id', '?')}), field '{loc}': {msg}") from None
    except InputError as exc:  # raised by the unit parsers
        raise InputError(f"{where} ({raw.get('id', '?')}): {exc}") from None


def read_jobs(path: str | Path) -> list[Job]:
    """A YAML file: a list of jobs, or a mapping with a ``jobs:`` list."""
    import yaml

    p = Path(path)
    if not p.is_file():
        raise InputError(f"jobs file '{path}' does not exist (see examples/jobs.yaml)")
    try:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: ~10x on big batches
        data = yaml.load(p.read_text(encoding="utf-8"), Loader=loader)  # a safe loader
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    if isinstance(data, dict):
        data = data.get("jobs")
    if not isinstance(data, list) or not data:
        raise InputError(f"{path}: expected a non-empty list of jobs (or a 'jobs:' list)")
    jobs = [parse_job(raw, f"{path}: job {i + 1}") for i, raw in enumerate(data)]
    ids = [j.id for j in jobs]
    dup = sorted(i for i, n in Counter(ids).items() if n > 1)
    if dup:
        raise InputError(f"{path}: job ids must be unique; repeated: {', '.join(dup)}")
    return jobs


def job_from_fields(kw: dict[str, Any]) -> Job:
    """One job from CLI-style fields: ``jobs`` (+ ``job``) names a file entry, else ``model``
    with ``tokens`` (training) or ``traffic`` (inference) and their options."""

    if kw["jobs"]:
        jobs = read_jobs(kw["jobs"])
        pick = [j for j in jobs if j.id == kw["job"]] if kw["job"] else jobs[:1]
        if not pick:
            raise InputError(f"no job '{kw['job']}' in {kw['jobs']}; ids: "
                             + ", ".join(j.id for j in jobs))
        return pick[0]
    if not kw["model"]:
        raise InputError("give --model (and --tokens for training or --traffic for inference),"
                         " or --jobs FILE")
    if kw["traffic"]:
        raw = {"id": "quote", "kind": "infer", "model": kw["model"], "traffic": kw["traffic"],
               "ttft_slo": kw["ttft_slo"], "tpot_slo": kw["tpot_slo"],
               "user_regions": kw["users"] or [], "hours": kw["hours"]}
    else:
        if not kw["tokens"]:
            raise InputError("a training quote needs --tokens (e.g. 300B); an inference quote "
                             "needs --traffic (output tokens/s)")
        raw = {"id": "quote", "kind": "train", "model": kw["model"], "tokens": kw["tokens"],
               "deadline": kw["deadline"], "data_size": kw["data_size"] or 0,
               "data_location": kw["data_location"], "spot": kw["spot"]}
    if kw["budget"]:
        raw["budget"] = kw["budget"]
    return parse_job({k: v for k, v in raw.items() if v is not None}, "command line")
