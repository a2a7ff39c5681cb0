"""Progress reads (issue 16): one row per read of a pipeline's enrolment progress, full or scheduled, with its
counts; the newest successful one is where the next scheduled (incremental) read starts from.

Revision ID: progsched_reads
Revises: uploads_csv
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "progsched_reads"
down_revision: str | None = "uploads_csv"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "progress_read",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("pipeline_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("seen", sa.Integer(), nullable=False),
        sa.Column("new", sa.Integer(), nullable=False),
        sa.Column("changed", sa.Integer(), nullable=False),
        sa.Column("completed", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("worker", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["pipeline_id"], ["pipeline.id"], name="fk_progress_read_pipeline_id_pipeline", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_progress_read"),
    )
    op.create_index("ix_progress_read_pipeline_id", "progress_read", ["pipeline_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_progress_read_pipeline_id", table_name="progress_read")
    op.drop_table("progress_read")
