"""Progress read on a schedule of its own (issue 16): between runs, each pipeline whose target declares PROGRESS
reads what changed since its previous successful read and merges it into the stored progress. A progress-only
job: it neither plans nor applies and writes nothing to the target.

- **Once per period, any number of workers.** The pipeline's `progress` tick is claimed with the same
  compare-and-set as run schedules (`schedules.claim_tick`); a tick missed while everything was down reads once.
- **Never beside its own pipeline's run.** While the pipeline has a queued or running run (which holds it), or
  a quarantine or back-off holds it, the tick stays unclaimed and a later pass reads once the pipeline is free.
  A run that starts while a read goes on is safe beside it: the read writes only progress rows, merges (drops
  nothing), never overwrites a row a newer read stored, and gives way entirely to a full run's read that started
  after it and finished first (see `run/progress.py` and `store/repo_progress.py`).
- **Incremental.** `since` is the newest successful read's start as stored in `progress_read` (a full run's read
  counts too), less the pipeline's `overlap_minutes`; with no read yet it is None and the target lists everything.
- **Rate-limit aware.** The target is reached through the runtime's client factory: the connection's limiter and
  Retry-After pauses, as every run's reads are.
- **Off the maintenance loop.** A read may take minutes against a rate-limited LMS, so the worker runs it as a
  task of its own (`spawn`), and the loop goes on reaping runs and firing schedules meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from enrolsync.connectors.base import Capability, TargetClass
from enrolsync.connectors.registry import UnknownConnector, WrongKind
from enrolsync.sync.jobs.schedules import claim_tick, latest_tick
from enrolsync.sync.rules.spec import PipelineSpec
from enrolsync.sync.run import progress, quarantine
from enrolsync.sync.run.context import Runtime, Side
from enrolsync.sync.store import repo_progress_reads
from enrolsync.sync.store.connections import load_config
from enrolsync.sync.store.tables import (
    ACTIVE_RUN_STATUSES,
    Connection,
    Pipeline,
    ProgressRead,
    Run,
    ScheduleState,
    WorkerBeat,
    utcnow,
)

log = structlog.get_logger("enrolsync.progress")

KIND = "progress"
# A read still marked running holds its pipeline's next read back while its worker beats, for this long at most.
STALE_AFTER = timedelta(hours=3)
ALIVE_WITHIN = timedelta(minutes=5)  # a worker not seen for this long is gone (maintenance beats every few seconds)

Spawn = Callable[[Coroutine[Any, Any, None]], None]


async def fire_due(rt: Runtime, *, now: datetime, spawn: Spawn | None = None) -> list[str]:
    """Start the progress reads whose tick came since the pipeline last read; returns the reads' ids. Each read
    runs through `spawn` (a worker's background task), or is awaited here when there is none (tests, the CLI)."""
    async with rt.sessions() as session:
        pipelines = (await session.exec(select(Pipeline).order_by(col(Pipeline.id)))).all()
    started: list[str] = []
    for pipeline in pipelines:
        spec = PipelineSpec.model_validate(pipeline.spec)
        if spec.progress is None:
            continue
        tick = latest_tick(spec.progress.schedule, now)
        async with rt.sessions() as session:
            # Most passes end here, at one primary-key read: this tick was acted on already.
            state = await session.get(ScheduleState, (pipeline.id, KIND))
            if state is not None and state.last_tick_at >= tick:
                continue
            if await _target(rt, session, pipeline) is None:
                continue  # its target reads no progress
            if (why := await _busy(session, pipeline.id, now)) is not None:
                log.debug("progress.held", pipeline_id=pipeline.id, why=why[:200])
                continue
            if not await claim_tick(session, pipeline.id, KIND, tick, now):
                continue
            scope = await _scope(rt, session, pipeline, spec)
            if scope is None:
                continue
            resume = await repo_progress_reads.resume_point(session, pipeline_id=pipeline.id)
            since = resume - timedelta(minutes=spec.progress.overlap_minutes) if resume is not None else None
            # The read's own start, by the database's clock as every read's is: the next read resumes from it.
            begun = utcnow()
            record = await repo_progress_reads.start(
                session, pipeline_id=pipeline.id, kind=repo_progress_reads.SCHEDULED, since=since, now=begun,
                worker=rt.owner,
            )  # fmt: skip
        log.info("progress.started", pipeline_id=pipeline.id, read_id=record.id, since=since and since.isoformat())
        job = _read(rt, scope, record.id, started_at=begun, since=since)
        if spawn is None:
            await job
        else:
            spawn(job)
        started.append(record.id)
    return started


async def _target(rt: Runtime, session: AsyncSession, pipeline: Pipeline) -> tuple[Connection, TargetClass] | None:
    """The pipeline's target connection and connector, when that connector reads progress back."""
    connection = await session.get(Connection, pipeline.target_id)
    if connection is None:
        return None
    try:
        cls = rt.registry.target(connection.connector)
    except (UnknownConnector, WrongKind):
        return None  # a connector this worker lacks: the pipeline's runs say so
    return (connection, cls) if Capability.PROGRESS in cls.info.capabilities else None


async def _scope(
    rt: Runtime, session: AsyncSession, pipeline: Pipeline, spec: PipelineSpec
) -> progress.ReadScope | None:
    """What a read of the pipeline covers (its target's config decrypted), or None when it cannot be read."""
    found = await _target(rt, session, pipeline)
    if found is None:
        return None
    connection, cls = found
    try:
        config = load_config(cls.info.config_model, connection.config, connection.secrets, rt.box)
    except ValueError:
        log.warning("progress.unreadable_config", pipeline_id=pipeline.id)  # the pipeline's runs fail on it too
        return None
    return progress.ReadScope(
        pipeline_id=pipeline.id,
        spec=spec,
        target=Side(cls=cls, config=config, connection_id=connection.id),
        resolved=await progress.resolved_courses(session, pipeline.id),
    )


async def _busy(session: AsyncSession, pipeline_id: str, now: datetime) -> str | None:
    """Why the pipeline may not be read now (a run holds it, it is held back, a read goes on), or None."""
    active = select(Run.id).where(
        col(Run.pipeline_id) == pipeline_id, col(Run.status).in_([s.value for s in ACTIVE_RUN_STATUSES])
    )
    if (run_id := (await session.exec(active.limit(1))).first()) is not None:
        return f"run {run_id} holds the pipeline"
    if (held := await quarantine.holds(session, pipeline_id, now=now)) is not None:
        return held
    # A read goes on while its worker is alive (its maintenance loop beats); a killed worker's read does not.
    reading = (
        select(ProgressRead.id)
        .join(WorkerBeat, col(WorkerBeat.worker_id) == col(ProgressRead.worker))
        .where(
            col(ProgressRead.pipeline_id) == pipeline_id,
            col(ProgressRead.status) == repo_progress_reads.RUNNING,
            col(ProgressRead.started_at) > now - STALE_AFTER,
            col(WorkerBeat.seen_at) > now - ALIVE_WITHIN,
        )
    )
    if (read_id := (await session.exec(reading.limit(1))).first()) is not None:
        return f"read {read_id} is still going on"
    return None


async def _read(
    rt: Runtime, scope: progress.ReadScope, read_id: str, *, started_at: datetime, since: datetime | None
) -> None:
    """One scheduled read to its end; its outcome is on its record, never raised (nothing awaits a spawned read)."""
    try:
        saved = await progress.read_progress(rt, scope, read_id=read_id, started_at=started_at, since=since, merge=True)
    except progress.ReadFailed as error:
        log.warning("progress.failed", pipeline_id=scope.pipeline_id, read_id=read_id, error=str(error)[:200])
        return
    except Exception:  # the database went away mid-read, most likely; the record says what it could
        log.exception("progress.crashed", pipeline_id=scope.pipeline_id, read_id=read_id)
        return
    if saved is None:
        log.info("progress.superseded", pipeline_id=scope.pipeline_id, read_id=read_id)
        return
    log.info(
        "progress.read", pipeline_id=scope.pipeline_id, read_id=read_id, seen=saved.seen, changed=saved.changed,
        completed=saved.completed,
    )  # fmt: skip
