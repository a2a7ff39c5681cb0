"""Migration 0005 carries the run state that lived in `counters` into its columns (and back on a downgrade), on
both databases, and the run table then refuses a mode or scope the code does not know."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from enrolsync.sync.store.db import make_sync_engine
from enrolsync.sync.store.migrate import alembic_config, upgrade
from enrolsync.sync.store.tables import Run

CREATED = datetime(2026, 1, 2, 3, 0, tzinfo=UTC)
VERDICT = {
    "count": 3,
    "allowed": 2,
    "blocked": True,
    "reason": "the run would deactivate 3 accounts; the pipeline allows 2 without approval",
    "hr_ids": ["d1", "d2", "d3"],
}
OPS = {"deactivate_user": {"done": 3}, "enrol": {"done": 1, "failed": 1}}
# A run the guard blocked, an operator approved, and that then applied, as the code before 0005 left it.
APPROVED = {
    "people": {"invalid": 1, "conflicts": 2},
    "deactivations": 3,
    "planned": True,
    "deactivating": VERDICT,
    "conflicts": {"count": 2, "hr_ids": ["c1", "c2"]},
    "drift": {"enrol": 1},
    "awaiting_start": 1,
    "kept_started": 0,
    "guard": {"deactivations": 3, "allowed": 2, "hr_ids": ["d1", "d2", "d3"], "reason": VERDICT["reason"]},
    "approved_by": "token:ops",
    "approved_at": "2026-01-02T04:05:06+00:00",
    "ops": OPS,
}
# Applying a dry run, cancelled; its verdict only in the guard step's copy, as runs planned before `deactivating`.
CANCELLED = {
    "planned": True,
    "guard": {"deactivations": 5, "allowed": 4, "hr_ids": ["d1"], "reason": None},
    "applied_by": "oidc:alice",
    "cancelled_by": "token:ops",
    "ops": {"enrol": {"not_attempted": 2}},
}


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    """The test's database with its schema before 0005; back at the newest version afterwards, whatever happened."""
    engine = make_sync_engine(db_url)
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0004")
    try:
        yield engine
    finally:
        engine.dispose()
        upgrade(db_url)


def _insert_runs(conn: sa.Connection, runs: dict[str, tuple[str, dict[str, Any]]]) -> None:
    """Rows as they were at 0004, written through the reflected tables (the live models have moved on)."""
    tables = sa.MetaData()
    tables.reflect(conn, only=["connection", "pipeline", "run"])
    stamps = {"created_at": CREATED, "updated_at": CREATED}
    for ident in ("hr", "lms"):
        conn.execute(
            tables.tables["connection"].insert(),
            {"id": ident, "name": ident, "connector": "memory", "config": {}, "secrets": "", **stamps},
        )
    pipeline = {"id": "p", "name": "p", "source_id": "hr", "target_id": "lms", "version": 1, "spec": {}, **stamps}
    conn.execute(tables.tables["pipeline"].insert(), pipeline)
    for ident, (status, counters) in runs.items():
        row = {"id": ident, "pipeline_id": "p", "pipeline_version": 1, "trigger": "admin", "mode": "apply"}
        row |= {"scope": "full", "hr_ids": [], "status": status, "counters": counters, "generation": 0}
        row |= {"people_read": 0, "ops_planned": 0, "ops_applied": 0, "created_at": CREATED}
        conn.execute(tables.tables["run"].insert(), row)


def _counters(conn: sa.Connection) -> dict[str, dict[str, Any]]:
    run = sa.Table("run", sa.MetaData(), autoload_with=conn)
    return {row.id: row.counters for row in conn.execute(sa.select(run.c.id, run.c.counters))}


def test_run_state_moves_from_counters_into_columns_and_back(engine: sa.Engine, db_url: str) -> None:
    with engine.begin() as conn:
        _insert_runs(conn, {"a": ("succeeded", APPROVED), "c": ("cancelled", CANCELLED), "q": ("queued", {})})

    upgrade(db_url)

    with Session(engine) as session:
        approved, cancelled, queued = (session.get(Run, ident) for ident in "acq")
        assert approved is not None and cancelled is not None and queued is not None
        assert approved.planned is True
        assert approved.guard == {
            "blocked": True,
            "deactivations": 3,
            "allowed": 2,
            "hr_ids": ["d1", "d2", "d3"],
            "reason": VERDICT["reason"],
        }
        assert (approved.approved_by, approved.approved_at) == ("token:ops", datetime(2026, 1, 2, 4, 5, 6, tzinfo=UTC))
        assert approved.conflicted == ["c1", "c2"]
        assert approved.counters == {
            "people": {"invalid": 1, "conflicts": 2},
            "drift": {"enrol": 1},
            "awaiting_start": 1,
            "kept_started": 0,
            "ops": OPS,
        }, "counts only, each once"
        # The guard step's copy had no `blocked`: it blocked when there were more deactivations than allowed.
        assert cancelled.guard == {"blocked": True, "deactivations": 5, "allowed": 4, "hr_ids": ["d1"], "reason": None}
        assert (cancelled.applied_by, cancelled.cancelled_by, cancelled.approved_by) == (
            "oidc:alice",
            "token:ops",
            None,
        )
        assert cancelled.counters == {"ops": {"enrol": {"not_attempted": 2}}}
        assert (queued.planned, queued.guard, queued.approved_at, queued.conflicted, queued.counters) == (
            False,
            None,
            None,
            [],
            {},
        )

    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0004")
        restored = _counters(conn)
    # Back where the old code reads them; only the guard step's display copy is not rebuilt.
    assert restored["a"] == {key: value for key, value in APPROVED.items() if key != "guard"}
    assert restored["q"] == {}


@pytest.mark.parametrize("column, value", [("mode", "replan"), ("scope", "everyone")])
def test_the_run_table_refuses_a_mode_or_scope_the_code_does_not_know(
    engine: sa.Engine, db_url: str, column: str, value: str
) -> None:
    with engine.begin() as conn:
        _insert_runs(conn, {"r": ("queued", {})})
    upgrade(db_url)

    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(sa.update(Run).where(col(Run.id) == "r").values({column: value}))
