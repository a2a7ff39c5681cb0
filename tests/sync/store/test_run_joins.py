"""Joining a waiting run under load (issue 20, item 0): every request that is told "your people are in run X"
finds them in run X, however many arrive at once and however often the waiting run starts meanwhile.

Each request has its own session (its own connection: on SQLite several connections to one file, as the API and
the worker hold in production), so the database, not the event loop, decides who wins each race.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import sqlalchemy as sa
from sqlmodel import col, select

from enrolsync.sync.jobs import run_requests
from enrolsync.sync.store import repo
from enrolsync.sync.store.tables import Run, RunStatus
from tests.support.database import Database
from tests.support.harness import RecordingQueue

PEOPLE = 80


async def _pipeline(db: Database) -> str:
    async with db.sessions() as s:
        hr = await repo.create_connection(s, name="hr", connector="memory-source", config={})
        lms = await repo.create_connection(s, name="lms", connector="memory-target", config={})
        pipeline = await repo.create_pipeline(s, name="p", source_id=hr.id, target_id=lms.id, spec={})
        await s.commit()
    return pipeline.id


async def _request(
    db: Database, pipeline_id: str, hr_id: str, queue: RecordingQueue, answered: asyncio.Event | None = None
) -> tuple[str, str]:
    async with db.sessions() as s:
        run, _ = await run_requests.request_run(
            s, pipeline_id=pipeline_id, mode="apply", scope="people", hr_ids=[hr_id], trigger="webhook", queue=queue
        )
    if answered is not None:
        answered.set()
    return hr_id, run.id


async def _worker(db: Database, pipeline_id: str, answered: asyncio.Event, done: asyncio.Event) -> int:
    """Start the waiting run and finish the running one, as workers do while requests arrive: a round after each
    answer (not in a tight loop, which on SQLite could hold the write lock long enough to starve the requests)."""
    starts = 0
    while not done.is_set():
        await answered.wait()
        answered.clear()
        async with db.sessions() as s:
            running = sa.update(Run).where(col(Run.pipeline_id) == pipeline_id, col(Run.status) == RunStatus.RUNNING)
            await s.exec(running.values(status=RunStatus.SUCCEEDED))
            waiting = sa.update(Run).where(col(Run.pipeline_id) == pipeline_id, col(Run.status) == RunStatus.QUEUED)
            starts += (await s.exec(waiting.values(status=RunStatus.RUNNING))).rowcount
            await s.commit()
    return starts


async def _everyone_in_the_run_they_were_told(db: Database, pipeline_id: str, told: list[tuple[str, str]]) -> None:
    async with db.sessions() as s:
        runs = {r.id: r for r in (await s.exec(select(Run).where(Run.pipeline_id == pipeline_id))).all()}
    lost = [(hr_id, run_id) for hr_id, run_id in told if hr_id not in runs[run_id].hr_ids]
    assert not lost, f"{len(lost)} of {len(told)} requests were told a run that does not hold their person"
    # Each person was requested once, so each is in exactly one run: none was added to a run nobody named.
    placed = Counter(hr_id for run in runs.values() for hr_id in run.hr_ids)
    assert placed == Counter(hr_id for hr_id, _ in told)
    assert all(run.scope == "people" and run.mode == "apply" for run in runs.values())


async def test_a_burst_of_person_scoped_requests_joins_one_waiting_run_without_losing_anyone(db: Database) -> None:
    pipeline_id = await _pipeline(db)
    queue = RecordingQueue()

    told = await asyncio.gather(*(_request(db, pipeline_id, f"P{n}", queue) for n in range(PEOPLE)))

    await _everyone_in_the_run_they_were_told(db, pipeline_id, list(told))
    assert len({run_id for _, run_id in told}) == 1 and len(queue.ids) == 1, "no worker: all wait in one run"


async def test_requests_racing_a_worker_that_keeps_starting_the_waiting_run_lose_no_one(db: Database) -> None:
    pipeline_id = await _pipeline(db)
    queue = RecordingQueue()
    answered, done = asyncio.Event(), asyncio.Event()
    worker = asyncio.create_task(_worker(db, pipeline_id, answered, done))

    try:
        told = await asyncio.gather(*(_request(db, pipeline_id, f"P{n}", queue, answered) for n in range(PEOPLE)))
    finally:
        done.set()
        answered.set()  # let a worker waiting for the next answer see that there is none
        starts = await worker

    await _everyone_in_the_run_they_were_told(db, pipeline_id, list(told))
    assert sorted(queue.ids) == sorted({run_id for _, run_id in told}), "each run made is handed to the queue once"
    assert starts >= 1
