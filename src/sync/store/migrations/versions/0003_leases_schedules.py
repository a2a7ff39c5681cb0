"""Run leases and generations, one queued plus one running run per pipeline, schedule state, event dispatch.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_QUEUED = "status = 'queued'"
_RUNNING = "status = 'running'"
_ACTIVE = "status IN ('queued', 'running')"


def upgrade() -> None:
    with op.batch_alter_table("run") as batch:
        batch.add_column(sa.Column("lease_owner", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("generation", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("run") as batch:
        batch.alter_column("generation", server_default=None)
    op.drop_index("uq_run_active_per_pipeline", table_name="run")
    for name, where in (("uq_run_queued_per_pipeline", _QUEUED), ("uq_run_running_per_pipeline", _RUNNING)):
        op.create_index(
            name, "run", ["pipeline_id"], unique=True, sqlite_where=sa.text(where), postgresql_where=sa.text(where)
        )
    with op.batch_alter_table("event") as batch:
        batch.add_column(sa.Column("run_ids", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("event") as batch:
        batch.alter_column("run_ids", server_default=None)
    op.create_table(
        "schedule_state",
        sa.Column("pipeline_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("last_tick_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["pipeline_id"], ["pipeline.id"], name="fk_schedule_state_pipeline_id_pipeline"),
        sa.PrimaryKeyConstraint("pipeline_id", "kind", name="pk_schedule_state"),
    )


def downgrade() -> None:
    op.drop_table("schedule_state")
    with op.batch_alter_table("event") as batch:
        batch.drop_column("dispatched_at")
        batch.drop_column("run_ids")
    op.drop_index("uq_run_running_per_pipeline", table_name="run")
    op.drop_index("uq_run_queued_per_pipeline", table_name="run")
    op.create_index(
        "uq_run_active_per_pipeline", "run", ["pipeline_id"], unique=True,
        sqlite_where=sa.text(_ACTIVE), postgresql_where=sa.text(_ACTIVE),
    )  # fmt: skip
    with op.batch_alter_table("run") as batch:
        batch.drop_column("generation")
        batch.drop_column("lease_expires_at")
        batch.drop_column("lease_owner")
