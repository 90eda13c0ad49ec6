"""Database tables (SQLAlchemy 2.0). Times are unix seconds (float); money in USD.

Every tenant-owned row carries ``tenant_id``; routes filter on it in every query.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

STATES = ("submitted", "quoted", "placed", "queued", "running", "succeeded", "failed",
          "cancelled")
TERMINAL = ("succeeded", "failed", "cancelled")
ACTIVE = ("queued", "running")  # work handed to the executor


class Base(DeclarativeBase):
    pass


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex of the key
    key_prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[float] = mapped_column(Float)
    # fair sharing (docs/service.md): nominal quota (None = no guaranteed share) and weight
    quota_cpus: Mapped[float | None] = mapped_column(Float, nullable=True)  # logical CPUs
    quota_gpus: Mapped[float | None] = mapped_column(Float, nullable=True)  # devices
    weight: Mapped[float] = mapped_column(Float, default=1.0, server_default="1")


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (UniqueConstraint("tenant_id", "idempotency_key", name="uq_job_idem"),
                      Index("ix_jobs_tenant_state", "tenant_id", "state", "created_at"),
                      Index("ix_jobs_state", "state", "created_at"))

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    idempotency_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    request_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)  # sha256 of body
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # command | python | train | serve
    command: Mapped[str | None] = mapped_column(Text, nullable=True)
    entrypoint: Mapped[str | None] = mapped_column(String(300), nullable=True)
    args_json: Mapped[str] = mapped_column(Text, default="{}")
    cpus: Mapped[float] = mapped_column(Float)
    gpus: Mapped[float] = mapped_column(Float)
    memory_mb: Mapped[int] = mapped_column(Integer)
    site_request: Mapped[str | None] = mapped_column(String(100), nullable=True)
    site: Mapped[str | None] = mapped_column(String(100), nullable=True)  # placement decision
    model: Mapped[str | None] = mapped_column(String(100), nullable=True)
    tokens: Mapped[float | None] = mapped_column(Float, nullable=True)
    hardware: Mapped[str | None] = mapped_column(String(100), nullable=True)
    state: Mapped[str] = mapped_column(String(16))
    handle: Mapped[str | None] = mapped_column(Text, nullable=True)  # executor handle
    created_at: Mapped[float] = mapped_column(Float)
    quoted_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    placed_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    queued_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    started_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    finished_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    exit_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    predicted_duration_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    actual_duration_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    predicted_cost_usd: Mapped[float | None] = mapped_column(Float, nullable=True)
    actual_cost_usd: Mapped[float | None] = mapped_column(Float, nullable=True)
    usd_per_hour: Mapped[float] = mapped_column(Float, default=0.0)  # price of the request
    max_retries: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # runs started
    network: Mapped[str] = mapped_column(String(8), default="none", server_default="none")
    wall_time_s: Mapped[float | None] = mapped_column(Float, nullable=True)  # seconds
    preempt_at: Mapped[float | None] = mapped_column(Float, nullable=True)  # preemption asked
    # train/serve jobs (suanli.service.workload_jobs): the measured ResultRecord (or
    # {"absent": why}) and the prediction made at submission from the bench profile
    result_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    predicted_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    # a job submitted from a quote's offer: the offer it came from (suanli.service.offers)
    offer_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    # the job's input dataset: {"location": place, "gb": size}; the broker's placement
    # charges moving it to the chosen site (suanli.federation.locality)
    input_json: Mapped[str | None] = mapped_column(Text, nullable=True)


class Quote(Base):
    __tablename__ = "quotes"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    request_json: Mapped[str] = mapped_column(Text)
    offers_json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float)


class UsageRecord(Base):
    __tablename__ = "usage"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), unique=True)
    site: Mapped[str | None] = mapped_column(String(100), nullable=True)
    cpu_seconds: Mapped[float] = mapped_column(Float)  # CPU-seconds reserved
    gpu_seconds: Mapped[float] = mapped_column(Float)  # device-seconds reserved
    duration_s: Mapped[float] = mapped_column(Float)
    cost_usd: Mapped[float] = mapped_column(Float)
    created_at: Mapped[float] = mapped_column(Float)


class JoinedSite(Base):
    __tablename__ = "sites"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    descriptor_json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float)


class JobLog(Base):
    """The tail of a job's output, copied from the executor by the scheduler (capped per job,
    :data:`LOG_CAP_BYTES`), so ``/logs`` answers whatever happens to the engine."""

    __tablename__ = "job_logs"

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), primary_key=True)
    text: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[float] = mapped_column(Float)
    final: Mapped[bool] = mapped_column(Boolean, default=False)  # copied after the job ended


LOG_CAP_BYTES = 1 << 20  # bytes of log kept per job (the last MiB)


from suanli.federation import models as _federation  # noqa: E402, F401  (its tables)
