"""Jobs name their input dataset (where it lives, how large): the broker's placement charges
moving it (suanli.federation.locality); assignments indexed by state and end time (the
federated executor's per-pass snapshot reads live and recently ended ones without a scan)

Revision ID: 0007_input
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_input"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("input_json", sa.Text(), nullable=True))
    op.create_index("ix_fed_assign_state", "fed_assignments", ["state"])
    op.create_index("ix_fed_assign_finished", "fed_assignments", ["finished_at"])


def downgrade() -> None:
    op.drop_index("ix_fed_assign_finished", table_name="fed_assignments")
    op.drop_index("ix_fed_assign_state", table_name="fed_assignments")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("input_json")
