"""The engine's set-based queries: person snapshots, link updates and op outcomes, written in bulk.

CRUD for the control plane lives in `repo.py`; this module holds what a run does thousands of times, so each
call works on a chunk of rows in one statement and one transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from enrolsync.sync.store.tables import Link, Pipeline, Run, RunOp, RunOpStatus, utcnow


async def _execute(session: AsyncSession, stmt: Any, params: Any = None) -> Any:
    # Core statements go through the session's connection: sqlmodel deprecates `session.execute` for ORM use.
    connection = await session.connection()
    return await connection.execute(stmt, params) if params is not None else await connection.execute(stmt)


def _insert(session: AsyncSession, table: Any) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


async def upsert_persons(session: AsyncSession, *, pipeline_id: str, persons: Mapping[str, dict[str, Any]]) -> None:
    """Store the person as last read for each hr_id, creating links (without an account) as needed. A person the
    source returns is no longer gone from it."""
    if not persons:
        return
    now = utcnow()
    rows = [
        {
            "pipeline_id": pipeline_id,
            "hr_id": hr_id,
            "person": person,
            "applied": {},
            "gone_at": None,
            "updated_at": now,
        }
        for hr_id, person in persons.items()
    ]
    stmt = _insert(session, Link.__table__).values(rows)  # type: ignore[attr-defined]
    stmt = stmt.on_conflict_do_update(
        index_elements=["pipeline_id", "hr_id"],
        set_={"person": stmt.excluded.person, "gone_at": None, "updated_at": stmt.excluded.updated_at},
    )
    await _execute(session, stmt)


async def account_owners(
    session: AsyncSession, *, pipeline_id: str, account_ids: Sequence[str], target_id: str | None = None
) -> dict[str, str]:
    """Who each of `account_ids` is already linked to (for conflict detection when matching): the hr_id in this
    pipeline; with `target_id`, also links of other pipelines writing to that connection, named with their
    pipeline (`A7 of pipeline 'emea'`) so the conflict says whose the account is."""
    owners: dict[str, str] = {}
    others: dict[str, str] = {}
    for start in range(0, len(account_ids), 900):
        chunk = account_ids[start : start + 900]
        stmt = sa.select(
            Link.account_id, Link.hr_id, Link.pipeline_id, Pipeline.name
        ).join(  # type: ignore[call-overload]
            Pipeline, Pipeline.id == Link.pipeline_id
        ).where(
            col(Link.account_id).in_(chunk),
            Link.pipeline_id == pipeline_id if target_id is None else Pipeline.target_id == target_id,
        )
        for account_id, hr_id, owner_pipeline, name in (await _execute(session, stmt)).all():
            if owner_pipeline == pipeline_id:
                owners[account_id] = hr_id
            else:
                others[account_id] = f"{hr_id} of pipeline {name!r}"
    # This pipeline's own link wins: it is the one this pipeline keeps in step.
    return others | owners


async def add_ops(session: AsyncSession, *, run_id: str, ops: Sequence[tuple[int, str, str, dict[str, Any]]]) -> None:
    """Insert planned ops: (seq, hr_id, kind, op JSON) each."""
    if ops:
        now = utcnow()
        await _execute(
            session,
            sa.insert(RunOp),
            [
                {
                    "run_id": run_id,
                    "seq": seq,
                    "hr_id": hr_id,
                    "kind": kind,
                    "op": op,
                    "status": "planned",
                    "attempts": 0,
                    "updated_at": now,
                }
                for seq, hr_id, kind, op in ops
            ],
        )


async def count_applied(session: AsyncSession, *, run_id: str, applied: int) -> None:
    """Add `applied` to the run's `ops_applied` in one statement, so concurrent batches never lose a count."""
    stmt = sa.update(Run).where(col(Run.id) == run_id).values(ops_applied=Run.ops_applied + applied)
    await _execute(session, stmt)


async def next_planned(session: AsyncSession, *, run_id: str, limit: int) -> list[RunOp]:
    stmt = (
        select(RunOp)
        .where(RunOp.run_id == run_id, RunOp.status == RunOpStatus.PLANNED)
        .order_by(col(RunOp.seq))
        .limit(limit)
    )
    return list((await session.exec(stmt)).all())


async def op_counts(session: AsyncSession, *, run_id: str) -> dict[str, dict[str, int]]:
    """{kind: {status: n}} for a run."""
    stmt = (
        sa.select(RunOp.kind, RunOp.status, sa.func.count())  # type: ignore[call-overload]
        .where(RunOp.run_id == run_id)
        .group_by(RunOp.kind, RunOp.status)
    )
    counts: dict[str, dict[str, int]] = {}
    for kind, status, n in (await _execute(session, stmt)).all():
        counts.setdefault(kind, {})[status] = int(n)
    return counts


async def delete_ops(session: AsyncSession, *, run_id: str) -> None:
    """Drop a run's ops (a partial plan left by an attempt that died while planning)."""
    await _execute(session, sa.delete(RunOp).where(col(RunOp.run_id) == run_id))


async def has_ops(session: AsyncSession, *, run_id: str) -> bool:
    stmt = sa.select(sa.func.count()).where(col(RunOp.run_id) == run_id)
    return int((await _execute(session, stmt)).scalar_one()) > 0
