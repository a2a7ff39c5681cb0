"""Remember who is gone from the HR system: `link.gone_at`, set when the source stops returning a person (a record
deleted in HR, or missing from a full read), cleared when it shows them again. Until then the person is a leaver on
every kind of run, so a deletion seen once by an incremental run does not flap back on the next one.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("link") as batch:
        batch.add_column(sa.Column("gone_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("link") as batch:
        batch.drop_column("gone_at")
