"""Federation: sites with hashed keys and their latest heartbeat, assignments under leases,
and the settlement ledger (suanli.federation)

Revision ID: 0006
Revises: 0005_offer
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005_offer"
branch_labels = None
depends_on = None


def upgrade() -> None:
    f, i, s, t, b = sa.Float, sa.Integer, sa.String, sa.Text, sa.Boolean
    op.create_table(
        "fed_sites",
        sa.Column("id", s(100), primary_key=True),
        sa.Column("key_hash", s(64), nullable=False, unique=True),
        sa.Column("key_prefix", s(16), nullable=False),
        sa.Column("created_at", f(), nullable=False),
        sa.Column("revoked_at", f(), nullable=True),
        sa.Column("descriptor_json", t(), nullable=True),
        sa.Column("bench_json", t(), nullable=True),
        sa.Column("engine", s(32), nullable=True),
        sa.Column("registered_at", f(), nullable=True),
        sa.Column("declared_cpus", f(), nullable=False),
        sa.Column("declared_gpus", f(), nullable=False),
        sa.Column("last_seen", f(), nullable=True),
        sa.Column("cpus", f(), nullable=False),
        sa.Column("gpus", f(), nullable=False),
        sa.Column("healthy", b(), nullable=False),
        sa.Column("draining", b(), nullable=False),
        sa.Column("windows_json", t(), nullable=False),
        sa.Column("currency", s(8), nullable=False),
        sa.Column("cpu_price", f(), nullable=False),
        sa.Column("gpu_price", f(), nullable=False),
        sa.Column("heartbeats", i(), nullable=False),
        sa.Column("missed_leases", i(), nullable=False),
        sa.Column("failed_jobs", i(), nullable=False),
        sa.Column("completed_jobs", i(), nullable=False),
    )
    op.create_table(
        "fed_assignments",
        sa.Column("id", s(40), primary_key=True),
        sa.Column("job_id", s(32), sa.ForeignKey("jobs.id"), nullable=False),
        sa.Column("site_id", s(100), sa.ForeignKey("fed_sites.id"), nullable=False),
        sa.Column("attempt", i(), nullable=False),
        sa.Column("spec_json", t(), nullable=False),
        sa.Column("price_json", t(), nullable=False),
        sa.Column("token_hash", s(64), nullable=True),
        sa.Column("state", s(16), nullable=False),
        sa.Column("created_at", f(), nullable=False),
        sa.Column("expires_at", f(), nullable=False),
        sa.Column("cancel_requested", b(), nullable=False),
        sa.Column("started_at", f(), nullable=True),
        sa.Column("finished_at", f(), nullable=True),
        sa.Column("exit_code", i(), nullable=True),
        sa.Column("message", t(), nullable=False),
        sa.Column("logs", t(), nullable=False),
        sa.Column("result_json", t(), nullable=True),
        sa.UniqueConstraint("job_id", "attempt", name="uq_fed_attempt"),
    )
    op.create_index("ix_fed_assignments_job_id", "fed_assignments", ["job_id"])
    op.create_index("ix_fed_assign_site_state", "fed_assignments", ["site_id", "state"])
    op.create_table(
        "fed_ledger",
        sa.Column("id", i(), primary_key=True, autoincrement=True),
        sa.Column("job_id", s(32), sa.ForeignKey("jobs.id"), nullable=False, unique=True),
        sa.Column("assignment_id", s(40), nullable=False),
        sa.Column("tenant_id", s(32), sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("site_id", s(100), sa.ForeignKey("fed_sites.id"), nullable=False),
        sa.Column("duration_s", f(), nullable=False),
        sa.Column("cpu_hours", f(), nullable=False),
        sa.Column("device_hours", f(), nullable=False),
        sa.Column("currency", s(8), nullable=False),
        sa.Column("site_earning", f(), nullable=False),
        sa.Column("usd_per_unit", f(), nullable=False),
        sa.Column("site_earning_usd", f(), nullable=False),
        sa.Column("broker_fee_usd", f(), nullable=False),
        sa.Column("tenant_charge_usd", f(), nullable=False),
        sa.Column("created_at", f(), nullable=False),
    )
    op.create_index("ix_fed_ledger_tenant_id", "fed_ledger", ["tenant_id"])
    op.create_index("ix_fed_ledger_site_id", "fed_ledger", ["site_id"])


def downgrade() -> None:
    op.drop_table("fed_ledger")
    op.drop_table("fed_assignments")
    op.drop_table("fed_sites")
