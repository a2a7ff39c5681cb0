"""csv uploads (issue 13): files sent to `POST /connections/{id}/uploads`, kept in the database in chunks so that
every worker can read them.

Revision ID: uploads_csv
Revises: sciminbound_state
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "uploads_csv"
down_revision: str | None = "sciminbound_state"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "upload",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("connection_id", sa.String(length=32), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=True),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("lines", sa.Integer(), nullable=False),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.Column("uploaded_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["connection_id"], ["connection.id"], name="fk_upload_connection_id_connection", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_upload"),
    )
    op.create_index("ix_upload_connection_completed", "upload", ["connection_id", "complete", "completed_at"])
    op.create_table(
        "upload_chunk",
        sa.Column("upload_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["upload_id"], ["upload.id"], name="fk_upload_chunk_upload_id_upload", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("upload_id", "seq", name="pk_upload_chunk"),
    )


def downgrade() -> None:
    op.drop_table("upload_chunk")
    op.drop_index("ix_upload_connection_completed", table_name="upload")
    op.drop_table("upload")
