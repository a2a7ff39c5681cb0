"""Workers' heartbeats (`worker_beat`): each worker's maintenance loop stamps `seen_at`, so readiness and the
gauges can say whether any worker is alive to execute queued runs.

Revision ID: ops_workers
Revises: csvsource_rejected_rows
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "ops_workers"
down_revision: str | None = "csvsource_rejected_rows"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "worker_beat",
        sa.Column("worker_id", sa.String(length=200), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("worker_id", name=op.f("pk_worker_beat")),
    )


def downgrade() -> None:
    op.drop_table("worker_beat")
