"""The federation protocol's messages (pydantic): what a site agent sends and receives.

Every message forbids unknown fields and bounds its numbers and strings, so a malformed one is
a 422 naming the field before anything is read or written (docs/federation.md, "Protocol").
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from suanli.service.hardening import check_text

SITE_NAME = r"^[A-Za-z0-9][\w.\-]{0,99}$"
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @field_validator("*", mode="after")
    @classmethod
    def _clean(cls, v: Any) -> Any:
        return check_text(v, multiline=True) if isinstance(v, str) else v


class Window(_Strict):
    """An availability window in UTC: ``start``..``end`` (HH:MM; ``end`` before ``start``
    wraps past midnight) on ``days`` (default every day)."""

    start: str
    end: str
    days: list[Day] = Field(default_factory=lambda: list(DAYS), max_length=7)

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, v: str) -> str:
        if not _HHMM.match(v):
            raise ValueError(f"'{v}' is not a time HH:MM (00:00..23:59, UTC)")
        return v


class Price(_Strict):
    """The site's price: per CPU-hour and per GPU device-hour, in ``currency`` (ISO code of
    the catalog's fx table, e.g. USD, CNY, EUR)."""

    currency: str = Field(default="USD", min_length=3, max_length=8, pattern=r"^[A-Z]{3,8}$")
    cpu_hour: float = Field(default=0.0, ge=0, le=1e6)
    gpu_hour: float = Field(default=0.0, ge=0, le=1e6)

    @field_validator("currency")
    @classmethod
    def _known(cls, v: str) -> str:
        """A code of the fx table (suanli.money), or settlement and placement could not
        convert the price later: refused here, before anything is stored."""
        from suanli.errors import InputError
        from suanli.money import currency_code

        try:
            return currency_code(v)
        except InputError as e:
            raise ValueError(str(e)) from None


class Register(_Strict):
    """POST /api/v1/federation/register: the site's descriptor, bench profile and engine."""

    descriptor: dict[str, Any] = Field(default_factory=dict)
    bench: dict[str, Any] | None = None  # `suanli bench -o` output, as measured at the site
    engine: Literal["ray", "subprocess", "slurm", "kubernetes", "other"] = "subprocess"
    cpus: float = Field(ge=0, le=1e7)  # declared logical CPUs
    gpus: float = Field(default=0.0, ge=0, le=1e6)  # declared devices

    @model_validator(mode="after")
    def _json(self) -> Register:
        from suanli.service.hardening import check_json

        check_json(self.descriptor)
        if self.bench is not None:
            check_json(self.bench)
        return self


class LeaseRef(_Strict):
    id: str = Field(min_length=1, max_length=40, pattern=r"^[\w-]+$")
    token: str = Field(min_length=1, max_length=100, pattern=r"^[\w-]+$")


class Heartbeat(_Strict):
    """POST /api/v1/federation/heartbeat: capacity and health now, the operator's settings,
    and the leases the agent holds (renewed by this heartbeat)."""

    cpus: float = Field(ge=0, le=1e7)  # CPUs the engine offers now
    gpus: float = Field(default=0.0, ge=0, le=1e6)
    healthy: bool = True
    draining: bool = False
    windows: list[Window] = Field(default_factory=list, max_length=50)
    price: Price = Field(default_factory=Price)
    leases: list[LeaseRef] = Field(default_factory=list, max_length=10_000)


class Pull(_Strict):
    """POST /api/v1/federation/pull: up to ``max`` new assignments for this site."""

    max: int = Field(default=16, ge=1, le=1000)


class LogTail(LeaseRef):
    """POST /api/v1/federation/leases/{id}/logs: the run's output tail so far."""

    text: str = Field(default="", max_length=1 << 20)
    running: bool = True  # the run has started on the site's engine


class Result(LeaseRef):
    """POST /api/v1/federation/leases/{id}/result: how the run ended, its log tail and the
    measured result record (train/serve jobs)."""

    state: Literal["succeeded", "failed", "cancelled"]
    exit_code: int | None = Field(default=None, ge=-255, le=255)
    message: str = Field(default="", max_length=4000)
    started_at: float = Field(gt=0, le=1e11)  # unix s
    finished_at: float = Field(gt=0, le=1e11)
    logs: str = Field(default="", max_length=1 << 20)
    record: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _order(self) -> Result:
        if self.finished_at < self.started_at:
            raise ValueError(f"finished_at ({self.finished_at}) is before started_at "
                             f"({self.started_at})")
        if self.record is not None:
            from suanli.service.hardening import check_json

            check_json(self.record)
        return self


def in_window(windows: list[dict[str, Any]], t: float) -> bool:
    """Is unix time ``t`` inside one of ``windows`` (UTC)? No windows: always available."""
    import datetime as dt

    if not windows:
        return True
    now = dt.datetime.fromtimestamp(t, dt.UTC)
    minute, day = now.hour * 60 + now.minute, DAYS[now.weekday()]
    prev = DAYS[(now.weekday() - 1) % 7]
    for w in windows:
        a = int(w["start"][:2]) * 60 + int(w["start"][3:])
        b = int(w["end"][:2]) * 60 + int(w["end"][3:])
        days = w.get("days") or DAYS
        if a < b and day in days and a <= minute < b:
            return True
        if a >= b and ((day in days and minute >= a) or (prev in days and minute < b)):
            return True  # wraps past midnight: the tail belongs to the previous day's window
    return False
