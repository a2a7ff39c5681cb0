"""Runs over the API: queueing (202 + Location), coalescing, and reading runs and their operation logs."""

from __future__ import annotations

from typing import Any

import httpx
from sqlmodel.ext.asyncio.session import AsyncSession

from enrolsync.sync.store.tables import Run, RunOp, RunStatus
from tests.support.factories import RULE
from tests.support.harness import RecordingQueue


async def pipeline_id(client: httpx.AsyncClient, ends: tuple[str, str]) -> str:
    body = {"name": "sales", "source_id": ends[0], "target_id": ends[1], "spec": {"rules": [RULE]}}
    response = await client.post("/pipelines", json=body)
    assert response.status_code == 201, response.text
    ident: str = response.json()["id"]
    return ident


async def finish(session: AsyncSession, run_id: str, **fields: Any) -> None:
    run = await session.get(Run, run_id)
    assert run is not None
    for key, value in {"status": RunStatus.SUCCEEDED, **fields}.items():
        setattr(run, key, value)
    session.add(run)
    await session.commit()


async def test_start_run_is_202_with_location_and_queued(
    client: httpx.AsyncClient, ends: tuple[str, str], queue: RecordingQueue
) -> None:
    pid = await pipeline_id(client, ends)

    response = await client.post(f"/pipelines/{pid}/runs", json={"mode": "plan"})

    assert response.status_code == 202
    run = response.json()
    assert response.headers["location"] == f"/runs/{run['id']}"
    assert (run["status"], run["mode"], run["scope"], run["trigger"]) == ("queued", "plan", "full", "admin")
    assert run["pipeline_version"] == 1
    assert run["progress"] == {"people_read": 0, "ops_planned": 0, "ops_applied": 0}
    assert queue.ids == [run["id"]]
    assert (await client.get(response.headers["location"])).json() == run


async def test_a_second_request_is_coalesced_into_the_active_run(
    client: httpx.AsyncClient, ends: tuple[str, str], queue: RecordingQueue, session: AsyncSession
) -> None:
    pid = await pipeline_id(client, ends)
    first = await client.post(f"/pipelines/{pid}/runs")

    again = await client.post(f"/pipelines/{pid}/runs", json={"mode": "apply"})

    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["location"] == f"/runs/{first.json()['id']}"
    assert queue.ids == [first.json()["id"]]

    await finish(session, first.json()["id"])
    later = await client.post(f"/pipelines/{pid}/runs", json={"mode": "apply"})
    assert later.status_code == 202
    assert later.json()["id"] != first.json()["id"]
    assert later.json()["mode"] == "apply"


async def test_people_scope_needs_hr_ids(
    client: httpx.AsyncClient, ends: tuple[str, str], queue: RecordingQueue
) -> None:
    pid = await pipeline_id(client, ends)

    missing = await client.post(f"/pipelines/{pid}/runs", json={"scope": "people"})
    stray = await client.post(f"/pipelines/{pid}/runs", json={"scope": "full", "hr_ids": ["E1"]})
    scoped = await client.post(f"/pipelines/{pid}/runs", json={"scope": "people", "hr_ids": ["E2", "E1", "E2"]})

    assert (missing.status_code, stray.status_code) == (422, 422)
    assert scoped.status_code == 202
    assert scoped.json()["hr_ids"] == ["E1", "E2"]
    assert queue.ids == [scoped.json()["id"]]


async def test_unknown_pipeline_is_404(client: httpx.AsyncClient, queue: RecordingQueue) -> None:
    assert (await client.post("/pipelines/nope/runs")).status_code == 404
    assert (await client.get("/pipelines/nope/runs")).status_code == 404
    assert (await client.get("/runs/nope")).status_code == 404
    assert (await client.get("/runs/nope/operations")).status_code == 404
    assert queue.ids == []


async def test_runs_are_listed_newest_first_and_paginated(
    client: httpx.AsyncClient, ends: tuple[str, str], session: AsyncSession
) -> None:
    pid = await pipeline_id(client, ends)
    ids = []
    for _ in range(3):
        ids.append((await client.post(f"/pipelines/{pid}/runs")).json()["id"])
        await finish(session, ids[-1])

    first = (await client.get(f"/pipelines/{pid}/runs", params={"limit": 2})).json()
    rest = (await client.get(f"/pipelines/{pid}/runs", params={"limit": 2, "after": first["next"]})).json()

    assert [r["id"] for r in first["items"] + rest["items"]] == ids[::-1]
    assert rest["next"] is None


async def test_run_progress_and_operations_are_read_back(
    client: httpx.AsyncClient, ends: tuple[str, str], session: AsyncSession
) -> None:
    pid = await pipeline_id(client, ends)
    run_id = (await client.post(f"/pipelines/{pid}/runs")).json()["id"]
    people = {"invalid": 1, "conflicts": 1, "rejected": 0}
    counters = {"people": people, "drift": {"enrol": 1}, "awaiting_start": 2, "kept_started": 0}
    await finish(
        session,
        run_id,
        people_read=2,
        ops_planned=3,
        ops_applied=2,
        counters={**counters, "ops": {"create_user": {"done": 2}}},
        conflicted=["E3"],
    )
    ops = [
        ("E1", "create_user", "done"),
        ("E1", "enrol", "failed"),
        ("E2", "create_user", "done"),
    ]
    for seq, (hr_id, kind, status) in enumerate(ops):
        session.add(RunOp(run_id=run_id, seq=seq, hr_id=hr_id, kind=kind, op={"kind": kind}, status=status))
    await session.commit()

    run = (await client.get(f"/runs/{run_id}")).json()
    assert run["status"] == "succeeded"
    assert run["progress"] == {"people_read": 2, "ops_planned": 3, "ops_applied": 2}
    assert run["counters"] == {**counters, "courses": None}, "counts once each: the outcomes are `ops`"
    assert run["conflicted"] == ["E3"]
    assert (run["guard"], run["approval"], run["cancelled_by"], run["applied_by"]) == (None, None, None, None)

    url = f"/runs/{run_id}/operations"
    everything = (await client.get(url)).json()
    assert [(o["hr_id"], o["kind"], o["status"]) for o in everything["items"]] == ops
    assert [o["hr_id"] for o in (await client.get(url, params={"hr_id": "E1"})).json()["items"]] == ["E1", "E1"]
    assert [o["kind"] for o in (await client.get(url, params={"status": "failed"})).json()["items"]] == ["enrol"]
    assert len((await client.get(url, params={"kind": "create_user"})).json()["items"]) == 2

    page = (await client.get(url, params={"limit": 2})).json()
    following = (await client.get(url, params={"limit": 2, "after": page["next"]})).json()
    assert [o["seq"] for o in page["items"] + following["items"]] == [0, 1, 2]
    assert (await client.get(url, params={"kind": "launch_rockets"})).status_code == 422
    assert (await client.get(url, params={"after": "not-a-number"})).status_code == 400
