"""Run state in columns: planned, the deletion guard's verdict, approval, who cancelled or applied a run, the
people matching left in conflict; `mode` and `scope` checked by the database. `counters` keeps counts only.

Revision ID: 0005
Revises: 0004

Existing runs carry their values over from `counters`, which then loses them: `planned`, `approved_by`,
`approved_at` (ISO text there), `cancelled_by`, `applied_by`; the verdict from `deactivating` (planning's, whole)
or else `guard` (the guard step's copy, written before `deactivating` existed and without `blocked`);
`conflicts.hr_ids` into `conflicted`. Dropped as duplicates: `deactivations` (the verdict's count) and
`conflicts.count` (`people.conflicts`). A downgrade writes them back where the old code reads them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_MOVED = ("planned", "approved_by", "approved_at", "cancelled_by", "applied_by", "deactivating", "guard")
_DUPLICATES = ("deactivations", "conflicts")
_ACTORS = ("approved_by", "cancelled_by", "applied_by")
_PAGE = 500  # runs read and rewritten at a time, so a long history never sits in memory whole

_run = sa.table(
    "run",
    sa.column("id", sa.String()),
    sa.column("status", sa.String()),
    sa.column("counters", sa.JSON()),
    sa.column("planned", sa.Boolean()),
    sa.column("guard", sa.JSON(none_as_null=True)),
    sa.column("approved_by", sa.String()),
    sa.column("approved_at", sa.DateTime(timezone=True)),
    sa.column("cancelled_by", sa.String()),
    sa.column("applied_by", sa.String()),
    sa.column("conflicted", sa.JSON()),
)
_STATE = ("planned", "guard", "approved_by", "approved_at", "cancelled_by", "applied_by", "conflicted")


def upgrade() -> None:
    with op.batch_alter_table("run") as batch:
        batch.add_column(sa.Column("planned", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("guard", sa.JSON(none_as_null=True), nullable=True))
        batch.add_column(sa.Column("approved_by", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("cancelled_by", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("applied_by", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("conflicted", sa.JSON(), nullable=False, server_default="[]"))
    _rewrite(("status", "counters"), _to_columns)
    with op.batch_alter_table("run") as batch:
        batch.alter_column("planned", server_default=None)
        batch.alter_column("conflicted", server_default=None)
        batch.create_check_constraint(op.f("ck_run_mode"), sa.text("mode IN ('plan', 'apply')"))
        batch.create_check_constraint(op.f("ck_run_scope"), sa.text("scope IN ('full', 'incremental', 'people')"))


def downgrade() -> None:
    _rewrite(("status", "counters", *_STATE), _to_counters)
    with op.batch_alter_table("run") as batch:
        batch.drop_constraint(op.f("ck_run_scope"), type_="check")
        batch.drop_constraint(op.f("ck_run_mode"), type_="check")
        for name in reversed(_STATE):
            batch.drop_column(name)


def _rewrite(columns: Sequence[str], change: Callable[[sa.Row[Any]], dict[str, Any] | None]) -> None:
    """Apply `change` to every run (None: leave it as it is), a page of runs at a time in the order of their ids.

    `change` answers the same fields for every run it changes: executemany takes its SET clause from the first.
    """
    conn = op.get_bind()
    update = sa.update(_run).where(_run.c.id == sa.bindparam("run_id"))
    for page in _pages(conn, columns):
        changes = [{"run_id": row.id, **values} for row in page if (values := change(row)) is not None]
        if changes:
            conn.execute(update, changes)


def _pages(conn: sa.Connection, columns: Sequence[str]) -> Iterator[Sequence[sa.Row[Any]]]:
    after = ""
    while True:
        stmt = sa.select(_run.c.id, *(_run.c[name] for name in columns)).where(_run.c.id > after)
        page = conn.execute(stmt.order_by(_run.c.id).limit(_PAGE)).all()
        if not page:
            return
        yield page
        after = page[-1].id


def _to_columns(row: sa.Row[Any]) -> dict[str, Any] | None:
    counters: dict[str, Any] = dict(row.counters or {})
    if not any(key in counters for key in (*_MOVED, *_DUPLICATES)):
        return None
    old = {key: counters.pop(key, None) for key in (*_MOVED, *_DUPLICATES)}
    conflicts = old["conflicts"] if isinstance(old["conflicts"], dict) else {}
    if conflicts:
        counters["people"] = {"conflicts": int(conflicts.get("count", 0)), **(counters.get("people") or {})}
    return {
        "counters": counters,
        "planned": bool(old["planned"]),
        "guard": _verdict(row.status, old["deactivating"], old["guard"]),
        "approved_at": _instant(old["approved_at"]),
        "conflicted": [str(hr_id) for hr_id in conflicts.get("hr_ids", [])],
        **{actor: str(old[actor]) if old[actor] else None for actor in _ACTORS},
    }


def _verdict(status: str, deactivating: Any, guard: Any) -> dict[str, Any] | None:
    """The verdict as `GuardVerdict.model_dump(mode="json")` spells it."""
    if isinstance(deactivating, dict):
        count, allowed = int(deactivating.get("count", 0)), int(deactivating.get("allowed", 0))
        blocked, reason = bool(deactivating.get("blocked")), deactivating.get("reason")
        hr_ids = deactivating.get("hr_ids", [])
    elif isinstance(guard, dict):
        count, allowed = int(guard.get("deactivations", 0)), int(guard.get("allowed", 0))
        blocked, reason, hr_ids = count > allowed or status == "blocked", guard.get("reason"), guard.get("hr_ids", [])
    else:
        return None
    hr_ids = [str(hr_id) for hr_id in hr_ids]
    return {"blocked": blocked, "deactivations": count, "allowed": allowed, "hr_ids": hr_ids, "reason": reason}


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    # SQLite keeps no offset: store UTC, as `tables.UtcDateTime` does, and it reads back as UTC.
    return _utc(datetime.fromisoformat(value))


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _to_counters(row: sa.Row[Any]) -> dict[str, Any] | None:
    counters: dict[str, Any] = dict(row.counters or {})
    if row.planned:
        counters["planned"] = True
    for actor in _ACTORS:
        if getattr(row, actor):
            counters[actor] = getattr(row, actor)
    if row.approved_at is not None:
        counters["approved_at"] = _utc(row.approved_at).isoformat()
    if row.guard:
        verdict = row.guard
        counters["deactivations"] = verdict["deactivations"]
        counters["deactivating"] = {
            "count": verdict["deactivations"],
            "allowed": verdict["allowed"],
            "blocked": verdict["blocked"],
            "reason": verdict["reason"],
            "hr_ids": verdict["hr_ids"],
        }
    if "people" in counters or row.conflicted:
        count = int((counters.get("people") or {}).get("conflicts", len(row.conflicted)))
        counters["conflicts"] = {"count": count, "hr_ids": list(row.conflicted)}
    return {"counters": counters} if counters != (row.counters or {}) else None
