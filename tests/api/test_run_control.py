"""Steering runs over the API: cancel, approve a blocked run, apply a reviewed dry run (and every refusal)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from enrolsync.connectors.memory.state import Dataset
from enrolsync.sync.run import steps
from enrolsync.sync.run.context import Runtime
from enrolsync.sync.store.tables import ApiRole, PipelineHealth, utcnow
from tests.support.api import Clock, Execute, MakeClient, create_pipeline, run
from tests.support.assertions import assert_problem
from tests.support.factories import RULES as SPEC
from tests.support.factories import employee as person
from tests.support.factories import seed
from tests.support.harness import RecordingQueue

GUARDED = {**SPEC, "policies": {"deactivation_guard": {"percent": 0, "min_count": 0}}}


def triple(ops: list[dict[str, Any]]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(o["hr_id"], o["kind"], o["op"]) for o in ops]


async def operations(client: httpx.AsyncClient, run_id: str) -> list[dict[str, Any]]:
    body = (await client.get(f"/runs/{run_id}/operations", params={"limit": 200})).json()
    items: list[dict[str, Any]] = body["items"]
    return items


async def test_cancel_a_queued_run_and_the_worker_skips_it(
    make_client: MakeClient, tokens: dict[ApiRole, str], ends: tuple[str, str], execute: Execute
) -> None:
    admin, operator = make_client(tokens[ApiRole.ADMIN]), make_client(tokens[ApiRole.OPERATOR])
    pid = await create_pipeline(admin, ends)
    run_id = (await operator.post(f"/pipelines/{pid}/runs", json={"mode": "apply"})).json()["id"]

    response = await operator.post(f"/runs/{run_id}/cancel")

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert response.json()["cancelled_by"].startswith("token:")
    assert response.json()["finished_at"] is not None
    assert await execute(run_id) == "skipped"
    again = assert_problem(await operator.post(f"/runs/{run_id}/cancel"), 409)
    assert "cancelled" in again["detail"]
    assert_problem(await operator.post("/runs/nope/cancel"), 404)


async def test_cancel_a_running_run_stops_it_before_it_writes(
    client: httpx.AsyncClient, ends: tuple[str, str], memory: tuple[str, Dataset], runtime: Runtime
) -> None:
    _, data = memory
    seed(data, person("E1"), person("E2"))
    pid = await create_pipeline(client, ends)
    run_id = (await client.post(f"/pipelines/{pid}/runs", json={"mode": "apply"})).json()["id"]
    await steps.begin(runtime, run_id)
    await steps.plan(runtime, run_id)

    cancelled = await client.post(f"/runs/{run_id}/cancel")
    await steps.apply(runtime, run_id)

    assert cancelled.json()["status"] == "cancelled"
    assert data.lms.writes == 0
    shown = (await client.get(f"/runs/{run_id}")).json()
    assert shown["status"] == "cancelled"
    assert shown["ops"]["create_user"] == {"planned": 2}


async def test_approve_a_blocked_run_requeues_it_and_the_worker_applies_it(
    make_client: MakeClient,
    tokens: dict[ApiRole, str],
    ends: tuple[str, str],
    memory: tuple[str, Dataset],
    execute: Execute,
    queue: RecordingQueue,
) -> None:
    _, data = memory
    admin, operator, viewer = (make_client(tokens[role]) for role in (ApiRole.ADMIN, ApiRole.OPERATOR, ApiRole.VIEWER))
    seed(data, person("E1"), person("E2"), person("E3"))
    pid = await create_pipeline(admin, ends, spec=GUARDED)
    assert (await run(admin, execute, pid))["status"] == "succeeded"
    data.hris.remove("E2")
    blocked = await run(admin, execute, pid)
    assert blocked["status"] == "blocked"
    assert (blocked["guard"]["blocked"], blocked["guard"]["hr_ids"]) == (True, ["E2"]), "what is to be approved"
    assert blocked["approval"] is None

    assert_problem(await viewer.post(f"/runs/{blocked['id']}/approve"), 403)
    approved = await operator.post(f"/runs/{blocked['id']}/approve")

    assert approved.status_code == 200
    assert approved.json()["status"] == "queued"
    assert approved.json()["approval"]["by"].startswith("token:")
    assert approved.json()["approval"]["at"] is not None
    assert (queue.ids[-1], queue.generations[-1]) == (blocked["id"], 1)
    await execute(blocked["id"])
    done = (await admin.get(f"/runs/{blocked['id']}")).json()
    assert done["status"] == "succeeded"
    assert done["ops"]["deactivate_user"] == {"done": 1}
    assert sorted(a.fields.username for a in data.lms.accounts.values() if not a.active) == ["e2@example.com"]
    assert_problem(await operator.post(f"/runs/{blocked['id']}/approve"), 409)


async def test_only_a_blocked_run_can_be_approved(client: httpx.AsyncClient, ends: tuple[str, str]) -> None:
    pid = await create_pipeline(client, ends)
    run_id = (await client.post(f"/pipelines/{pid}/runs")).json()["id"]

    body = assert_problem(await client.post(f"/runs/{run_id}/approve"), 409)

    assert "blocked" in body["detail"]
    assert_problem(await client.post("/runs/nope/approve"), 404)


async def test_apply_a_dry_run_applies_exactly_the_reviewed_operations(
    client: httpx.AsyncClient,
    ends: tuple[str, str],
    memory: tuple[str, Dataset],
    execute: Execute,
    queue: RecordingQueue,
) -> None:
    _, data = memory
    seed(data, person("M"), person("A", manager="M"))
    pid = await create_pipeline(client, ends)
    plan = await run(client, execute, pid, mode="plan")
    reviewed = await operations(client, plan["id"])
    data.hris.put(person("LATE"))  # hired after the review: not part of what was approved

    response = await client.post(f"/runs/{plan['id']}/apply")

    assert response.status_code == 202
    applied = response.json()
    assert response.headers["location"] == f"/runs/{applied['id']}"
    assert (applied["mode"], applied["status"], applied["plan_run_id"]) == ("apply", "queued", plan["id"])
    assert applied["applied_by"].startswith("token:")
    assert queue.ids[-1] == applied["id"]
    copied = await operations(client, applied["id"])
    assert triple(copied) == triple(reviewed)
    assert {o["status"] for o in copied} == {"planned"}

    await execute(applied["id"])
    assert (await client.get(f"/runs/{applied['id']}")).json()["status"] == "succeeded"
    assert sorted(a.fields.username for a in data.lms.accounts.values()) == ["a@example.com", "m@example.com"]
    twice = assert_problem(await client.post(f"/runs/{plan['id']}/apply"), 409)
    assert applied["id"] in twice["detail"]


async def test_apply_is_refused_when_the_pipeline_changed_since_the_dry_run(
    client: httpx.AsyncClient, ends: tuple[str, str], memory: tuple[str, Dataset], execute: Execute
) -> None:
    seed(memory[1], person("E1"))
    pid = await create_pipeline(client, ends)
    plan = await run(client, execute, pid, mode="plan")
    changed = {**SPEC, "rules": SPEC["rules"][:1]}
    assert (await client.patch(f"/pipelines/{pid}", json={"spec": changed})).json()["version"] == 2

    body = assert_problem(await client.post(f"/runs/{plan['id']}/apply"), 409)

    assert "version 1 then, 2 now" in body["detail"]


async def test_apply_is_refused_for_an_old_dry_run(
    client: httpx.AsyncClient, ends: tuple[str, str], memory: tuple[str, Dataset], execute: Execute, clock: Clock
) -> None:
    seed(memory[1], person("E1"))
    pid = await create_pipeline(client, ends)
    plan = await run(client, execute, pid, mode="plan")
    clock.moment = utcnow() + timedelta(hours=25)  # the default maximum age is 24 hours

    body = assert_problem(await client.post(f"/runs/{plan['id']}/apply"), 409)

    assert "older than" in body["detail"]


async def test_apply_needs_a_finished_dry_run_with_operations(
    client: httpx.AsyncClient, ends: tuple[str, str], memory: tuple[str, Dataset], execute: Execute
) -> None:
    pid = await create_pipeline(client, ends)
    empty = await run(client, execute, pid, mode="plan")
    seed(memory[1], person("E1"))
    applied = await run(client, execute, pid, mode="apply")
    waiting = (await client.post(f"/pipelines/{pid}/runs", json={"mode": "plan"})).json()

    assert "no operations" in assert_problem(await client.post(f"/runs/{empty['id']}/apply"), 409)["detail"]
    assert "dry run" in assert_problem(await client.post(f"/runs/{applied['id']}/apply"), 409)["detail"]
    assert "queued" in assert_problem(await client.post(f"/runs/{waiting['id']}/apply"), 409)["detail"]
    assert_problem(await client.post("/runs/nope/apply"), 404)


async def test_apply_while_another_run_waits_is_a_conflict_naming_it(
    client: httpx.AsyncClient, ends: tuple[str, str], memory: tuple[str, Dataset], execute: Execute
) -> None:
    seed(memory[1], person("E1"))
    pid = await create_pipeline(client, ends)
    plan = await run(client, execute, pid, mode="plan")
    waiting = (await client.post(f"/pipelines/{pid}/runs", json={"mode": "apply"})).json()

    body = assert_problem(await client.post(f"/runs/{plan['id']}/apply"), 409)

    assert waiting["id"] in body["detail"] and "waiting" in body["detail"]
    listed = (await client.get(f"/pipelines/{pid}/runs")).json()["items"]
    assert sorted(r["id"] for r in listed) == sorted([plan["id"], waiting["id"]]), "the refusal wrote nothing"


async def test_a_quarantined_pipeline_neither_approves_nor_applies_a_plan(
    client: httpx.AsyncClient, ends: tuple[str, str], memory: tuple[str, Dataset], execute: Execute, runtime: Runtime
) -> None:
    _, data = memory
    seed(data, person("E1"), person("E2"))
    pid = await create_pipeline(client, ends, spec=GUARDED)
    await run(client, execute, pid)
    data.hris.remove("E2")
    blocked = await run(client, execute, pid)
    plan = await run(client, execute, pid, mode="plan")
    assert blocked["status"] == "blocked" and plan["status"] == "succeeded"
    async with runtime.sessions() as session:  # three whole-run failures in a row would have done this
        session.add(PipelineHealth(pipeline_id=pid, failures=3, quarantined_at=utcnow(), reason="AuthError: 401"))
        await session.commit()

    approve = assert_problem(await client.post(f"/runs/{blocked['id']}/approve"), 409)
    apply = assert_problem(await client.post(f"/runs/{plan['id']}/apply"), 409)

    assert "quarantined" in approve["detail"] and "quarantined" in apply["detail"]
    assert (await client.get(f"/runs/{blocked['id']}")).json()["status"] == "blocked"
    assert [
        r["id"] for r in (await client.get(f"/pipelines/{pid}/runs")).json()["items"] if r["status"] == "queued"
    ] == []


async def test_a_reviewed_plan_that_deactivates_too_many_is_still_guarded(
    client: httpx.AsyncClient, ends: tuple[str, str], memory: tuple[str, Dataset], execute: Execute
) -> None:
    _, data = memory
    seed(data, person("E1"), person("E2"))
    pid = await create_pipeline(client, ends, spec=GUARDED)
    await run(client, execute, pid)
    data.hris.remove("E2")
    plan = await run(client, execute, pid, mode="plan")
    assert plan["status"] == "succeeded"  # a dry run only reports what the guard would do

    applied = (await client.post(f"/runs/{plan['id']}/apply")).json()
    await execute(applied["id"])

    blocked = (await client.get(f"/runs/{applied['id']}")).json()
    assert blocked["status"] == "blocked"
    assert (
        blocked["blocked_reason"] == blocked["guard"]["reason"] and "deactivate 1 accounts" in blocked["blocked_reason"]
    )
    assert plan["blocked_reason"] is None, "a dry run is not blocked: it only reports the verdict"
    assert all(account.active for account in data.lms.accounts.values())


async def test_a_run_shows_outcomes_by_kind_progress_and_timings(
    client: httpx.AsyncClient, ends: tuple[str, str], memory: tuple[str, Dataset], execute: Execute
) -> None:
    seed(memory[1], person("M"), person("A", manager="M"))
    pid = await create_pipeline(client, ends)

    done = await run(client, execute, pid)

    assert done["ops"]["create_user"] == {"done": 2}
    assert done["ops"]["enrol"] == {"done": 5}  # C1 and C2 each, and C3 for M, who leads A
    assert done["progress"]["people_read"] == 2
    assert (
        done["progress"]["ops_planned"]
        == done["progress"]["ops_applied"]
        == sum(n for by in done["ops"].values() for n in by.values())
    )
    assert done["duration_seconds"] is not None and done["duration_seconds"] >= 0
    listed = (await client.get(f"/pipelines/{pid}/runs")).json()["items"][0]
    assert listed["ops"] == done["ops"]
