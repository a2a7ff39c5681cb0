"""The record of each progress read (issue 16): started, finished with its counts, or failed; and where the next
scheduled read resumes from (the newest successful read's start, as stored, so any worker continues it)."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from enrolsync.sync.store.repo_progress import Saved
from enrolsync.sync.store.tables import ProgressRead

FULL, SCHEDULED = "full", "scheduled"
RUNNING, SUCCEEDED, FAILED, SUPERSEDED = "running", "succeeded", "failed", "superseded"
MAX_ERROR = 500


async def start(
    session: AsyncSession,
    *,
    pipeline_id: str,
    kind: str,
    since: datetime | None,
    now: datetime,
    run_id: str | None = None,
    worker: str = "",
) -> ProgressRead:
    """Record a read as running from `now`. Commits, so the record shows while the read goes on."""
    read = ProgressRead(
        pipeline_id=pipeline_id, kind=kind, run_id=run_id, since=since, started_at=now, worker=worker[:200]
    )
    session.add(read)
    await session.commit()
    await session.refresh(read)
    return read


async def finish(
    session: AsyncSession,
    read_id: str,
    *,
    now: datetime,
    saved: Saved | None = None,
    status: str = SUCCEEDED,
    error: str | None = None,
) -> None:
    """Record how a running read ended (the caller commits, with the readings when there are any)."""
    values: dict[str, object] = {"status": status, "finished_at": now, "error": error[:MAX_ERROR] if error else None}
    if saved is not None:
        values |= {"seen": saved.seen, "new": saved.new, "changed": saved.changed, "completed": saved.completed}
    stmt = sa.update(ProgressRead).where(col(ProgressRead.id) == read_id).values(**values)
    await (await session.connection()).execute(stmt)


async def resume_point(session: AsyncSession, *, pipeline_id: str) -> datetime | None:
    """When the newest successful read (full or scheduled) started; None when there was none."""
    stmt = select(sa.func.max(ProgressRead.started_at)).where(
        col(ProgressRead.pipeline_id) == pipeline_id, col(ProgressRead.status) == SUCCEEDED
    )
    found = (await session.exec(stmt)).one()
    return _aware(found)


async def full_read_after(session: AsyncSession, *, pipeline_id: str, after: datetime) -> bool:
    """True when a full read that started after `after` has already succeeded: its replacement is newer than
    anything a read started at `after` could merge (it may have dropped enrolments that read still lists)."""
    stmt = select(ProgressRead.id).where(
        col(ProgressRead.pipeline_id) == pipeline_id,
        col(ProgressRead.kind) == FULL,
        col(ProgressRead.status) == SUCCEEDED,
        col(ProgressRead.started_at) > after,
    )
    return (await session.exec(stmt.limit(1))).first() is not None


async def list_reads(
    session: AsyncSession, *, pipeline_id: str, limit: int, before: datetime | None = None
) -> list[ProgressRead]:
    """The pipeline's reads, newest first; `before` pages on (reads started before it)."""
    stmt = select(ProgressRead).where(col(ProgressRead.pipeline_id) == pipeline_id)
    if before is not None:
        stmt = stmt.where(col(ProgressRead.started_at) < before)
    stmt = stmt.order_by(col(ProgressRead.started_at).desc(), col(ProgressRead.id).desc()).limit(limit)
    return list((await session.exec(stmt)).all())


def _aware(moment: datetime | None) -> datetime | None:
    """A timestamp read back as stored, in UTC (SQLite keeps no zone)."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
