"""Progress read back from the learning platform (issue 16): a change in the LMS shows in the team view after the
next full run; team summaries, summaries by department/location/manager that add up, and CSV exports."""

from __future__ import annotations

import copy
import csv
import io
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest

from enrolsync.connectors.errors import AuthError
from enrolsync.connectors.memory.state import Dataset
from enrolsync.connectors.model import Progress, ProgressState
from enrolsync.sync.run.context import Runtime
from tests.support.api import Clock, Execute, create_pipeline, run
from tests.support.assertions import assert_problem
from tests.support.factories import RULES, team

DONE = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


@pytest.fixture
async def synced(
    client: httpx.AsyncClient, ends: tuple[str, str], memory: tuple[str, Dataset], execute: Execute
) -> str:
    """M leads A (Engineering: C1, C2, C3) and B (Sales: C1); A leads C (C1, C2). One applied full run."""
    team(memory[1])
    pid = await create_pipeline(client, ends)
    assert (await run(client, execute, pid))["status"] == "succeeded"
    return pid


async def account(client: httpx.AsyncClient, pid: str, hr_id: str) -> str:
    found: str = (await client.get(f"/pipelines/{pid}/people/{hr_id}")).json()["account_id"]
    return found


def progress(member: dict[str, Any]) -> dict[str, str | None]:
    return {e["course"]: e["progress"] for e in member["enrolments"]}


def by_hr_id(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["hr_id"]: m for m in body["members"]}


def courses(summary: dict[str, Any]) -> dict[str, tuple[int, int, int, float | None]]:
    return {
        c["course"]: (c["enrolled"], c["in_progress"], c["completed"], c["completion_rate"]) for c in summary["courses"]
    }


async def test_a_full_run_reads_progress_and_counts_it(client: httpx.AsyncClient, synced: str) -> None:
    body = (await client.get(f"/pipelines/{synced}/teams/M")).json()

    # Read back right after the enrolments were applied: everyone enrolled, nobody started.
    assert progress(by_hr_id(body)["A"]) == {"C1": "not_started", "C2": "not_started", "C3": "not_started"}
    assert progress(by_hr_id(body)["B"]) == {"C1": "not_started"}
    assert courses(body["summary"]) == {"C1": (2, 0, 0, 0.0), "C2": (1, 0, 0, 0.0), "C3": (1, 0, 0, 0.0)}
    assert (body["summary"]["people"], body["summary"]["newest_completions"]) == (2, [])


async def test_a_progress_change_in_the_lms_shows_after_the_next_full_run(
    client: httpx.AsyncClient, synced: str, memory: tuple[str, Dataset], execute: Execute
) -> None:
    a, b = await account(client, synced, "A"), await account(client, synced, "B")
    lms = memory[1].lms
    lms.progress[(a, "C1")] = Progress(
        account_id=a, course_id="C1", state=ProgressState.COMPLETED, completed_at=DONE, last_activity_at=DONE
    )
    lms.progress[(b, "C1")] = Progress(account_id=b, course_id="C1", state=ProgressState.IN_PROGRESS, percent=40)
    writes = lms.writes

    before = (await client.get(f"/pipelines/{synced}/teams/M")).json()
    finished = await run(client, execute, synced)
    after = (await client.get(f"/pipelines/{synced}/teams/M")).json()

    assert progress(by_hr_id(before)["A"])["C1"] == "not_started"  # not read until the next run
    assert finished["counters"]["progress"] == {"seen": 9, "new": 0, "changed": 2, "completed": 1, "error": None}
    assert lms.writes == writes  # reading progress wrote nothing
    a_c1 = next(e for e in by_hr_id(after)["A"]["enrolments"] if e["course"] == "C1")
    assert (a_c1["progress"], a_c1["completed_at"], a_c1["applied"]) == ("completed", "2026-11-20T09:30:00Z", True)
    b_c1 = next(e for e in by_hr_id(after)["B"]["enrolments"] if e["course"] == "C1")
    assert (b_c1["progress"], b_c1["percent"]) == ("in_progress", 40.0)
    assert courses(after["summary"])["C1"] == (2, 1, 1, 0.5)
    assert after["summary"]["newest_completions"] == [
        {"hr_id": "A", "name": "GivenA Example", "course": "C1", "completed_at": "2026-11-20T09:30:00Z"}
    ]


async def test_incremental_runs_do_not_read_progress(
    client: httpx.AsyncClient, synced: str, memory: tuple[str, Dataset], execute: Execute
) -> None:
    a = await account(client, synced, "A")
    memory[1].lms.progress[(a, "C1")] = Progress(account_id=a, course_id="C1", state=ProgressState.COMPLETED)

    finished = await run(client, execute, synced, scope="incremental")

    assert finished["counters"]["progress"] is None
    body = (await client.get(f"/pipelines/{synced}/teams/M")).json()
    assert progress(by_hr_id(body)["A"])["C1"] == "not_started"


async def test_subtree_summary_counts_indirect_reports(client: httpx.AsyncClient, synced: str) -> None:
    body = (await client.get(f"/pipelines/{synced}/teams/M", params={"depth": 2})).json()

    assert body["summary"]["people"] == 3  # A, B and C (A's report)
    assert courses(body["summary"])["C1"] == (3, 0, 0, 0.0)
    assert courses(body["summary"])["C2"] == (2, 0, 0, 0.0)


async def test_summaries_add_up_and_match_the_teams(
    client: httpx.AsyncClient, synced: str, memory: tuple[str, Dataset], execute: Execute
) -> None:
    a = await account(client, synced, "A")
    memory[1].lms.progress[(a, "C2")] = Progress(account_id=a, course_id="C2", state=ProgressState.COMPLETED)
    await run(client, execute, synced)

    for by in ("department", "location", "manager"):
        body = (await client.get(f"/pipelines/{synced}/summary", params={"by": by})).json()
        total = body["total"]
        assert sum(g["people"] for g in body["groups"]) == total["people"] == 4  # M, A, B, C; T has left
        for course in total["courses"]:
            for count in ("enrolled", "not_started", "in_progress", "completed", "failed", "overdue"):
                grouped = sum(c[count] for g in body["groups"] for c in g["courses"] if c["course"] == course["course"])
                assert grouped == course[count], (by, course["course"], count)

    departments = (await client.get(f"/pipelines/{synced}/summary", params={"by": "department"})).json()
    assert {g["key"]: g["people"] for g in departments["groups"]} == {"Engineering": 3, "Sales": 1}
    by_manager = (await client.get(f"/pipelines/{synced}/summary", params={"by": "manager"})).json()
    groups = {g["key"]: g for g in by_manager["groups"]}
    assert set(groups) == {"M", "A", None}  # M has no manager
    for manager in ("M", "A"):
        team_view = (await client.get(f"/pipelines/{synced}/teams/{manager}")).json()["summary"]
        assert groups[manager]["courses"] == team_view["courses"]
        assert groups[manager]["people"] == team_view["people"]
    assert courses(groups["M"])["C2"] == (1, 0, 1, 1.0)


async def test_csv_exports_parse(client: httpx.AsyncClient, synced: str) -> None:
    team_csv = await client.get(f"/pipelines/{synced}/teams/M", headers={"Accept": "text/csv"})
    summary_csv = await client.get(
        f"/pipelines/{synced}/summary", params={"by": "department"}, headers={"Accept": "text/csv"}
    )

    assert team_csv.status_code == 200 and team_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(team_csv.text)))
    assert [(r["hr_id"], r["course"], r["progress"], r["applied"]) for r in rows] == [
        ("A", "C1", "not_started", "True"),
        ("A", "C2", "not_started", "True"),
        ("A", "C3", "not_started", "True"),
        ("B", "C1", "not_started", "True"),
    ]
    assert "attachment" in team_csv.headers["content-disposition"]
    summary_rows = list(csv.DictReader(io.StringIO(summary_csv.text)))
    assert {(r["key"], r["course"], r["enrolled"]) for r in summary_rows} == {
        ("Engineering", "C1", "3"),
        ("Engineering", "C2", "3"),
        ("Engineering", "C3", "2"),
        ("Sales", "C1", "1"),
        ("(total)", "C1", "4"),
        ("(total)", "C2", "3"),
        ("(total)", "C3", "2"),
    }


async def test_summary_refuses_unknown_pipelines_and_groupings(client: httpx.AsyncClient, synced: str) -> None:
    assert_problem(await client.get("/pipelines/nope/summary", params={"by": "department"}), 404)
    assert_problem(await client.get(f"/pipelines/{synced}/summary", params={"by": "shoe_size"}), 422)
    assert_problem(await client.get(f"/pipelines/{synced}/summary"), 422)


async def test_due_dates_make_enrolments_overdue_under_the_injected_clock(
    client: httpx.AsyncClient,
    ends: tuple[str, str],
    memory: tuple[str, Dataset],
    execute: Execute,
    runtime: Runtime,
    clock: Clock,
) -> None:
    team(memory[1])
    spec = copy.deepcopy(RULES)
    spec["rules"][0]["due"] = {"on": "2026-12-01"}  # everyone: C1 by 1 December
    spec["rules"][1]["due"] = {"every_months": 12}  # engineering: C2 yearly
    pid = await create_pipeline(client, ends, spec)
    runtime.today = lambda: date(2026, 11, 2)
    await run(client, execute, pid)
    a = await account(client, pid, "A")
    memory[1].lms.progress[(a, "C1")] = Progress(account_id=a, course_id="C1", state=ProgressState.COMPLETED)
    memory[1].lms.progress[(a, "C2")] = Progress(
        account_id=a, course_id="C2", state=ProgressState.COMPLETED, completed_at=datetime(2025, 11, 1, tzinfo=UTC)
    )
    await run(client, execute, pid)

    clock.moment = datetime(2026, 11, 30, 12, tzinfo=UTC)
    early = (await client.get(f"/pipelines/{pid}/teams/M")).json()
    clock.moment = datetime(2026, 12, 2, 12, tzinfo=UTC)
    late = (await client.get(f"/pipelines/{pid}/teams/M")).json()

    def dues(body: dict[str, Any], hr_id: str) -> dict[str, tuple[str | None, bool]]:
        return {e["course"]: (e["due_on"], e["overdue"]) for e in by_hr_id(body)[hr_id]["enrolments"]}

    # A completed C1 in time; C2's yearly completion expired on 1 November 2026, so it is overdue already.
    assert dues(early, "A") == {"C1": ("2026-12-01", False), "C2": ("2026-11-01", True), "C3": (None, False)}
    assert dues(early, "B") == {"C1": ("2026-12-01", False)}
    assert dues(late, "B") == {"C1": ("2026-12-01", True)}  # B never completed C1
    assert (early["summary"]["overdue"], late["summary"]["overdue"]) == (1, 2)
    overdue_c1 = {c["course"]: c["overdue"] for c in late["summary"]["courses"]}
    assert overdue_c1 == {"C1": 1, "C2": 1, "C3": 0}
    summary = (await client.get(f"/pipelines/{pid}/summary", params={"by": "department"})).json()
    assert {g["key"]: g["overdue"] for g in summary["groups"]} == {"Engineering": 3, "Sales": 1}  # M and C too


async def test_a_failed_progress_read_keeps_what_was_read_and_the_run_succeeds(
    client: httpx.AsyncClient, synced: str, memory: tuple[str, Dataset], execute: Execute
) -> None:
    a = await account(client, synced, "A")
    memory[1].lms.progress[(a, "C1")] = Progress(account_id=a, course_id="C1", state=ProgressState.COMPLETED)
    memory[1].lms.fail_progress.append(AuthError("token lacks the completion permission", status=403))

    finished = await run(client, execute, synced)

    assert finished["status"] == "succeeded"
    assert finished["counters"]["progress"]["error"] == "AuthError: token lacks the completion permission (HTTP 403)"
    body = (await client.get(f"/pipelines/{synced}/teams/M")).json()
    assert progress(by_hr_id(body)["A"])["C1"] == "not_started"  # as the first run read it
