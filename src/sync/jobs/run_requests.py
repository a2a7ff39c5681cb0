"""Asking for a run: record it in the database, then hand its id to the job queue.

One active run per pipeline: the database's partial unique index refuses a second queued/running run, and the
existing one is returned instead (a burst of requests is coalesced, not duplicated).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

from enrolsync.sync.run import quarantine
from enrolsync.sync.store import repo
from enrolsync.sync.store.tables import Run, RunMode, RunScope

# The names callers of `request_run` know them by; defined once, beside the run table whose columns they type.
Mode = RunMode
Scope = RunScope


class RunQueue(Protocol):
    async def enqueue(self, run_id: str, *, generation: int = 0) -> None:
        """Hand a recorded run to the workers; idempotent for the same (run, generation)."""
        ...


class PipelineNotFound(LookupError):
    pass


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

    Raises:
        PipelineNotFound: there is no such pipeline.
        PipelineQuarantined: the pipeline is quarantined (see `sync/run/quarantine.py`).
    """
    await quarantine.ensure_open(session, pipeline_id)
    try:
        run, created = await repo.create_run(
            session, pipeline_id=pipeline_id, trigger=trigger, mode=mode, scope=scope, hr_ids=hr_ids
        )
    except LookupError:
        raise PipelineNotFound(pipeline_id) from None
    await session.commit()
    if created:
        await queue.enqueue(run.id)
    return run, created
