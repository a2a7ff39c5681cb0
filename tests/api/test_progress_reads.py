"""Progress reads on the API (issue 16): each read, a full run's or a scheduled one, with what it asked for
(`since`), what it found and how long it took; a scheduled read's news shows in the team view without a run; the
pipeline document carries its progress schedule, which an admin can change or switch off."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx

from enrolsync.connectors.memory.state import Dataset
from enrolsync.connectors.model import Progress, ProgressState
from enrolsync.sync.jobs import maintenance, progress_schedule
from enrolsync.sync.run.context import Runtime
from enrolsync.sync.store.tables import utcnow
from tests.support.api import Execute, create_pipeline, run
from tests.support.assertions import assert_problem
from tests.support.factories import RULES, team
from tests.support.harness import RecordingQueue


def parse(moment: str) -> datetime:
    return datetime.fromisoformat(moment.replace("Z", "+00:00"))


async def test_a_scheduled_read_shows_in_the_team_view_and_in_the_reads(
    client: httpx.AsyncClient, ends: tuple[str, str], memory: tuple[str, Dataset], execute: Execute, runtime: Runtime
) -> None:
    team(memory[1])
    pid = await create_pipeline(client, ends)
    assert (await client.get(f"/pipelines/{pid}")).json()["spec"]["progress"] == {
        "schedule": "0 * * * *",
        "overlap_minutes": 10,
    }
    await run(client, execute, pid)
    a = (await client.get(f"/pipelines/{pid}/people/A")).json()["account_id"]
    now = utcnow()
    await progress_schedule.fire_due(runtime, now=now)
    memory[1].lms.progress[(a, "C1")] = Progress(account_id=a, course_id="C1", state=ProgressState.COMPLETED)
    writes = memory[1].lms.writes
    # The worker's maintenance pass starts it (here awaited in the pass: no spawn).
    engine = maintenance.Engine(queue=RecordingQueue(), state=_no_state, abandon=_nothing)
    await maintenance.pass_once(runtime, engine, now=now.replace(minute=0, second=0) + timedelta(hours=1, minutes=1))

    team_view = (await client.get(f"/pipelines/{pid}/teams/M")).json()
    a_c1 = next(e for m in team_view["members"] if m["hr_id"] == "A" for e in m["enrolments"] if e["course"] == "C1")
    assert a_c1["progress"] == "completed"
    assert memory[1].lms.writes == writes
    page = (await client.get(f"/pipelines/{pid}/progress/reads")).json()
    scheduled, full = page["items"]
    assert (full["kind"], full["status"], full["since"], full["seen"], full["new"]) == ("full", "succeeded", None, 9, 9)
    assert full["run_id"] is not None and full["duration_seconds"] >= 0
    assert (scheduled["kind"], scheduled["status"], scheduled["run_id"]) == ("scheduled", "succeeded", None)
    assert parse(scheduled["since"]) == parse(full["started_at"]) - timedelta(minutes=10)
    # The memory target ignores `since` and lists everything: merged, only A's C1 changed.
    assert (scheduled["seen"], scheduled["new"], scheduled["changed"], scheduled["completed"]) == (9, 0, 1, 1)
    one = (await client.get(f"/pipelines/{pid}/progress/reads", params={"limit": 1})).json()
    assert [r["id"] for r in one["items"]] == [scheduled["id"]] and one["next"]
    rest = (await client.get(f"/pipelines/{pid}/progress/reads", params={"limit": 1, "after": one["next"]})).json()
    assert [r["id"] for r in rest["items"]] == [full["id"]]


async def test_reads_of_an_unknown_pipeline_are_404(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/pipelines/nope/progress/reads"), 404)


async def test_the_progress_schedule_can_be_changed_and_switched_off(
    client: httpx.AsyncClient, ends: tuple[str, str]
) -> None:
    pid = await create_pipeline(client, ends, {**RULES, "progress": {"schedule": "*/15 * * * *"}})
    assert (await client.get(f"/pipelines/{pid}")).json()["spec"]["progress"]["schedule"] == "*/15 * * * *"
    bad = await client.patch(f"/pipelines/{pid}", json={"spec": {**RULES, "progress": {"schedule": "hourly"}}})
    assert_problem(bad, 422)

    off = await client.patch(f"/pipelines/{pid}", json={"spec": {**RULES, "progress": None}})

    assert off.status_code == 200 and off.json()["spec"]["progress"] is None


async def _no_state(run_id: str, generation: int) -> str | None:
    return None


async def _nothing(run_id: str, generation: int) -> None:
    return None
