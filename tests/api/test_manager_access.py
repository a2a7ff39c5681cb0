"""Managers sign in and see only their own reports (issue 16): their team and the teams of managers under them,
nobody else's, and none of the pipeline-wide views. By API token bound to an HR id (OIDC: `test_oidc.py`)."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from enrolsync.api.tokens import issue_token
from enrolsync.connectors.memory.state import Dataset
from enrolsync.sync.store.tables import ApiRole
from tests.support.api import Execute, MakeClient, create_pipeline, run, token_for
from tests.support.assertions import assert_problem
from tests.support.factories import team
from tests.support.leaks import LeakGuard


@pytest.fixture
async def synced(
    client: httpx.AsyncClient, ends: tuple[str, str], memory: tuple[str, Dataset], execute: Execute
) -> str:
    """M leads A and B; A leads C."""
    team(memory[1])
    pid = await create_pipeline(client, ends)
    assert (await run(client, execute, pid))["status"] == "succeeded"
    return pid


async def manager(app: FastAPI, make_client: MakeClient, leak_guard: LeakGuard, hr_id: str) -> httpx.AsyncClient:
    return make_client(await token_for(app, ApiRole.MANAGER, leak_guard, hr_id=hr_id))


async def test_a_manager_reads_their_own_team_and_those_under_them(
    app: FastAPI, make_client: MakeClient, leak_guard: LeakGuard, synced: str
) -> None:
    m = await manager(app, make_client, leak_guard, "M")

    own = await m.get(f"/pipelines/{synced}/teams/M", params={"depth": 2})
    below = await m.get(f"/pipelines/{synced}/teams/A")
    as_csv = await m.get(f"/pipelines/{synced}/teams/M", headers={"Accept": "text/csv"})

    assert [x["hr_id"] for x in own.json()["members"]] == ["A", "B", "C"]
    assert [x["hr_id"] for x in below.json()["members"]] == ["C"]
    assert as_csv.status_code == 200 and as_csv.text.startswith("hr_id,")


async def test_a_manager_cannot_read_another_managers_team(
    app: FastAPI, make_client: MakeClient, leak_guard: LeakGuard, synced: str
) -> None:
    a = await manager(app, make_client, leak_guard, "A")

    assert (await a.get(f"/pipelines/{synced}/teams/A")).status_code == 200
    for other in ("M", "B", "NOBODY"):  # their boss, a peer, someone unknown: all alike, nothing disclosed
        assert "own reports" in assert_problem(await a.get(f"/pipelines/{synced}/teams/{other}"), 403)["detail"]


async def test_a_manager_sees_no_pipeline_wide_view(
    app: FastAPI, make_client: MakeClient, leak_guard: LeakGuard, synced: str
) -> None:
    m = await manager(app, make_client, leak_guard, "M")

    for path in (f"/pipelines/{synced}/summary?by=department", f"/pipelines/{synced}/people/A", "/pipelines"):
        assert "viewer" in assert_problem(await m.get(path), 403)["detail"], path


async def test_a_manager_token_is_bound_to_an_hr_id(app: FastAPI) -> None:
    async with app.state.services.sessions() as session:
        with pytest.raises(ValueError, match="HR id"):
            await issue_token(session, name="boss", role=ApiRole.MANAGER)
        with pytest.raises(ValueError, match="HR id"):
            await issue_token(session, name="ops", role=ApiRole.VIEWER, hr_id="M")
