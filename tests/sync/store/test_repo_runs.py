"""Runs and their op log on both databases: coalescing, status transitions, progress, op filters and outcomes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError

from enrolsync.sync.store import repo
from enrolsync.sync.store.tables import RunOpStatus, RunStatus
from tests.support.database import Database


async def _pipeline(db: Database, name: str = "p") -> str:
    async with db.sessions() as s:
        hr = await repo.create_connection(s, name=f"{name}-hr", connector="memory-source", config={})
        lms = await repo.create_connection(s, name=f"{name}-lms", connector="memory-target", config={})
        pipeline = await repo.create_pipeline(s, name=name, source_id=hr.id, target_id=lms.id, spec={})
        await s.commit()
    return pipeline.id


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
        assert await repo.get_pipeline(s, pipeline_id=pipeline_id) is not None
        await s.commit()
    assert (again.id, created_again) == (run.id, False)
    async with db.sessions() as s:
        await repo.set_run_status(s, run_id=run.id, status=RunStatus.RUNNING)
        # While one executes, the next waits queued (it may need what the running one read too late to see).
        waiting, created_waiting = await repo.create_run(
            s, pipeline_id=pipeline_id, trigger="admin", mode="plan", scope="full"
        )
        again_waiting, created_again_waiting = await repo.create_run(
            s, pipeline_id=pipeline_id, trigger="admin", mode="plan", scope="full"
        )
        await repo.set_run_status(s, run_id=run.id, status=RunStatus.SUCCEEDED)
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
        assert len(await repo.list_runs(s, pipeline_id=pipeline_id)) == 1


async def test_the_database_itself_refuses_two_active_runs(db: Database) -> None:
    pipeline_id = await _pipeline(db)
    async with db.sessions() as s:
        first, _ = await repo.create_run(s, pipeline_id=pipeline_id, trigger="admin", mode="plan", scope="full")
        await repo.set_run_status(s, run_id=first.id, status=RunStatus.BLOCKED)
        await repo.create_run(s, pipeline_id=pipeline_id, trigger="admin", mode="plan", scope="full")
        await s.commit()
        # Approving the blocked run while another is queued would make two active runs.
        with pytest.raises(IntegrityError):
            await repo.set_run_status(s, run_id=first.id, status=RunStatus.QUEUED)


async def test_create_run_for_a_missing_pipeline_fails(db: Database) -> None:
    async with db.sessions() as s:
        with pytest.raises(LookupError):
            await repo.create_run(s, pipeline_id="missing", trigger="admin", mode="plan", scope="full")


async def test_status_changes_stamp_times_and_honour_the_expected_status(db: Database) -> None:
    pipeline_id = await _pipeline(db)
    started, finished = datetime(2030, 1, 1, 8, tzinfo=UTC), datetime(2030, 1, 1, 9, tzinfo=UTC)
    async with db.sessions() as s:
        run, _ = await repo.create_run(s, pipeline_id=pipeline_id, trigger="admin", mode="apply", scope="full")
        running = await repo.set_run_status(
            s, run_id=run.id, status=RunStatus.RUNNING, from_statuses=[RunStatus.QUEUED], now=started
        )
        assert running is not None and running.started_at == started and running.finished_at is None
        # A second worker trying to take the same run finds it no longer queued.
        assert (
            await repo.set_run_status(s, run_id=run.id, status=RunStatus.RUNNING, from_statuses=[RunStatus.QUEUED])
            is None
        )
        done = await repo.set_run_status(s, run_id=run.id, status=RunStatus.FAILED, error="target down", now=finished)
        await s.commit()
    assert done is not None and (done.status, done.error) == (RunStatus.FAILED, "target down")
    async with db.sessions() as s:
        stored = await repo.get_run(s, run_id=run.id)
    assert stored is not None
    assert (stored.started_at, stored.finished_at) == (started, finished)
    assert stored.finished_at is not None and stored.finished_at.tzinfo is not None
    async with db.sessions() as s:
        assert await repo.set_run_status(s, run_id="missing", status=RunStatus.CANCELLED) is None


async def test_progress_adds_up_across_sessions(db: Database) -> None:
    pipeline_id = await _pipeline(db)
    async with db.sessions() as s:
        run, _ = await repo.create_run(s, pipeline_id=pipeline_id, trigger="admin", mode="apply", scope="full")
        await s.commit()

    async def page(n: int) -> None:
        async with db.sessions() as s:
            await repo.add_run_progress(s, run_id=run.id, people_read=n, ops_applied=1, counters={"created": 1})
            await s.commit()

    await asyncio.gather(*(page(n) for n in (10, 20, 30)))
    async with db.sessions() as s:
        after = await repo.add_run_progress(s, run_id=run.id, ops_planned=5, counters={"failed": 2})
        await s.commit()
    assert (after.people_read, after.ops_planned, after.ops_applied) == (60, 5, 3)
    assert after.counters == {"created": 3, "failed": 2}
    async with db.sessions() as s:
        with pytest.raises(LookupError):
            await repo.add_run_progress(s, run_id="missing", people_read=1)


async def test_runs_list_newest_first_in_pages(db: Database) -> None:
    first, second = await _pipeline(db, "a"), await _pipeline(db, "b")
    made: list[str] = []
    async with db.sessions() as s:
        for pipeline_id in (first, second, first, first):
            run, _ = await repo.create_run(s, pipeline_id=pipeline_id, trigger="admin", mode="plan", scope="full")
            await repo.set_run_status(s, run_id=run.id, status=RunStatus.SUCCEEDED)
            made.append(run.id)
        await s.commit()
        page1 = await repo.list_runs(s, pipeline_id=first, limit=2)
        page2 = await repo.list_runs(s, pipeline_id=first, limit=2, before=page1[-1].id)
        assert [r.id for r in page1 + page2] == [made[3], made[2], made[0]]
        assert [r.id for r in await repo.list_runs(s, status=RunStatus.SUCCEEDED)] == made[::-1]
        assert await repo.list_runs(s, status=[RunStatus.QUEUED, RunStatus.RUNNING]) == []


OPS: list[dict[str, Any]] = [
    {"kind": "create_user", "hr_id": "1", "fields": {"email": "ann@example.test"}},
    {"kind": "enrol", "hr_id": "1", "account_id": None, "course_id": "C1"},
    {"kind": "create_user", "hr_id": "2", "fields": {"email": "bob@example.test"}},
    {"kind": "enrol", "hr_id": "2", "account_id": None, "course_id": "C1"},
]


async def _run_with_ops(db: Database) -> str:
    pipeline_id = await _pipeline(db)
    async with db.sessions() as s:
        run, _ = await repo.create_run(s, pipeline_id=pipeline_id, trigger="admin", mode="apply", scope="full")
        assert await repo.add_run_ops(s, run_id=run.id, ops=OPS[:2]) == [1, 2]
        # A later batch continues the numbering.
        assert await repo.add_run_ops(s, run_id=run.id, ops=OPS[2:]) == [3, 4]
        await s.commit()
    return run.id


async def test_ops_are_stored_verbatim_in_plan_order_and_filterable(db: Database) -> None:
    run_id = await _run_with_ops(db)
    async with db.sessions() as s:
        everything = await repo.list_run_ops(s, run_id=run_id)
        assert [(o.seq, o.op) for o in everything] == list(enumerate(OPS, start=1))
        assert all(o.status == RunOpStatus.PLANNED and o.attempts == 0 for o in everything)
        assert [o.seq for o in await repo.list_run_ops(s, run_id=run_id, hr_id="2")] == [3, 4]
        assert [o.seq for o in await repo.list_run_ops(s, run_id=run_id, kind="enrol")] == [2, 4]
        assert [o.seq for o in await repo.list_run_ops(s, run_id=run_id, kind=["enrol", "create_user"], hr_id="1")] == [
            1,
            2,
        ]
        assert [o.seq for o in await repo.list_run_ops(s, run_id=run_id, after_seq=1, limit=2)] == [2, 3]
        assert await repo.list_run_ops(s, run_id="other") == []


async def test_op_outcomes_count_attempts_and_keep_refs(db: Database) -> None:
    run_id = await _run_with_ops(db)
    async with db.sessions() as s:
        await repo.record_op_outcome(s, run_id=run_id, seq=1, status=RunOpStatus.PLANNED, error="503 retry")
        await repo.record_op_outcome(s, run_id=run_id, seq=1, status=RunOpStatus.DONE, ref="u-17")
        await repo.record_op_outcome(s, run_id=run_id, seq=2, status=RunOpStatus.FAILED, error="course missing")
        await repo.record_op_outcome(s, run_id=run_id, seq=3, status=RunOpStatus.NOT_ATTEMPTED)
        await s.commit()
        with pytest.raises(LookupError):
            await repo.record_op_outcome(s, run_id=run_id, seq=99, status=RunOpStatus.DONE)
    async with db.sessions() as s:
        ops = {o.seq: o for o in await repo.list_run_ops(s, run_id=run_id)}
        assert (ops[1].status, ops[1].attempts, ops[1].last_error, ops[1].ref) == (RunOpStatus.DONE, 2, None, "u-17")
        assert (ops[2].status, ops[2].attempts, ops[2].last_error) == (RunOpStatus.FAILED, 1, "course missing")
        assert (ops[3].status, ops[3].attempts) == (RunOpStatus.NOT_ATTEMPTED, 0)
        unfinished = await repo.list_run_ops(s, run_id=run_id, status=[RunOpStatus.PLANNED, RunOpStatus.FAILED])
        assert [o.seq for o in unfinished] == [2, 4]


async def test_ops_without_kind_or_person_are_refused(db: Database) -> None:
    pipeline_id = await _pipeline(db)
    async with db.sessions() as s:
        run, _ = await repo.create_run(s, pipeline_id=pipeline_id, trigger="admin", mode="apply", scope="full")
        with pytest.raises(ValueError, match="no hr_id or kind"):
            await repo.add_run_ops(s, run_id=run.id, ops=[{"kind": "create_user"}])
