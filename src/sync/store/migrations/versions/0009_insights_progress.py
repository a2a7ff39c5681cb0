"""Enrolment progress read back from the target (issue 16): one row per managed enrolment with its state
(not started, in progress, completed, failed), completion date, last activity and the due date rules set; and
the HR id a manager's API token is bound to; and the managers' digests sent, one per manager and period.

Revision ID: insights_progress
Revises: ops_workers
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "insights_progress"
down_revision: str | None = "ops_workers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "enrolment_progress",
        sa.Column("pipeline_id", sa.String(length=32), nullable=False),
        sa.Column("hr_id", sa.String(length=200), nullable=False),
        sa.Column("course_id", sa.String(length=200), nullable=False),
        sa.Column("account_id", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("percent", sa.Float(), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_activity_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("due_recurs", sa.Boolean(), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["pipeline_id"], ["pipeline.id"], name="fk_enrolment_progress_pipeline_id_pipeline", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("pipeline_id", "hr_id", "course_id", name="pk_enrolment_progress"),
    )

    op.create_table(
        "digest_sent",
        sa.Column("pipeline_id", sa.String(length=32), nullable=False),
        sa.Column("manager_hr_id", sa.String(length=200), nullable=False),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["pipeline_id"], ["pipeline.id"], name="fk_digest_sent_pipeline_id_pipeline", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("pipeline_id", "manager_hr_id", "period_end", name="pk_digest_sent"),
    )
    # A manager's API token is bound to the manager's HR id: it reads only their own reports' team views.
    with op.batch_alter_table("api_token") as batch:
        batch.add_column(sa.Column("hr_id", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_token") as batch:
        batch.drop_column("hr_id")
    op.drop_table("digest_sent")
    op.drop_table("enrolment_progress")
