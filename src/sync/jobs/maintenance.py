"""What every worker does every few seconds: take over runs whose worker died, re-enqueue runs nobody has,
fire due schedules, hand stored HR events to runs, probe quarantined pipelines, start due progress reads. Every
action is a compare-and-set in the database, so any number of workers can do this at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
import structlog
from sqlmodel import col, select

from enrolsync.sync.jobs import digest, events, progress_schedule, run_requests, schedules
from enrolsync.sync.run import quarantine
from enrolsync.sync.run.context import Runtime
from enrolsync.sync.store import repo_gauges
from enrolsync.sync.store.tables import ACTIVE_RUN_STATUSES, Event, Run, RunStatus, utcnow

log = structlog.get_logger("enrolsync.maintenance")

WorkflowState = Callable[[str, int], Awaitable[str | None]]  # (run id, generation) -> DBOS status or None
Abandon = Callable[[str, int], Awaitable[None]]


@dataclass
class Engine:
    """What maintenance needs from the job engine (DBOS in production, fakes in tests)."""

    queue: run_requests.RunQueue
    state: WorkflowState
    abandon: Abandon
    spawn: progress_schedule.Spawn | None = None  # runs a progress read beside the loop; None: awaited in the pass


async def _next_generation(rt: Runtime, run: Run) -> bool:
    async with rt.sessions() as session:
        stmt = (
            sa.update(Run)
            .where(col(Run.id) == run.id, col(Run.generation) == run.generation)
            .values(generation=run.generation + 1, lease_owner=None, lease_expires_at=None)
        )
        won = (await (await session.connection()).execute(stmt)).rowcount == 1
        await session.commit()
        return bool(won)


async def _restart(rt: Runtime, engine: Engine, run: Run, why: str) -> bool:
    if not await _next_generation(rt, run):
        return False  # another worker got there first
    await engine.abandon(run.id, run.generation)
    await engine.queue.enqueue(run.id, generation=run.generation + 1)
    log.warning("run.taken_over", run_id=run.id, generation=run.generation + 1, why=why)
    return True


async def reap(rt: Runtime, engine: Engine, now: datetime) -> int:
    """Runs whose lease lapsed (their worker died or hung) continue as the next generation elsewhere."""
    async with rt.sessions() as session:
        stmt = select(Run).where(
            col(Run.status).in_([s.value for s in ACTIVE_RUN_STATUSES]),
            col(Run.lease_owner).is_not(None),
            col(Run.lease_expires_at) < now,
        )
        lapsed = list((await session.exec(stmt)).all())
    return sum([await _restart(rt, engine, run, "lease lapsed") for run in lapsed])


async def requeue(rt: Runtime, engine: Engine, now: datetime, *, after: timedelta) -> int:
    """Queued runs nobody holds and no live workflow will start (a lost enqueue, a worker that died before
    claiming) are enqueued again."""
    async with rt.sessions() as session:
        stmt = select(Run).where(
            col(Run.status) == RunStatus.QUEUED, col(Run.lease_owner).is_(None), col(Run.created_at) < now - after
        )
        idle = list((await session.exec(stmt)).all())
    moved = 0
    for run in idle:
        state = await engine.state(run.id, run.generation)
        if state is None:
            await engine.queue.enqueue(run.id, generation=run.generation)  # the enqueue never happened
            moved += 1
        elif state not in ("ENQUEUED", "PENDING", "DELAYED"):
            moved += await _restart(rt, engine, run, f"workflow {state.lower()}")
    return moved


async def dispatch_events(rt: Runtime, queue: run_requests.RunQueue) -> int:
    async with rt.sessions() as session:
        stmt = select(Event.connection_id).where(col(Event.dispatched_at).is_(None)).distinct()
        connections = list((await session.exec(stmt)).all())
        return sum([await events.dispatch(session, connection_id=c, queue=queue) for c in connections])


async def pass_once(rt: Runtime, engine: Engine, *, now: datetime | None = None) -> None:
    """One maintenance pass; each part logs and survives its own failure so the others still run."""
    now = now or utcnow()
    parts: list[tuple[str, Callable[[], Awaitable[object]]]] = [
        ("heartbeat", lambda: heartbeat(rt, now)),
        ("reap", lambda: reap(rt, engine, now)),
        ("requeue", lambda: requeue(rt, engine, now, after=timedelta(seconds=rt.lease_seconds * 2))),
        ("schedules", lambda: _fire(rt, engine, now)),
        ("events", lambda: dispatch_events(rt, engine.queue)),
        ("probes", lambda: quarantine.probe_due(rt, now=now)),
        ("digests", lambda: digest.send_due(rt, now=now)),
        ("progress", lambda: progress_schedule.fire_due(rt, now=now, spawn=engine.spawn)),
    ]
    for name, part in parts:
        try:
            await part()
        except Exception:  # one broken part must not stop the loop
            log.exception("maintenance.failed", part=name)


async def heartbeat(rt: Runtime, now: datetime) -> None:
    """Say this worker is alive (`/readyz`, the live-workers gauge)."""
    async with rt.sessions() as session:
        await repo_gauges.beat(session, worker_id=rt.owner, now=now)


async def _fire(rt: Runtime, engine: Engine, now: datetime) -> list[str]:
    async with rt.sessions() as session:
        return await schedules.fire_due(session, queue=engine.queue, now=now)
