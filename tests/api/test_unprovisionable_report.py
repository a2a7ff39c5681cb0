"""A report whose HR record cannot make an account (a field the mapping needs is missing) is counted invalid, and
their manager is granted nothing over them: the run succeeds instead of failing the manager's grant every time."""

from __future__ import annotations

import httpx

from enrolsync.connectors.memory.state import Dataset
from tests.support.api import Execute, create_pipeline, run
from tests.support.factories import employee, seed, team


async def test_a_report_without_an_email_fails_alone_and_the_run_succeeds(
    client: httpx.AsyncClient, ends: tuple[str, str], memory: tuple[str, Dataset], execute: Execute
) -> None:
    data = memory[1]
    team(data)
    seed(data, employee("N", manager="M").model_copy(update={"work_email": None}))  # usernames are work emails
    pipeline = await create_pipeline(client, ends)

    first = await run(client, execute, pipeline)

    assert first["status"] == "succeeded", first
    assert first["counters"]["people"]["invalid"] == 1
    items = (await client.get(f"/runs/{first['id']}/operations")).json()["items"]
    assert not [op for op in items if op["op"].get("scope_hr_id") == "N"], "no grant over an account-less report"
    manager = (await client.get(f"/pipelines/{pipeline}/people/M")).json()
    assert manager["sync_state"] == "in_sync" and "N" not in manager["direct_reports"], manager
    assert (await client.get(f"/pipelines/{pipeline}/people/N")).json()["situation"] == "invalid_hr_data"

    seed(data, employee("N", manager="M"))  # HR fixes the record
    fixed = await run(client, execute, pipeline)
    assert fixed["status"] == "succeeded", fixed
    kinds = {(op["kind"], op["hr_id"]) for op in (await client.get(f"/runs/{fixed['id']}/operations")).json()["items"]}
    assert {("create_user", "N"), ("assign_role", "M")} <= kinds, "once N can have an account, M gets the role"
