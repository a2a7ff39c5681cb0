"""The audit trail: configuration changes and run control, who did them, filters and pagination."""

from __future__ import annotations

from typing import Any

import httpx
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from enrolsync.connectors.memory.state import Dataset
from enrolsync.sync.store.tables import ApiRole, ApiToken
from tests.support.api import Execute, MakeClient, create_pipeline, run
from tests.support.assertions import assert_problem
from tests.support.factories import RULES as SPEC
from tests.support.factories import employee as person
from tests.support.factories import seed

SECRET = "s3cret-audit-7"


async def actor(session: AsyncSession, role: ApiRole) -> str:
    token = (await session.exec(select(ApiToken).where(ApiToken.role == role.value))).one()
    return f"token:{token.id}"


async def entries(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    response = await client.get("/audit", params=params)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_configuration_changes_are_audited_without_values(
    client: httpx.AsyncClient, session: AsyncSession, memory: tuple[str, Dataset]
) -> None:
    name, _ = memory
    body = {"name": "hr", "connector": "memory-source", "config": {"dataset": name, "token": SECRET}}
    source = (await client.post("/connections", json=body)).json()["id"]
    target = (await client.post("/connections", json={**body, "name": "lms", "connector": "memory-target"})).json()
    await client.patch(f"/connections/{source}", json={"config": {"token": SECRET + "-2"}})
    pid = await create_pipeline(client, (source, target["id"]))
    await client.patch(f"/pipelines/{pid}", json={"spec": {**SPEC, "rules": SPEC["rules"][:1]}})
    await client.patch(f"/pipelines/{pid}", json={"name": "renamed"})
    await client.delete(f"/pipelines/{pid}")
    await client.delete(f"/connections/{target['id']}")

    found = await entries(client)

    admin = await actor(session, ApiRole.ADMIN)
    assert [(e["action"], e["resource_id"]) for e in found] == [
        ("connection.delete", target["id"]),
        ("pipeline.delete", pid),
        ("pipeline.update", pid),
        ("pipeline.update", pid),
        ("pipeline.create", pid),
        ("connection.update", source),
        ("connection.create", target["id"]),
        ("connection.create", source),
    ]
    assert {(e["actor"], e["actor_name"], e["role"]) for e in found} == {(admin, "test admin", "admin")}
    assert found[-1]["detail"] == {"connector": "memory-source", "secrets_set": ["token"]}
    assert found[2]["detail"] == {"name": "renamed", "version": 2, "fields": ["name"]}
    assert found[3]["detail"] == {"name": "training", "version": 2, "fields": ["spec"]}
    assert found[5]["detail"] == {"name": False, "config_fields": ["token"]}


async def test_run_control_is_audited_with_who_did_it(
    make_client: MakeClient,
    tokens: dict[ApiRole, str],
    session: AsyncSession,
    ends: tuple[str, str],
    memory: tuple[str, Dataset],
    execute: Execute,
) -> None:
    admin, operator = make_client(tokens[ApiRole.ADMIN]), make_client(tokens[ApiRole.OPERATOR])
    seed(memory[1], person("E1"))
    pid = await create_pipeline(admin, ends)
    plan = await run(operator, execute, pid, mode="plan")
    applied = (await operator.post(f"/runs/{plan['id']}/apply")).json()
    await operator.post(f"/runs/{applied['id']}/cancel")
    coalesced = await operator.post(f"/pipelines/{pid}/runs")
    await operator.post(f"/pipelines/{pid}/runs")

    found = await entries(admin, resource_type="run")

    who = await actor(session, ApiRole.OPERATOR)
    assert [(e["action"], e["resource_id"], e["actor"]) for e in found] == [
        ("run.start", coalesced.json()["id"], who),
        ("run.start", coalesced.json()["id"], who),
        ("run.cancel", applied["id"], who),
        ("run.apply", applied["id"], who),
        ("run.start", plan["id"], who),
    ]
    assert [e["detail"].get("coalesced") for e in found if e["action"] == "run.start"] == [True, False, False]
    assert found[3]["detail"] == {"plan_run_id": plan["id"]}


async def test_filters_and_pagination(client: httpx.AsyncClient, session: AsyncSession) -> None:
    ids = []
    for index in range(3):
        body = {"name": f"c{index}", "connector": "memory-source", "config": {}}
        ids.append((await client.post("/connections", json=body)).json()["id"])
    await client.delete(f"/connections/{ids[0]}")

    first = (await client.get("/audit", params={"limit": 2})).json()
    rest = (await client.get("/audit", params={"limit": 2, "after": first["next"]})).json()

    assert [e["resource_id"] for e in first["items"] + rest["items"]] == [ids[0], ids[2], ids[1], ids[0]]
    assert rest["next"] is None
    assert [e["action"] for e in await entries(client, resource_id=ids[0])] == [
        "connection.delete",
        "connection.create",
    ]
    assert len(await entries(client, action="connection.create")) == 3
    assert len(await entries(client, actor=await actor(session, ApiRole.ADMIN))) == 4
    assert await entries(client, actor="token:someone-else") == []
    assert await entries(client, resource_type="pipeline") == []
    assert_problem(await client.get("/audit", params={"after": "nope"}), 400)
    assert_problem(await client.get("/audit", params={"resource_type": "planet"}), 422)


async def test_refused_requests_leave_no_entry(make_client: MakeClient, tokens: dict[ApiRole, str]) -> None:
    admin, viewer = make_client(tokens[ApiRole.ADMIN]), make_client(tokens[ApiRole.VIEWER])
    await viewer.post("/connections", json={"name": "x", "connector": "memory-source", "config": {}})
    await admin.post("/connections", json={"name": "x", "connector": "no-such-connector", "config": {}})
    await admin.delete("/connections/missing")

    assert await entries(admin) == []
