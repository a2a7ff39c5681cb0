"""Schedules: each pipeline's cron starts runs; ticks missed while everything was down start one run, not N."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from enrolsync.sync.jobs import schedules
from enrolsync.sync.store.tables import Pipeline, Run
from tests.support.database import Database
from tests.support.factories import RULES
from tests.support.harness import make_engine

pytestmark = pytest.mark.usefixtures("cleanup_datasets")

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def test_latest_tick_is_the_most_recent_cron_time() -> None:
    assert schedules.latest_tick("0 * * * *", T0) == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert schedules.latest_tick("0 * * * *", datetime(2026, 3, 2, 9, 0, tzinfo=UTC)) == datetime(
        2026, 3, 2, 9, 0, tzinfo=UTC
    )
    assert schedules.latest_tick("30 2 * * 1", T0) == datetime(2026, 3, 2, 2, 30, tzinfo=UTC)


async def _runs(db: Database) -> list[Run]:
    async with db.sessions() as session:
        return list((await session.exec(select(Run))).all())


async def test_missed_ticks_start_one_run_and_each_new_tick_one_more(db: Database) -> None:
    engine = await make_engine(db, spec={**RULES, "schedule": "0 * * * *", "full_reconcile_schedule": "0 3 * * *"})
    async with db.sessions() as session:
        assert await schedules.fire_due(session, queue=engine.queue, now=T0) == []  # a new schedule starts counting

    # Everything was down for twenty hours: twenty hourly ticks and the nightly one (03:00) were missed.
    async with db.sessions() as session:
        fired = await schedules.fire_due(session, queue=engine.queue, now=T0 + timedelta(hours=20, minutes=5))
    [run] = await _runs(db)
    assert len(fired) == 2 and set(fired) == {run.id}
    # The nightly full reconcile widened the queued incremental run rather than being lost in it.
    assert (run.scope, run.trigger, run.mode) == ("full", "schedule", "apply")
    async with db.sessions() as session:
        assert await schedules.fire_due(session, queue=engine.queue, now=T0 + timedelta(hours=20, minutes=20)) == []
    async with db.sessions() as session:
        assert len(await schedules.fire_due(session, queue=engine.queue, now=T0 + timedelta(hours=21, minutes=1))) == 1


async def test_workers_racing_on_one_tick_fire_it_once(db: Database) -> None:
    engine = await make_engine(db, spec={**RULES, "schedule": "*/15 * * * *"})
    async with db.sessions() as session:
        await schedules.fire_due(session, queue=engine.queue, now=T0)

    async def worker() -> list[str]:
        async with db.sessions() as session:
            return await schedules.fire_due(session, queue=engine.queue, now=T0 + timedelta(minutes=16))

    results = await asyncio.gather(*(worker() for _ in range(4)))
    assert sum(len(r) for r in results) == 1
    assert len(await _runs(db)) == 1


async def test_a_pipeline_without_a_schedule_never_fires(db: Database) -> None:
    engine = await make_engine(db)
    async with db.sessions() as session:
        pipeline = (await session.exec(select(Pipeline))).one()
        assert pipeline.spec.get("schedule") is None
        assert await schedules.fire_due(session, queue=engine.queue, now=T0 + timedelta(days=3)) == []


async def test_a_scheduled_pipeline_can_be_deleted_with_its_schedule_state(db: Database) -> None:
    from enrolsync.sync.store import repo

    engine = await make_engine(db, spec={**RULES, "schedule": "0 * * * *"})
    async with db.sessions() as session:
        await schedules.fire_due(session, queue=engine.queue, now=T0)
        assert await repo.delete_pipeline(session, pipeline_id=engine.pipeline_id)
        await session.commit()
        assert await session.get(Pipeline, engine.pipeline_id) is None
