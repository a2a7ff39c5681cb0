"""Records a source could not read, listed on the run: `run.rejected` (line, field, reason, hr_id of each bad row
of a file export, the first 200; the count is in `counters.people.rejected`).

Revision ID: csvsource_rejected_rows
Revises: 0006
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "csvsource_rejected_rows"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("run") as batch:
        batch.add_column(sa.Column("rejected", sa.JSON(), nullable=False, server_default="[]"))
    with op.batch_alter_table("run") as batch:
        batch.alter_column("rejected", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("run") as batch:
        batch.drop_column("rejected")
