"""The digest of each link's applied state (`link.applied_fp`, issue 19), so a no-op planning run tells a settled
person by comparing two short strings instead of digesting the stored state.

A hint: NULL (every link after this migration) means "digest the applied state", as before.

Revision ID: perfsnap_applied_fp
Revises: perfplan_digests
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "perfsnap_applied_fp"
down_revision: str | None = "perfplan_digests"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("link") as batch:
        batch.add_column(sa.Column("applied_fp", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("link") as batch:
        batch.drop_column("applied_fp")
