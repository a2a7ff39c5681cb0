"""Queueing runs on both databases: one waiting run per pipeline, requests coalesced into it or joining it."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from enrolsync.connectors.model import AccountFields
from enrolsync.connectors.ops import OP_ADAPTER, CreateUser, Enrol, Op
from enrolsync.sync.plan.order import PlanOrder
from enrolsync.sync.store import ledger, repo
from enrolsync.sync.store.tables import Pipeline, Run, RunOpStatus, RunStatus
from tests.support.database import Database


async def _pipeline(db: Database, name: str = "p") -> str:
    async with db.sessions() as s:
        hr = await repo.create_connection(s, name=f"{name}-hr", connector="memory-source", config={})
        lms = await repo.create_connection(s, name=f"{name}-lms", connector="memory-target", config={})
        pipeline = await repo.create_pipeline(s, name=name, source_id=hr.id, target_id=lms.id, spec={})
        await s.commit()
    return pipeline.id


async def _set_status(session: AsyncSession, run_id: str, status: RunStatus) -> None:
    """Move a run as the engine or an admin would (`lease.claim`, `steps.finish`, `control`), committing nothing."""
    await session.exec(sa.update(Run).where(col(Run.id) == run_id).values(status=status.value))


async def test_a_second_request_gets_the_active_run_instead_of_a_duplicate(db: Database) -> None:
    pipeline_id = await _pipeline(db)
    async with db.sessions() as s:
        run, created = await repo.create_run(
            s, pipeline_id=pipeline_id, trigger="admin", mode="plan", scope="people", hr_ids=["2", "1", "2"]
        )
        await s.commit()
    assert created and run.status == RunStatus.QUEUED and run.hr_ids == ["1", "2"] and run.pipeline_version == 1
    async with db.sessions() as s:
        again, created_again = await repo.create_run(
            s, pipeline_id=pipeline_id, trigger="webhook", mode="apply", scope="full"
        )
        # The caller's transaction is still usable after the coalesced insert (no aborted transaction on PG).
        assert await s.get(Pipeline, pipeline_id) is not None
        await s.commit()
    assert (again.id, created_again) == (run.id, False)
    async with db.sessions() as s:
        await _set_status(s, run.id, RunStatus.RUNNING)
        # While one executes, the next waits queued (it may need what the running one read too late to see).
        waiting, created_waiting = await repo.create_run(
            s, pipeline_id=pipeline_id, trigger="admin", mode="plan", scope="full"
        )
        again_waiting, created_again_waiting = await repo.create_run(
            s, pipeline_id=pipeline_id, trigger="admin", mode="plan", scope="full"
        )
        await _set_status(s, run.id, RunStatus.SUCCEEDED)
        await s.commit()
    assert created_waiting and waiting.id != run.id
    assert (again_waiting.id, created_again_waiting) == (waiting.id, False)


async def test_person_scoped_requests_join_the_waiting_run(db: Database) -> None:
    pipeline_id = await _pipeline(db)
    async with db.sessions() as s:
        first, _ = await repo.create_run(
            s, pipeline_id=pipeline_id, trigger="webhook", mode="apply", scope="people", hr_ids=["1"]
        )
        joined, created = await repo.create_run(
            s, pipeline_id=pipeline_id, trigger="webhook", mode="apply", scope="people", hr_ids=["3", "2"]
        )
        await s.commit()
    assert (joined.id, created, joined.hr_ids) == (first.id, False, ["1", "2", "3"])


async def test_concurrent_requests_from_separate_sessions_queue_exactly_one_run(db: Database) -> None:
    pipeline_id = await _pipeline(db)

    async def request() -> tuple[str, bool]:
        async with db.sessions() as s:
            run, created = await repo.create_run(s, pipeline_id=pipeline_id, trigger="admin", mode="plan", scope="full")
            await s.commit()
            return run.id, created

    results = await asyncio.gather(*(request() for _ in range(5)))
    assert len({run_id for run_id, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    async with db.sessions() as s:
        assert len((await s.exec(select(Run).where(Run.pipeline_id == pipeline_id))).all()) == 1


async def test_the_database_itself_refuses_two_active_runs(db: Database) -> None:
    pipeline_id = await _pipeline(db)
    async with db.sessions() as s:
        first, _ = await repo.create_run(s, pipeline_id=pipeline_id, trigger="admin", mode="plan", scope="full")
        await _set_status(s, first.id, RunStatus.BLOCKED)
        await repo.create_run(s, pipeline_id=pipeline_id, trigger="admin", mode="plan", scope="full")
        await s.commit()
        # Approving the blocked run while another is queued would make two active runs.
        with pytest.raises(IntegrityError):
            await _set_status(s, first.id, RunStatus.QUEUED)


async def test_create_run_for_a_missing_pipeline_fails(db: Database) -> None:
    async with db.sessions() as s:
        with pytest.raises(LookupError):
            await repo.create_run(s, pipeline_id="missing", trigger="admin", mode="plan", scope="full")


FIELDS = [AccountFields(username=n, given_name=n, family_name="X", email=f"{n}@example.test") for n in ("ann", "bob")]
OPS: list[Op] = [
    CreateUser(hr_id="1", fields=FIELDS[0]),
    Enrol(hr_id="1", course_id="C1"),
    CreateUser(hr_id="2", fields=FIELDS[1]),
    Enrol(hr_id="2", course_id="C1"),
]


async def test_planned_ops_are_stored_verbatim_and_read_back_in_plan_order_until_done(db: Database) -> None:
    pipeline_id = await _pipeline(db)
    async with db.sessions() as s:
        run, _ = await repo.create_run(s, pipeline_id=pipeline_id, trigger="admin", mode="apply", scope="full")
        # Stored chunk by chunk of people (one each here), numbered in plan order by the planner's `PlanOrder`.
        order, numbered = PlanOrder(), []
        for chunk in (OPS[:2], OPS[2:]):
            numbered += order.number(chunk)
            rows = [(seq, op.hr_id, op.kind.value, op.model_dump(mode="json")) for seq, op in numbered[-len(chunk) :]]
            await ledger.add_ops(s, run_id=run.id, ops=rows)
        await s.commit()
    async with db.sessions() as s:
        planned = await ledger.next_planned(s, run_id=run.id, limit=3)
        assert [(op.kind, op.hr_id) for op in planned] == [("create_user", "1"), ("create_user", "2"), ("enrol", "1")]
        assert [OP_ADAPTER.validate_json(op.op) for op in planned] == [op for _, op in sorted(numbered)][:3]
        assert all(op.status == RunOpStatus.PLANNED and op.attempts == 0 for op in planned)
        planned[0].status = RunOpStatus.DONE
        await ledger.save_outcomes(s, rows=[planned[0]])
        await s.commit()
        rest = await ledger.next_planned(s, run_id=run.id, limit=10)
        assert [(op.kind, op.hr_id) for op in rest] == [("create_user", "2"), ("enrol", "1"), ("enrol", "2")]
        assert await ledger.op_counts(s, run_id=run.id) == {
            "create_user": {"done": 1, "planned": 1},
            "enrol": {"planned": 2},
        }
        assert await ledger.next_planned(s, run_id="other", limit=10) == []
