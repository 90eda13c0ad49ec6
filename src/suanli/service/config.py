"""Service settings: read from ``SUANLI_*`` environment variables or CLI flags, checked once.

Unsafe settings are refused, not warned about: binding a non-loopback address needs
``allow_remote=True`` (the API carries bearer keys over plain HTTP), the body limit must stay
between 1 KiB and 64 MiB, and the poll interval must be positive.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from suanli.errors import InputError

_LOOPBACK = ("127.", "localhost", "::1")


def default_data_dir() -> Path:
    return Path(os.environ.get("SUANLI_DATA_DIR", "~/.suanli")).expanduser()


class Settings(BaseModel):
    """Everything the service needs to start. Frozen: build a new one to change it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str | None = None  # None = sqlite:///<data_dir>/suanli.db (WAL)
    ray_address: str | None = None  # None = embedded local Ray
    executor: str = "auto"  # auto | ray | subprocess | federated (sites' agents run jobs)
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    allow_remote: bool = False  # must be set to bind a non-loopback address
    max_body_bytes: int = 1 << 20  # bytes
    policy: str = "fairshare"  # suanli.sched policy name (fair share between tenants)
    placer: str = "bestfit"  # suanli.sched placer name
    poll_interval_s: float = 0.25  # seconds between scheduler passes
    scheduler: bool = True  # run the background scheduler loop
    lost_after_s: float = 30.0  # engine outage (s) after which running jobs count as lost
    preempt_grace_s: float = 10.0  # seconds a preempted job has to stop before a second ask
    insecure_single_tenant: bool = False  # run jobs unsandboxed where no sandbox can be made
    bench_profile: Path | None = None  # `suanli bench -o` file: predicts train/serve jobs
    lease_s: float = 30.0  # federation: s a site may go unheard before its work is requeued
    broker_fee: float = Field(default=0.05, ge=0, le=1)  # federation: fee / site earning
    # threads for the API's blocking handlers (anyio's default is 40): few keep SQLite's one
    # writer from waiting for the GIL behind many runnable request threads
    api_threads: int = Field(default=8, ge=1, le=256)

    @model_validator(mode="after")
    def _safe(self) -> Settings:
        if not self.allow_remote and not self.host.startswith(_LOOPBACK):
            raise InputError(f"refusing to bind {self.host}: API keys travel in plain HTTP; "
                             "bind 127.0.0.1, or pass --allow-remote behind a TLS proxy")
        if not 1024 <= self.max_body_bytes <= 64 << 20:
            raise InputError(f"max_body_bytes must be in 1 KiB..64 MiB, got "
                             f"{self.max_body_bytes}")
        for name in ("poll_interval_s", "lost_after_s", "preempt_grace_s", "lease_s"):
            v = getattr(self, name)
            if not 0 < v < 1e6:
                raise InputError(f"{name} must be a positive number of seconds, got {v}")
        if self.executor not in ("auto", "ray", "subprocess", "federated"):
            raise InputError(f"executor must be auto, ray, subprocess or federated, got "
                             f"'{self.executor}'")
        return self

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'suanli.db'}"

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        """``SUANLI_DATABASE_URL``, ``SUANLI_RAY_ADDRESS``, ``SUANLI_HOST``, ... then flags
        (``overrides`` with value None are ignored)."""
        env: dict[str, Any] = {}
        for name in cls.model_fields:
            raw = os.environ.get(f"SUANLI_{name.upper()}")
            if raw is not None:
                env[name] = raw
        env.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls.model_validate(env)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            msg = str(err["msg"]).removeprefix("Value error, ")
            raise InputError(f"service setting {where + ': ' if where else ''}{msg}") from None
