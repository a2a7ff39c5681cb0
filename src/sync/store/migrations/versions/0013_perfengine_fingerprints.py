"""Per-link fingerprints (issue 19): what a person's desired state was last computed from (`link.source_fp`) and
what it came to (`link.desired_fp`). A person whose inputs are unchanged and whose applied state still digests to
`desired_fp` is planned by one comparison instead of a fresh evaluation and diff.

Both are hints, never the truth: NULL (every link after this migration) means "evaluate afresh".

Revision ID: perfengine_fingerprints
Revises: progsched_reads
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "perfengine_fingerprints"
down_revision: str | None = "progsched_reads"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("link") as batch:
        batch.add_column(sa.Column("source_fp", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("desired_fp", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("link") as batch:
        batch.drop_column("desired_fp")
        batch.drop_column("source_fp")
