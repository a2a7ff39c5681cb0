"""Progress read on a schedule of its own (issue 16), BambooHR fake -> engine -> Moodle fake: between runs, each
period's read happens once with two workers, asks Moodle only for what changed since the previous read started
(less the overlap), merges it into the stored progress, writes nothing to Moodle and starts no run; it waits
while a run holds the pipeline; a failed read changes nothing and the next one starts from the same point."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import httpx
from sqlmodel import col, select

from enrolsync.connectors.testing.fakes import FakeClock
from enrolsync.sync.jobs import maintenance, progress_schedule
from enrolsync.sync.store.repo_progress import progress_of
from enrolsync.sync.store.tables import EnrolmentProgress, ProgressRead, Run, utcnow
from tests.support.database import Database
from tests.support.harness import execute, make_runtime
from tests.support.systems import LMS_HOST, make_scenario
from tests.support.systems import Systems as Scenario

COMPLETION = "core_completion_get_course_completion_status"


def hour_after(moment: datetime, hours: int = 1) -> datetime:
    """A moment just past the hourly tick `hours` after `moment`."""
    return moment.replace(minute=0, second=0, microsecond=0) + timedelta(hours=hours, minutes=1)


async def reads(scenario: Scenario) -> list[ProgressRead]:
    async with scenario.db.sessions() as session:
        stmt = select(ProgressRead).where(col(ProgressRead.pipeline_id) == scenario.pipeline_id)
        return list((await session.exec(stmt.order_by(col(ProgressRead.started_at)))).all())


async def stored(scenario: Scenario, hr_id: str) -> dict[str, EnrolmentProgress]:
    names = {course_id: name for name, course_id in scenario.courses.items()}
    async with scenario.db.sessions() as session:
        rows = (await progress_of(session, pipeline_id=scenario.pipeline_id, hr_ids=[hr_id])).get(hr_id, [])
    return {names[row.course_id]: row for row in rows}


async def run_count(scenario: Scenario) -> int:
    async with scenario.db.sessions() as session:
        return len((await session.exec(select(Run).where(col(Run.pipeline_id) == scenario.pipeline_id))).all())


def completion_calls(scenario: Scenario) -> list[tuple[str, str]]:
    """(user id, course id) of each completion call Moodle received."""
    sent = [parse_qs(r.content.decode()) for r in scenario.lms.requests]
    return [(f["userid"][0], f["courseid"][0]) for f in sent if f.get("wsfunction") == [COMPLETION]]


def visit(scenario: Scenario, hr_id: str, course: str, at: datetime) -> None:
    """The learner opens the course at `at`, as Moodle records it (`lastcourseaccess`)."""
    scenario.lms.state.lastaccess[(scenario.account(hr_id).id, int(scenario.courses[course]))] = int(at.timestamp())


async def synced(scenario: Scenario) -> tuple[str, str, datetime]:
    """Ava (Engineering: SAFETY, SEC) and Ben (Sales: SAFETY, SALES), one full run; the full read's start."""
    ava = scenario.hire("Ava", "Abbott", "Engineering")
    ben = scenario.hire("Ben", "Brennan", "Sales")
    assert (await scenario.run()).status == "succeeded"
    [full] = await reads(scenario)
    assert (full.kind, full.status, full.since, full.seen) == ("full", "succeeded", None, 4)
    return ava, ben, full.started_at


async def test_a_completion_after_the_last_read_appears_after_the_scheduled_read_once_with_two_workers(
    scenario: Scenario,
) -> None:
    ava, ben, full_start = await synced(scenario)
    first, second = scenario.rt, replace(scenario.rt, owner="worker-b")
    now = utcnow()
    # A new schedule starts counting: no read at the first pass, however many workers.
    assert await progress_schedule.fire_due(first, now=now) == []
    assert await progress_schedule.fire_due(second, now=now) == []
    visit(scenario, ava, "SAFETY", now)
    scenario.lms.complete(scenario.account(ava).id, int(scenario.courses["SAFETY"]), int(now.timestamp()))
    writes, runs, asked = len(scenario.lms.writes), await run_count(scenario), len(completion_calls(scenario))
    assert (await stored(scenario, ava))["SAFETY"].state == "not_started"

    started = await asyncio.gather(
        progress_schedule.fire_due(first, now=hour_after(now)), progress_schedule.fire_due(second, now=hour_after(now))
    )

    assert sum(len(ids) for ids in started) == 1, "one read per period, whichever worker claims it"
    safety = (await stored(scenario, ava))["SAFETY"]
    assert (safety.state, safety.completed_at) == ("completed", now.replace(microsecond=0))
    assert (await stored(scenario, ava))["SEC"].state == "not_started"  # not listed, kept as stored
    assert set(await stored(scenario, ben)) == {"SAFETY", "SALES"}  # a merge drops nothing
    assert len(scenario.lms.writes) == writes, "a progress read writes nothing to Moodle"
    assert await run_count(scenario) == runs, "and starts no run"
    # Only the learner who opened a course since the last read was asked about completion.
    assert completion_calls(scenario)[asked:] == [(str(scenario.account(ava).id), scenario.courses["SAFETY"])]
    read = (await reads(scenario))[-1]
    assert (read.kind, read.status, read.run_id) == ("scheduled", "succeeded", None)
    assert read.since == full_start - timedelta(minutes=10)  # the stored previous start, less the overlap
    assert (read.seen, read.new, read.changed, read.completed) == (1, 0, 1, 1)
    assert read.finished_at is not None and read.finished_at >= read.started_at
    # The same period again: nothing; the next one reads from this read's start.
    assert await progress_schedule.fire_due(first, now=hour_after(now) + timedelta(minutes=20)) == []
    await progress_schedule.fire_due(second, now=hour_after(now, 2))
    assert (await reads(scenario))[-1].since == read.started_at - timedelta(minutes=10)


async def test_the_overlap_catches_a_visit_stamped_just_before_the_previous_read(scenario: Scenario) -> None:
    ava, ben, full_start = await synced(scenario)
    now = utcnow()
    await progress_schedule.fire_due(scenario.rt, now=now)
    # Moodle's clock runs behind: visits that happened after the full read are stamped before it started.
    visit(scenario, ava, "SAFETY", full_start - timedelta(minutes=5))  # inside the 10-minute overlap
    visit(scenario, ben, "SAFETY", full_start - timedelta(minutes=15))  # outside it
    for hr_id in (ava, ben):
        scenario.lms.complete(scenario.account(hr_id).id, int(scenario.courses["SAFETY"]), int(now.timestamp()))

    await progress_schedule.fire_due(scenario.rt, now=hour_after(now))

    assert (await stored(scenario, ava))["SAFETY"].state == "completed"
    assert (await stored(scenario, ben))["SAFETY"].state == "not_started"  # missed until the next full run
    assert (await scenario.run()).status == "succeeded"
    assert (await stored(scenario, ben))["SAFETY"].state == "completed"


async def test_a_run_holding_the_pipeline_holds_the_read_back(scenario: Scenario) -> None:
    ava, _, _ = await synced(scenario)
    now = utcnow()
    await progress_schedule.fire_due(scenario.rt, now=now)
    run_id = await scenario.request(scope="incremental")

    assert await progress_schedule.fire_due(scenario.rt, now=hour_after(now)) == [], "the run holds the pipeline"

    await execute(scenario.rt, run_id)
    visit(scenario, ava, "SAFETY", now)
    assert len(await progress_schedule.fire_due(scenario.rt, now=hour_after(now) + timedelta(minutes=2))) == 1
    assert (await stored(scenario, ava))["SAFETY"].state == "in_progress"


async def test_a_failed_read_changes_nothing_and_the_next_starts_from_the_same_point(scenario: Scenario) -> None:
    ava, _, full_start = await synced(scenario)
    now = utcnow()
    await progress_schedule.fire_due(scenario.rt, now=now)
    visit(scenario, ava, "SAFETY", now)
    scenario.lms.service_functions.discard(COMPLETION)  # the token's service lost the function

    await progress_schedule.fire_due(scenario.rt, now=hour_after(now))

    failed = (await reads(scenario))[-1]
    assert failed.status == "failed" and "may not call this function" in (failed.error or "")
    assert (await stored(scenario, ava))["SAFETY"].state == "not_started"
    scenario.lms.service_functions.add(COMPLETION)
    await progress_schedule.fire_due(scenario.rt, now=hour_after(now, 2))
    retried = (await reads(scenario))[-1]
    assert (retried.status, retried.since) == ("succeeded", full_start - timedelta(minutes=10))
    assert (await stored(scenario, ava))["SAFETY"].state == "in_progress"


async def test_a_pipeline_without_a_progress_schedule_reads_only_on_full_runs(db: Database) -> None:
    scenario = await make_scenario(db, progress=None)
    await synced(scenario)
    now = utcnow()

    for moment in (now, hour_after(now), hour_after(now, 5)):
        assert await progress_schedule.fire_due(scenario.rt, now=moment) == []
    assert [r.kind for r in await reads(scenario)] == ["full"]


async def test_a_worker_runs_the_read_beside_its_maintenance_loop(scenario: Scenario) -> None:
    ava, _, _ = await synced(scenario)
    now = utcnow()
    jobs: list[Coroutine[Any, Any, None]] = []
    engine = maintenance.Engine(queue=scenario.queue, state=no_workflow, abandon=nothing, spawn=jobs.append)
    await maintenance.pass_once(scenario.rt, engine, now=now)
    visit(scenario, ava, "SAFETY", now)

    await maintenance.pass_once(scenario.rt, engine, now=hour_after(now))

    [job] = jobs  # handed to the worker's task instead of awaited in the pass
    assert (await reads(scenario))[-1].status == "running"
    assert (await stored(scenario, ava))["SAFETY"].state == "not_started"
    await maintenance.pass_once(scenario.rt, engine, now=hour_after(now, 2))
    assert len(jobs) == 1, "a read going on holds the next one back"
    await job
    assert (await reads(scenario))[-1].status == "succeeded"
    assert (await stored(scenario, ava))["SAFETY"].state == "in_progress"


async def no_workflow(run_id: str, generation: int) -> str | None:
    return None


async def nothing(run_id: str, generation: int) -> None:
    return None


class Stalled(httpx.AsyncBaseTransport):
    """An LMS that never answers (a worker stops while its read waits on it)."""

    def __init__(self) -> None:
        self.asked = asyncio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.asked.set()
        await asyncio.Event().wait()
        raise AssertionError("never answered")


async def test_a_read_stopped_with_its_worker_is_recorded_and_holds_nothing_back(scenario: Scenario) -> None:
    ava, _, _ = await synced(scenario)
    lms = Stalled()
    stalled = make_runtime(
        scenario.db.sessions, scenario.rt.registry, scenario.rt.box, clock=FakeClock(), transports={LMS_HOST: lms}
    )
    now = utcnow()
    await progress_schedule.fire_due(stalled, now=now)
    tasks: list[asyncio.Task[None]] = []
    await progress_schedule.fire_due(
        stalled, now=hour_after(now), spawn=lambda job: tasks.append(asyncio.ensure_future(job))
    )
    await lms.asked.wait()

    tasks[0].cancel()  # what `worker.stop` does with a read in flight
    await asyncio.gather(*tasks, return_exceptions=True)

    stopped = (await reads(scenario))[-1]
    assert (stopped.status, stopped.error) == ("failed", "stopped: CancelledError")
    visit(scenario, ava, "SAFETY", now)
    assert len(await progress_schedule.fire_due(scenario.rt, now=hour_after(now, 2))) == 1
    assert (await stored(scenario, ava))["SAFETY"].state == "in_progress"
