"""Shared state one tenant cannot break: idempotency fingerprints, retry policy and attempts,
fair-share quotas, preemption, job logs kept by the service, indexes for a long queue

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(sa.Column("quota_cpus", sa.Float(), nullable=True))
        batch.add_column(sa.Column("quota_gpus", sa.Float(), nullable=True))
        batch.add_column(sa.Column("weight", sa.Float(), nullable=False, server_default="1"))
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("request_hash", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("max_retries", sa.Integer(), nullable=False,
                                   server_default="0"))
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False,
                                   server_default="0"))
        batch.add_column(sa.Column("network", sa.String(length=8), nullable=False,
                                   server_default="none"))
        batch.add_column(sa.Column("wall_time_s", sa.Float(), nullable=True))
        batch.add_column(sa.Column("preempt_at", sa.Float(), nullable=True))
        batch.drop_index("ix_jobs_state")
        batch.drop_index("ix_jobs_tenant_state")
        batch.create_index("ix_jobs_state", ["state", "created_at"], unique=False)
        batch.create_index("ix_jobs_tenant_state", ["tenant_id", "state", "created_at"],
                           unique=False)
    op.create_table(
        "job_logs",
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("final", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"]),
        sa.PrimaryKeyConstraint("job_id"),
    )


def downgrade() -> None:
    op.drop_table("job_logs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_index("ix_jobs_state")
        batch.drop_index("ix_jobs_tenant_state")
        batch.create_index("ix_jobs_state", ["state"], unique=False)
        batch.create_index("ix_jobs_tenant_state", ["tenant_id", "state"], unique=False)
        for col in ("preempt_at", "wall_time_s", "network", "attempts", "max_retries",
                    "request_hash"):
            batch.drop_column(col)
    with op.batch_alter_table("tenants") as batch:
        for col in ("weight", "quota_gpus", "quota_cpus"):
            batch.drop_column(col)
