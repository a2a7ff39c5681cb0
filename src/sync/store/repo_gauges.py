"""What the gauges and the readiness check read: workers' heartbeats, runs by status, stored HR events, the
schema's revision. Import through this module; the API's `/metrics` and `/readyz` and the worker use it."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from alembic.runtime.migration import MigrationContext
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from enrolsync.sync.store.migrate import head_revision
from enrolsync.sync.store.tables import Run, WorkerBeat


async def beat(session: AsyncSession, *, worker_id: str, now: datetime) -> None:
    """Stamp this worker as seen now (each worker writes only its own row, so no two writers meet)."""
    row = await session.get(WorkerBeat, worker_id)
    if row is None:
        row = WorkerBeat(worker_id=worker_id, started_at=now, seen_at=now)
    row.seen_at = now
    session.add(row)
    await session.commit()


async def forget_worker(session: AsyncSession, *, worker_id: str) -> None:
    """A worker stopping on purpose stops counting as live at once, not `seen` seconds later."""
    row = await session.get(WorkerBeat, worker_id)
    if row is not None:
        await session.delete(row)
        await session.commit()


async def live_workers(session: AsyncSession, *, since: datetime) -> list[WorkerBeat]:
    """Workers whose maintenance loop stamped them at or after `since`."""
    stmt = select(WorkerBeat).where(col(WorkerBeat.seen_at) >= since).order_by(col(WorkerBeat.worker_id))
    return list((await session.exec(stmt)).all())


async def runs_by_status(session: AsyncSession) -> dict[str, int]:
    """How many runs are in each status (every status present at least once in the table)."""
    stmt = select(Run.status, sa.func.count()).group_by(col(Run.status))
    return {str(status): int(count) for status, count in (await session.exec(stmt)).all()}


async def schema_revision(session: AsyncSession) -> tuple[str | None, str | None]:
    """(the revision the database is at, the newest this code ships)."""

    def read(connection: sa.Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    current = await (await session.connection()).run_sync(read)
    return current, head_revision()
