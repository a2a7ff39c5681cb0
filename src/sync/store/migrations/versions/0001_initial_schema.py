"""Initial schema: connections, pipelines and their versions, runs and their ops, links, checkpoints, events.

Revision ID: 0001
Revises:
Create Date: 2026-11-25

Self-contained on purpose: a migration must not import the live models, which will change after it. Timestamps
are `DateTime(timezone=True)`, the storage type under `tables.UtcDateTime`.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ACTIVE_RUN = "status IN ('queued', 'running')"


def _id(name: str = "id", *, nullable: bool = False) -> sa.Column[str]:
    return sa.Column(name, sa.String(length=32), nullable=nullable)


def _ts(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _json(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.JSON(), nullable=False)


def _fk(table: str, column: str, parent: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f"{parent}.id"], name=f"fk_{table}_{column}_{parent}")


def _index(table: str, column: str) -> None:
    op.create_index(f"ix_{table}_{column}", table, [column], unique=False)


def upgrade() -> None:
    op.create_table(
        "connection",
        _id(),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("connector", sa.String(length=100), nullable=False),
        _json("config"),
        sa.Column("secrets", sa.Text(), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_connection"),
        sa.UniqueConstraint("name", name="uq_connection_name"),
    )
    _index("connection", "connector")

    op.create_table(
        "event",
        _id(),
        _id("connection_id"),
        sa.Column("event_id", sa.String(length=200), nullable=False),
        _json("headers"),
        sa.Column("body", sa.Text(), nullable=False),
        _json("hr_ids"),
        _id("run_id", nullable=True),
        _ts("received_at"),
        _fk("event", "connection_id", "connection"),
        sa.PrimaryKeyConstraint("id", name="pk_event"),
        sa.UniqueConstraint("connection_id", "event_id", name="uq_event_id"),
    )
    _index("event", "connection_id")

    op.create_table(
        "pipeline",
        _id(),
        sa.Column("name", sa.String(length=200), nullable=False),
        _id("source_id"),
        _id("target_id"),
        sa.Column("version", sa.Integer(), nullable=False),
        _json("spec"),
        _ts("created_at"),
        _ts("updated_at"),
        _fk("pipeline", "source_id", "connection"),
        _fk("pipeline", "target_id", "connection"),
        sa.PrimaryKeyConstraint("id", name="pk_pipeline"),
        sa.UniqueConstraint("name", name="uq_pipeline_name"),
    )
    _index("pipeline", "source_id")
    _index("pipeline", "target_id")

    op.create_table(
        "pipelineversion",
        _id("pipeline_id"),
        sa.Column("version", sa.Integer(), nullable=False),
        _json("spec"),
        _ts("created_at"),
        _fk("pipelineversion", "pipeline_id", "pipeline"),
        sa.PrimaryKeyConstraint("pipeline_id", "version", name="pk_pipelineversion"),
    )

    op.create_table(
        "checkpoint",
        _id("pipeline_id"),
        sa.Column("cursor", sa.Text(), nullable=True),
        _ts("updated_at"),
        _fk("checkpoint", "pipeline_id", "pipeline"),
        sa.PrimaryKeyConstraint("pipeline_id", name="pk_checkpoint"),
    )

    op.create_table(
        "link",
        _id("pipeline_id"),
        sa.Column("hr_id", sa.String(length=200), nullable=False),
        sa.Column("account_id", sa.String(length=200), nullable=True),
        _json("person"),
        _json("applied"),
        sa.Column("last_error", sa.Text(), nullable=True),
        _ts("last_error_at", nullable=True),
        _ts("updated_at"),
        _fk("link", "pipeline_id", "pipeline"),
        sa.PrimaryKeyConstraint("pipeline_id", "hr_id", name="pk_link"),
    )
    _index("link", "account_id")

    op.create_table(
        "run",
        _id(),
        _id("pipeline_id"),
        sa.Column("pipeline_version", sa.Integer(), nullable=False),
        sa.Column("trigger", sa.String(length=20), nullable=False),
        sa.Column("mode", sa.String(length=10), nullable=False),
        sa.Column("scope", sa.String(length=20), nullable=False),
        _json("hr_ids"),
        sa.Column("status", sa.String(length=20), nullable=False),
        _json("counters"),
        sa.Column("people_read", sa.Integer(), nullable=False),
        sa.Column("ops_planned", sa.Integer(), nullable=False),
        sa.Column("ops_applied", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        _id("plan_run_id", nullable=True),
        sa.Column("cursor", sa.Text(), nullable=True),
        _ts("created_at"),
        _ts("started_at", nullable=True),
        _ts("finished_at", nullable=True),
        _fk("run", "pipeline_id", "pipeline"),
        sa.PrimaryKeyConstraint("id", name="pk_run"),
    )
    _index("run", "pipeline_id")
    _index("run", "status")
    # At most one queued or running run per pipeline, whatever process inserts it.
    op.create_index(
        "uq_run_active_per_pipeline",
        "run",
        ["pipeline_id"],
        unique=True,
        sqlite_where=sa.text(_ACTIVE_RUN),
        postgresql_where=sa.text(_ACTIVE_RUN),
    )

    op.create_table(
        "runop",
        sa.Column("id", sa.Integer(), nullable=False),
        _id("run_id"),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hr_id", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        _json("op"),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("ref", sa.String(length=200), nullable=True),
        _ts("updated_at"),
        _fk("runop", "run_id", "run"),
        sa.PrimaryKeyConstraint("id", name="pk_runop"),
        sa.UniqueConstraint("run_id", "seq", name="uq_runop_seq"),
    )
    _index("runop", "hr_id")
    _index("runop", "run_id")


def downgrade() -> None:
    for table in ("runop", "run", "link", "checkpoint", "pipelineversion", "pipeline", "event", "connection"):
        op.drop_table(table)
