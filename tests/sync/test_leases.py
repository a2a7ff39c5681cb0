"""Who executes a run: leases, take-over of a dead worker's run, fencing of the old attempt, hand-over on stop."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import col

from enrolsync.sync.jobs import maintenance
from enrolsync.sync.run import lease, steps
from enrolsync.sync.store.tables import Run, RunOp, RunOpStatus, RunStatus, utcnow
from tests.conftest import Database
from tests.sync.conftest import Engine, make_engine
from tests.sync.test_runner import seed

pytestmark = pytest.mark.usefixtures("cleanup_datasets")


class FakeJobs:
    """The job engine as maintenance sees it: what was enqueued and abandoned, and workflow states."""

    def __init__(self) -> None:
        self.enqueued: list[tuple[str, int]] = []
        self.abandoned: list[tuple[str, int]] = []
        self.states: dict[tuple[str, int], str] = {}

    async def enqueue(self, run_id: str, *, generation: int = 0) -> None:
        self.enqueued.append((run_id, generation))

    async def state(self, run_id: str, generation: int) -> str | None:
        return self.states.get((run_id, generation))

    async def abandon(self, run_id: str, generation: int) -> None:
        self.abandoned.append((run_id, generation))

    def engine(self) -> maintenance.Engine:
        return maintenance.Engine(queue=self, state=self.state, abandon=self.abandon)


async def _queued(engine: Engine) -> str:
    async with engine.db.sessions() as session:
        from enrolsync.sync.jobs import run_requests

        run, _ = await run_requests.request_run(
            session, pipeline_id=engine.pipeline_id, mode="apply", scope="full", queue=engine.queue
        )
        return run.id


async def _lapse(engine: Engine, run_id: str) -> None:
    async with engine.db.sessions() as session:
        stmt = sa.update(Run).where(col(Run.id) == run_id).values(lease_expires_at=utcnow() - timedelta(seconds=5))
        await (await session.connection()).execute(stmt)
        await session.commit()


@pytest.fixture
async def engine(db: Database) -> Engine:
    built = await make_engine(db)
    seed(built)
    return built


async def test_a_live_lease_keeps_other_workers_out(engine: Engine) -> None:
    run_id = await _queued(engine)
    other = dataclasses.replace(engine.rt, owner="worker-b")
    assert await steps.begin(engine.rt, run_id) is lease.Claim.GO
    assert await steps.begin(other, run_id) is lease.Claim.SKIP
    assert (await engine.get_run(run_id)).lease_owner == "local"


async def test_a_dead_workers_run_is_taken_over_and_the_old_attempt_fenced(engine: Engine) -> None:
    run_id = await _queued(engine)
    assert await steps.begin(engine.rt, run_id) is lease.Claim.GO
    await steps.plan(engine.rt, run_id)
    await _lapse(engine, run_id)  # the worker died: nobody renews
    jobs = FakeJobs()

    await maintenance.pass_once(engine.rt, jobs.engine())

    assert jobs.abandoned == [(run_id, 0)] and jobs.enqueued == [(run_id, 1)]
    assert await lease.renew(engine.rt, run_id, 0) is False, "the old generation may write nothing more"
    survivor = dataclasses.replace(engine.rt, owner="worker-b")
    assert await steps.execute(survivor, run_id, generation=1) == "succeeded"
    assert len(engine.data.lms.accounts) == 4
    await maintenance.pass_once(engine.rt, jobs.engine())
    assert jobs.enqueued == [(run_id, 1)], "a finished run is not taken over again"


async def test_a_run_waits_while_its_pipelines_other_run_executes(engine: Engine) -> None:
    first = await _queued(engine)
    assert await steps.begin(engine.rt, first) is lease.Claim.GO
    second = await _queued(engine)
    assert second != first
    assert await steps.begin(engine.rt, second) is lease.Claim.WAIT
    assert await steps.finish(engine.rt, first) in ("succeeded", "partially_failed", "failed")
    assert await steps.begin(engine.rt, second) is lease.Claim.GO


async def test_stopping_hands_the_run_over_between_batches_without_repeating_effects(engine: Engine) -> None:
    run_id = await _queued(engine)
    stopping = dataclasses.replace(engine.rt, chunk=1, stopping=asyncio.Event())
    stopping.stopping.set()  # SIGTERM arrived: the worker stops at its first batch boundary
    assert await steps.execute(stopping, run_id) == "interrupted"
    run = await engine.get_run(run_id)
    assert run.status == RunStatus.RUNNING and run.lease_expires_at is not None and run.lease_expires_at < utcnow()
    assert {op.status for op in await engine.ops(run_id)} == {RunOpStatus.PLANNED}
    jobs = FakeJobs()

    await maintenance.pass_once(engine.rt, jobs.engine())
    resumed = dataclasses.replace(engine.rt, owner="worker-b", stopping=asyncio.Event())

    assert jobs.enqueued == [(run_id, 1)]
    assert await steps.execute(resumed, run_id, generation=1) == "succeeded"
    assert engine.data.lms.writes == len(await engine.ops(run_id))


async def test_a_queued_run_whose_enqueue_was_lost_is_enqueued_again(engine: Engine) -> None:
    run_id = await _queued(engine)
    jobs = FakeJobs()
    async with engine.db.sessions() as session:
        stmt = sa.update(Run).where(col(Run.id) == run_id).values(created_at=utcnow() - timedelta(minutes=5))
        await (await session.connection()).execute(stmt)
        await session.commit()

    await maintenance.pass_once(engine.rt, jobs.engine())
    assert jobs.enqueued == [(run_id, 0)]

    jobs.states[(run_id, 0)] = "ENQUEUED"  # now the engine has it: nothing more to do
    await maintenance.pass_once(engine.rt, jobs.engine())
    assert jobs.enqueued == [(run_id, 0)]


async def test_a_plan_left_half_written_by_a_crash_is_planned_again(engine: Engine) -> None:
    run_id = await _queued(engine)
    assert await steps.begin(engine.rt, run_id) is lease.Claim.GO
    await steps.plan(engine.rt, run_id)
    complete = sorted((op.kind, op.hr_id, op.op.get("course_id")) for op in await engine.ops(run_id))
    # The worker died while planning: some ops stored, the plan not marked complete.
    async with engine.db.sessions() as session:
        run = await session.get(Run, run_id)
        assert run is not None
        run.planned = False
        session.add(run)
        ops = await session.exec(sa.select(RunOp).where(col(RunOp.run_id) == run_id))  # type: ignore[call-overload]
        for op in list(ops.scalars())[3:]:
            await session.delete(op)
        await session.commit()

    await steps.plan(engine.rt, run_id)

    assert sorted((op.kind, op.hr_id, op.op.get("course_id")) for op in await engine.ops(run_id)) == complete
