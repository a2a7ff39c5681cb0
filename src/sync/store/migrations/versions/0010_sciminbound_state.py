"""SCIM inbound (issue 13): the resources an identity provider pushes to a `scim-inbound` connection, and the
connection's SCIM bearer token (its SHA-256 digest).

Revision ID: sciminbound_state
Revises: insights_progress
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "sciminbound_state"
down_revision: str | None = "insights_progress"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "scim_resource",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("connection_id", sa.String(length=32), nullable=False),
        sa.Column("resource_type", sa.String(length=20), nullable=False),
        sa.Column("user_name", sa.String(length=300), nullable=True),
        sa.Column("external_id", sa.String(length=300), nullable=True),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"], ["connection.id"], name="fk_scim_resource_connection_id_connection", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_scim_resource"),
        sa.UniqueConstraint("connection_id", "resource_type", "user_name", name="uq_scim_resource_user_name"),
    )
    op.create_index("ix_scim_resource_external_id", "scim_resource", ["connection_id", "resource_type", "external_id"])
    op.create_table(
        "scim_token",
        sa.Column("connection_id", sa.String(length=32), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"], ["connection.id"], name="fk_scim_token_connection_id_connection", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("connection_id", name="pk_scim_token"),
        sa.UniqueConstraint("token_hash", name="uq_scim_token_token_hash"),
    )


def downgrade() -> None:
    op.drop_table("scim_token")
    op.drop_index("ix_scim_resource_external_id", table_name="scim_resource")
    op.drop_table("scim_resource")
