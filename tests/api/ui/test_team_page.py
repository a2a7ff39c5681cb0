"""The team page (issue 16) without a browser: each report's progress per course (state, completed date, due date
and overdue flag, last activity) and the team summary; a manager signed in with a token bound to their HR id
opens /ui, sees their own team (direct and indirect) and gets 403 for any other team and for the pipeline-wide and
admin pages."""

from __future__ import annotations

import copy
import re
from datetime import UTC, date, datetime

import httpx
import pytest
from fastapi import FastAPI

from enrolsync.api.ui.session import COOKIE
from enrolsync.connectors.memory.state import Dataset
from enrolsync.connectors.model import Progress, ProgressState
from enrolsync.sync.run.context import Runtime
from enrolsync.sync.store.tables import ApiRole
from tests.support.api import Clock, Execute, MakeClient, create_pipeline, run, token_for
from tests.support.factories import RULES, team
from tests.support.leaks import LeakGuard

DONE = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
SEEN = datetime(2026, 11, 18, 14, 5, tzinfo=UTC)


def signed_in_as(make_client: MakeClient, token: str) -> httpx.AsyncClient:
    client = make_client(None)
    client.headers["Cookie"] = f"{COOKIE}={token}"
    return client


def row(html: str, hr_id: str, course: str) -> str:
    """The text of one member's course row (tags dropped, whitespace squeezed)."""
    member = html.split(f'data-hr-id="{hr_id}"', 1)[1].split("data-hr-id=", 1)[0]
    cell = member.split(f'data-course="{course}">', 1)[1].split("</tr>", 1)[0]
    return " ".join(re.sub(r"<[^>]+>", " ", cell).split())


@pytest.fixture
async def synced(
    client: httpx.AsyncClient,
    ends: tuple[str, str],
    memory: tuple[str, Dataset],
    execute: Execute,
    runtime: Runtime,
    clock: Clock,
) -> str:
    """M leads A and B, A leads C; C1 due 1 December; A completed C1, B is in C1 and late (the clock: 2 Dec)."""
    team(memory[1])
    spec = copy.deepcopy(RULES)
    spec["rules"][0]["due"] = {"on": "2026-12-01"}
    pid = await create_pipeline(client, ends, spec)
    runtime.today = lambda: date(2026, 11, 2)
    await run(client, execute, pid)
    people = {h: (await client.get(f"/pipelines/{pid}/people/{h}")).json()["account_id"] for h in ("A", "B")}
    lms = memory[1].lms
    lms.progress[(people["A"], "C1")] = Progress(
        account_id=people["A"], course_id="C1", state=ProgressState.COMPLETED, completed_at=DONE, last_activity_at=DONE
    )
    lms.progress[(people["B"], "C1")] = Progress(
        account_id=people["B"], course_id="C1", state=ProgressState.IN_PROGRESS, percent=40, last_activity_at=SEEN
    )
    await run(client, execute, pid)
    clock.moment = datetime(2026, 12, 2, 12, tzinfo=UTC)
    return pid


async def test_the_team_page_shows_progress_per_course_and_the_summary(
    app: FastAPI, make_client: MakeClient, leak_guard: LeakGuard, synced: str
) -> None:
    viewer = signed_in_as(make_client, await token_for(app, ApiRole.VIEWER, leak_guard))

    page = await viewer.get(f"/ui/pipelines/{synced}/teams/M")

    assert page.status_code == 200
    assert row(page.text, "A", "C1") == "C1 completed 2026-11-20 2026-12-01 2026-11-20 09:30:00 UTC"
    assert row(page.text, "B", "C1") == "C1 in progress 40% — 2026-12-01 overdue 2026-11-18 14:05:00 UTC"
    assert row(page.text, "A", "C2") == "C2 not started — — —"
    summary = page.text.split('id="team-summary"', 1)[1].split("</table>", 1)[0]
    c1 = " ".join(re.sub(r"<[^>]+>", " ", summary.split('data-course="C1">', 1)[1].split("</tr>", 1)[0]).split())
    assert c1 == "C1 2 0 1 1 1 50%"  # enrolled, not started, in progress, completed, overdue, rate
    assert "2 people" in page.text and "1 overdue" in page.text
    assert "GivenA Example: C1, 2026-11-20" in " ".join(re.sub(r"<[^>]+>", " ", page.text).split())


async def test_a_manager_opens_the_page_and_sees_only_their_own_team(
    app: FastAPI, make_client: MakeClient, leak_guard: LeakGuard, synced: str
) -> None:
    a = signed_in_as(make_client, await token_for(app, ApiRole.MANAGER, leak_guard, hr_id="A"))

    home = await a.get("/ui")
    own = await a.get(f"/ui/pipelines/{synced}/teams/A")

    assert home.status_code == 200 and f'href="/ui/pipelines/{synced}/teams/A"' in home.text
    assert "My team" in home.text and "/ui/connections" not in home.text
    assert own.status_code == 200 and 'data-hr-id="C"' in own.text
    assert 'data-hr-id="B"' not in own.text and "/ui/pipelines/" + synced + "/people/" not in own.text
    for other in ("M", "B", "NOBODY"):  # their boss, a peer, someone unknown
        refused = await a.get(f"/ui/pipelines/{synced}/teams/{other}")
        assert refused.status_code == 403 and "own reports" in refused.text
        assert "GivenB" not in refused.text
    for forbidden in ("/ui/connections", f"/ui/pipelines/{synced}", f"/ui/pipelines/{synced}/people/C"):
        assert (await a.get(forbidden)).status_code == 403, forbidden


async def test_a_manager_sees_their_indirect_reports(
    app: FastAPI, make_client: MakeClient, leak_guard: LeakGuard, synced: str
) -> None:
    m = signed_in_as(make_client, await token_for(app, ApiRole.MANAGER, leak_guard, hr_id="M"))

    both = await m.get(f"/ui/pipelines/{synced}/teams/M", params={"depth": 2})
    below = await m.get(f"/ui/pipelines/{synced}/teams/A")

    assert both.status_code == 200
    assert [h for h in ("A", "B", "C") if f'data-hr-id="{h}"' in both.text] == ["A", "B", "C"]
    assert below.status_code == 200 and 'data-hr-id="C"' in below.text


async def test_a_manager_no_pipeline_knows_has_no_team(
    app: FastAPI, make_client: MakeClient, leak_guard: LeakGuard, synced: str
) -> None:
    stranger = signed_in_as(make_client, await token_for(app, ApiRole.MANAGER, leak_guard, hr_id="Z"))

    home = await stranger.get("/ui")

    assert home.status_code == 200 and "no team to show" in home.text and synced not in home.text
