"""Per-link hints for cheap no-op runs (issue 19): the digest of the person as last read (`link.person_fp`), so
reading an unchanged person compares two short strings instead of decoding and comparing the stored record; and
the day matching last looked for a never-linked leaver and found nothing (`link.sought_on`), so a full run looks
again once a day, not on every run.

Both are hints: NULL (every link after this migration) means "compare the record" and "look now".

Revision ID: perfplan_digests
Revises: perfengine_fingerprints
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "perfplan_digests"
down_revision: str | None = "perfengine_fingerprints"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("link") as batch:
        batch.add_column(sa.Column("person_fp", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("sought_on", sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("link") as batch:
        batch.drop_column("sought_on")
        batch.drop_column("person_fp")
