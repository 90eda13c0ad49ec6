"""Federation tables (SQLAlchemy 2.0, on the service's ``Base``): sites with their key and
latest heartbeat, assignments (leases), and the settlement ledger. Times are unix seconds.

Imported by :mod:`suanli.service.models` so the migrations and the models stay one schema.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from suanli.service.models import Base

LEASE_ACTIVE = ("assigned", "running")  # an assignment whose lease is live
LEASE_DONE = ("succeeded", "failed", "cancelled", "expired")


class FedSite(Base):
    """A site run by another organisation, known by its key (stored hashed, revocable), with
    what it declared at registration and what its last heartbeat said."""

    __tablename__ = "fed_sites"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)  # the site's name
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex of the key
    key_prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[float] = mapped_column(Float)
    revoked_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    descriptor_json: Mapped[str | None] = mapped_column(Text, nullable=True)  # site.yaml
    bench_json: Mapped[str | None] = mapped_column(Text, nullable=True)  # `suanli bench -o`
    engine: Mapped[str | None] = mapped_column(String(32), nullable=True)  # ray | subprocess
    registered_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    declared_cpus: Mapped[float] = mapped_column(Float, default=0.0)  # logical CPUs
    declared_gpus: Mapped[float] = mapped_column(Float, default=0.0)  # devices
    # the latest heartbeat
    last_seen: Mapped[float | None] = mapped_column(Float, nullable=True)
    cpus: Mapped[float] = mapped_column(Float, default=0.0)  # CPUs the engine offers now
    gpus: Mapped[float] = mapped_column(Float, default=0.0)
    healthy: Mapped[bool] = mapped_column(Boolean, default=False)
    draining: Mapped[bool] = mapped_column(Boolean, default=False)
    windows_json: Mapped[str] = mapped_column(Text, default="[]")  # availability windows
    currency: Mapped[str] = mapped_column(String(8), default="USD")
    cpu_price: Mapped[float] = mapped_column(Float, default=0.0)  # per CPU-hour, site currency
    gpu_price: Mapped[float] = mapped_column(Float, default=0.0)  # per device-hour
    heartbeats: Mapped[int] = mapped_column(Integer, default=0)
    missed_leases: Mapped[int] = mapped_column(Integer, default=0)
    failed_jobs: Mapped[int] = mapped_column(Integer, default=0)
    completed_jobs: Mapped[int] = mapped_column(Integer, default=0)


class FedAssignment(Base):
    """One attempt of a job at a site, held under a lease that the site renews."""

    __tablename__ = "fed_assignments"
    __table_args__ = (UniqueConstraint("job_id", "attempt", name="uq_fed_attempt"),
                      Index("ix_fed_assign_site_state", "site_id", "state"),
                      # the executor's snapshot: live ones OR recently ended (0007_input)
                      Index("ix_fed_assign_state", "state"),
                      Index("ix_fed_assign_finished", "finished_at"))

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # the executor handle
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), index=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("fed_sites.id"))
    attempt: Mapped[int] = mapped_column(Integer)
    spec_json: Mapped[str] = mapped_column(Text)  # the JobSpec the site runs
    price_json: Mapped[str] = mapped_column(Text)  # the site's price when it was assigned
    token_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)  # set on pull
    state: Mapped[str] = mapped_column(String(16))  # assigned|running|<LEASE_DONE>
    created_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    started_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    finished_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    exit_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    message: Mapped[str] = mapped_column(Text, default="")
    logs: Mapped[str] = mapped_column(Text, default="")  # the tail the site streamed
    result_json: Mapped[str | None] = mapped_column(Text, nullable=True)  # measured record


class FedLedger(Base):
    """Settlement of one completed job (one row per job, whatever the attempts)."""

    __tablename__ = "fed_ledger"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), unique=True)
    assignment_id: Mapped[str] = mapped_column(String(40))
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("fed_sites.id"), index=True)
    duration_s: Mapped[float] = mapped_column(Float)
    cpu_hours: Mapped[float] = mapped_column(Float)
    device_hours: Mapped[float] = mapped_column(Float)  # GPU device-hours
    currency: Mapped[str] = mapped_column(String(8))  # the site's
    site_earning: Mapped[float] = mapped_column(Float)  # in the site's currency
    usd_per_unit: Mapped[float] = mapped_column(Float)  # the fx rate used
    site_earning_usd: Mapped[float] = mapped_column(Float)
    broker_fee_usd: Mapped[float] = mapped_column(Float)
    tenant_charge_usd: Mapped[float] = mapped_column(Float)
    created_at: Mapped[float] = mapped_column(Float)
