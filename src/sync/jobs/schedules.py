"""Pipeline schedules: cron ticks start incremental runs (and full reconciles), once per missed window.

Each pipeline keeps the last tick it acted on; a tick is due when the most recent cron time is later than that.
A service that was down for ten ticks therefore starts one run, not ten. The tick is claimed with a
compare-and-set, so several workers sharing a database start it once.
(DBOS's scheduler either skips missed ticks or backfills each one; neither is what an admin expects here.)
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
import structlog
from croniter import croniter
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from enrolsync.sync.jobs import run_requests
from enrolsync.sync.run import quarantine
from enrolsync.sync.store.tables import Pipeline, RunScope, ScheduleState

log = structlog.get_logger("enrolsync.schedules")

KINDS: dict[RunScope, str] = {"incremental": "schedule", "full": "full_reconcile_schedule"}


def latest_tick(expression: str, now: datetime) -> datetime:
    """The most recent time at or before `now` that the cron expression names (UTC)."""
    tick: datetime = croniter(expression, now).get_prev(datetime)
    if croniter.match(expression, now.replace(second=0, microsecond=0)) and now.second == 0 == now.microsecond:
        return now
    return tick


async def claim_tick(session: AsyncSession, pipeline_id: str, kind: str, tick: datetime, now: datetime) -> bool:
    """Act on `tick` of the pipeline's `kind` schedule: True for exactly one caller (a compare-and-set). Commits."""
    state = await session.get(ScheduleState, (pipeline_id, kind))
    if state is None:
        # A new schedule starts counting now: creating a pipeline does not fire every past tick.
        session.add(ScheduleState(pipeline_id=pipeline_id, kind=kind, last_tick_at=now))
        await session.commit()
        return False
    if state.last_tick_at >= tick:
        return False
    stmt = (
        sa.update(ScheduleState)
        .where(
            col(ScheduleState.pipeline_id) == pipeline_id,
            col(ScheduleState.kind) == kind,
            col(ScheduleState.last_tick_at) == state.last_tick_at,
        )
        .values(last_tick_at=tick)
    )
    won = (await (await session.connection()).execute(stmt)).rowcount == 1
    await session.commit()
    return bool(won)


async def fire_due(session: AsyncSession, *, queue: run_requests.RunQueue, now: datetime) -> list[str]:
    """Start the runs whose schedule ticked since it last acted; returns the run ids requested."""
    started: list[str] = []
    for pipeline in (await session.exec(select(Pipeline))).all():
        for scope, key in KINDS.items():
            expression = pipeline.spec.get(key)
            if not expression:
                continue
            tick = latest_tick(expression, now)
            held = await quarantine.holds(session, pipeline.id, now=now)
            if held is not None:
                # The tick stays unclaimed: the pipeline runs once as soon as it may again.
                log.debug("schedule.held", pipeline_id=pipeline.id, scope=scope, why=held[:200])
                continue
            if await claim_tick(session, pipeline.id, scope, tick, now):
                run, _ = await run_requests.request_run(
                    session, pipeline_id=pipeline.id, mode="apply", scope=scope, trigger="schedule", queue=queue
                )
                log.info("schedule.fired", pipeline_id=pipeline.id, scope=scope, tick=tick.isoformat(), run_id=run.id)
                started.append(run.id)
    return started
