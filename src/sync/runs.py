"""Asking for a run: record it in the database, then hand its id to the job queue.

One active run per pipeline: the database's partial unique index refuses a second queued/running run, and the
existing one is returned instead (a burst of requests is coalesced, not duplicated).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from enrolsync.sync.store.tables import ACTIVE_RUN_STATUSES, Pipeline, Run, RunStatus

Mode = Literal["plan", "apply"]
Scope = Literal["full", "incremental", "people"]


class RunQueue(Protocol):
    async def enqueue(self, run_id: str) -> None: ...


class PipelineNotFound(LookupError):
    pass


async def active_run(session: AsyncSession, pipeline_id: str) -> Run | None:
    stmt = select(Run).where(Run.pipeline_id == pipeline_id, col(Run.status).in_(list(ACTIVE_RUN_STATUSES)))
    return (await session.exec(stmt)).first()


async def request_run(
    session: AsyncSession,
    *,
    pipeline_id: str,
    mode: Mode,
    scope: Scope,
    hr_ids: Sequence[str] = (),
    trigger: str = "admin",
    queue: RunQueue,
) -> tuple[Run, bool]:
    """Record a queued run and enqueue it; returns (run, created). An active run is returned, not duplicated.

    The row is committed before the queue hears of it, so a worker never looks for a run that is not there,
    and a crash between the two leaves a queued run the worker's recovery re-enqueues.
    """
    pipeline = await session.get(Pipeline, pipeline_id)
    if pipeline is None:
        raise PipelineNotFound(pipeline_id)
    existing = await active_run(session, pipeline_id)
    if existing is not None:
        return existing, False
    run = Run(
        pipeline_id=pipeline_id,
        pipeline_version=pipeline.version,
        trigger=trigger,
        mode=mode,
        scope=scope,
        hr_ids=sorted(set(hr_ids)),
        status=RunStatus.QUEUED,
    )
    session.add(run)
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        existing = await active_run(session, pipeline_id)
        if existing is None:
            raise
        return existing, False
    await queue.enqueue(run.id)
    return run, True
