"""`/scim/v2` of a `scim-inbound` connection: the scim2-tester compliance checks, the filters and PATCH shapes
identity providers send, SCIM-format errors, token binding, and writes becoming HR events (on both databases)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from scim2_tester import Status, check_server
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from enrolsync.connectors.memory import MemorySource, MemoryTarget
from enrolsync.connectors.registry import Registry
from enrolsync.connectors.scim_inbound import ScimInboundSource
from enrolsync.sync.store.tables import ScimResource
from tests.support.api import MakeClient
from tests.support.harness import RecordingQueue
from tests.support.leaks import LeakGuard
from tests.support.scim_bridge import BridgedScimClient

ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
PASSED = {Status.SUCCESS, Status.COMPLIANT, Status.ACCEPTABLE}


@pytest.fixture
def registry() -> Registry:
    return Registry.from_classes(ScimInboundSource, MemorySource, MemoryTarget)


async def scim_connection(client: httpx.AsyncClient, name: str = "Entra") -> tuple[str, str]:
    """A scim-inbound connection and its SCIM token."""
    config = {"base_url": "https://enrolsync.example.com/scim/v2/"}
    created = await client.post("/connections", json={"name": name, "connector": "scim-inbound", "config": config})
    assert created.status_code == 201, created.text
    issued = await client.post(f"/connections/{created.json()['id']}/scim-token")
    assert issued.status_code == 201, issued.text
    assert issued.json()["scim_url"] == "http://enrolsync.test/scim/v2"
    return created.json()["id"], issued.json()["token"]


@pytest.fixture
async def scim(
    client: httpx.AsyncClient, app: FastAPI, leak_guard: LeakGuard
) -> AsyncIterator[tuple[str, httpx.AsyncClient]]:
    """A scim-inbound connection and the identity provider's client on its `/scim/v2`. From here on the token must
    not show up in any answer or log record (the leak guard fails the test)."""
    connection_id, token = await scim_connection(client)
    # The issuing answer shows the token by design, once; nothing after it may.
    leak_guard.bodies = [body for body in leak_guard.bodies if token not in body]
    leak_guard.watch(token)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}
    idp = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://enrolsync.test/scim/v2",
        headers=headers,
        event_hooks={"response": [leak_guard.on_response]},
    )
    yield connection_id, idp
    await idp.aclose()


def scim_error(response: httpx.Response, status: int, scim_type: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/scim+json")
    body = response.json()
    assert body["schemas"] == [ERROR] and body["status"] == str(status), body
    if scim_type is not None:
        assert body.get("scimType") == scim_type, body
    return dict(body)


def user(user_name: str, external_id: str, **extension: Any) -> dict[str, Any]:
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
        "userName": user_name,
        "externalId": external_id,
        "active": True,
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [{"value": user_name, "type": "work", "primary": True}],
        ENTERPRISE: {"department": "Engineering", "employeeNumber": external_id, **extension},
    }


async def test_scim2_tester_compliance(scim: tuple[str, httpx.AsyncClient]) -> None:
    _, idp = scim
    client = BridgedScimClient(idp, asyncio.get_running_loop())
    results = await asyncio.to_thread(check_server, client)
    counts = Counter(r.status for r in results)
    failed = [f"{r.title}: {r.reason}" for r in results if r.status not in PASSED | {Status.SKIPPED}]
    passed = sum(counts[s] for s in PASSED)
    print(f"\nscim2-tester: {passed} of {len(results)} checks passed ({counts[Status.SKIPPED]} skipped)")
    assert passed > 50, counts
    assert not failed, "\n".join(failed)


async def test_filters_identity_providers_send(scim: tuple[str, httpx.AsyncClient]) -> None:
    _, idp = scim
    created = await idp.post("/Users", json=user("Ada@Example.com", "E-1"))
    assert created.status_code == 201, created.text
    await idp.post("/Users", json=user("bob@example.com", "E-2"))

    by_name = (await idp.get("/Users", params={"filter": 'userName eq "ada@example.com"'})).json()
    by_external = (await idp.get("/Users", params={"filter": 'externalId eq "E-1"'})).json()
    other_case = (await idp.get("/Users", params={"filter": 'externalId eq "e-1"'})).json()
    nobody = (await idp.get("/Users", params={"filter": 'userName eq "carol@example.com"'})).json()

    assert by_name["totalResults"] == 1 and by_name["Resources"][0]["id"] == created.json()["id"]
    assert by_external["totalResults"] == 1 and by_external["Resources"][0]["userName"] == "Ada@Example.com"
    assert other_case["totalResults"] == 0, "externalId is case-exact"
    assert nobody == {**nobody, "totalResults": 0, "Resources": []} or nobody["totalResults"] == 0
    scim_error(await idp.get("/Users", params={"filter": 'userName eq "x" and'}), 400, "invalidFilter")


async def test_entra_patch_shapes(scim: tuple[str, httpx.AsyncClient]) -> None:
    _, idp = scim
    boss = (await idp.post("/Users", json=user("boss@example.com", "E-0"))).json()
    ada = (await idp.post("/Users", json=user("ada@example.com", "E-1"))).json()

    def patch(*operations: dict[str, Any]) -> dict[str, Any]:
        return {"schemas": [PATCH], "Operations": list(operations)}

    steps = [
        patch({"op": "Replace", "path": "active", "value": "False"}),
        patch({"op": "Add", "path": f"{ENTERPRISE}:manager", "value": boss["id"]}),
        patch({"op": "replace", "value": {"name.givenName": "Augusta", f"{ENTERPRISE}:department": "Research"}}),
        patch({"op": "Replace", "path": 'emails[type eq "work"].value', "value": "augusta@example.com"}),
    ]
    for body in steps:
        answer = await idp.patch(f"/Users/{ada['id']}", json=body)
        assert answer.status_code == 200, answer.text
    now = (await idp.get(f"/Users/{ada['id']}")).json()

    assert now["active"] is False
    assert now[ENTERPRISE]["manager"]["value"] == boss["id"]
    assert now[ENTERPRISE]["department"] == "Research" and now["name"]["givenName"] == "Augusta"
    assert now["emails"][0]["value"] == "augusta@example.com"
    again = await idp.patch(f"/Users/{ada['id']}", json=patch({"op": "replace", "value": {"active": "True"}}))
    assert again.json()["active"] is True


async def test_scim_errors_are_in_scims_format(
    scim: tuple[str, httpx.AsyncClient], make_client: MakeClient, client: httpx.AsyncClient
) -> None:
    _, idp = scim
    await idp.post("/Users", json=user("ada@example.com", "E-1"))

    scim_error(await idp.post("/Users", json=user("ADA@example.com", "E-9")), 409, "uniqueness")
    scim_error(await idp.get("/Users/0000"), 404)
    scim_error(await idp.post("/Users", json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"]}), 400)
    scim_error(await idp.post("/Users", content=b"{not json"), 400, "invalidSyntax")
    scim_error(await idp.post("/Users", json=user("nul\u0000@example.com", "E-3")), 400, "invalidValue")
    scim_error(await idp.get("/Users", params={"filter": 'userName eq "a\u0000"'}), 400, "invalidValue")
    scim_error(await idp.get("/Users/a%00b"), 400, "invalidValue")
    anonymous = make_client(None)
    refused = scim_error(await anonymous.get("/scim/v2/Users"), 401)
    assert "bearer token" not in refused["detail"]
    wrong = make_client("ess_not-a-token")
    scim_error(await wrong.get("/scim/v2/ServiceProviderConfig"), 401)


async def test_a_token_reaches_only_its_own_connection(
    scim: tuple[str, httpx.AsyncClient], client: httpx.AsyncClient, make_client: MakeClient
) -> None:
    _, entra = scim
    ada = (await entra.post("/Users", json=user("ada@example.com", "E-1"))).json()
    _, okta_token = await scim_connection(client, "Okta")
    okta = make_client(okta_token)

    assert (await okta.get("/scim/v2/Users")).json()["totalResults"] == 0
    scim_error(await okta.get(f"/scim/v2/Users/{ada['id']}"), 404)
    memory = await client.post("/connections", json={
        "name": "HR", "connector": "memory-source", "config": {"base_url": "https://memory.test/"},
    })  # fmt: skip
    refused = await client.post(f"/connections/{memory.json()['id']}/scim-token")
    assert refused.status_code == 409


async def test_writes_become_hr_events_and_person_scoped_runs(
    scim: tuple[str, httpx.AsyncClient], client: httpx.AsyncClient, queue: RecordingQueue
) -> None:
    connection_id, idp = scim
    lms = await client.post("/connections", json={
        "name": "LMS", "connector": "memory-target", "config": {"base_url": "https://lms.test/"},
    })  # fmt: skip
    pipeline = await client.post("/pipelines", json={
        "name": "Training", "source_id": connection_id, "target_id": lms.json()["id"], "spec": {},
    })  # fmt: skip
    assert pipeline.status_code == 201, pipeline.text
    ada = (await idp.post("/Users", json=user("ada@example.com", "E-1"))).json()
    unchanged = await idp.patch(f"/Users/{ada['id']}", json={
        "schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": True}],
    })  # fmt: skip
    assert unchanged.status_code == 200
    await idp.delete(f"/Users/{ada['id']}")

    listed = (await client.get(f"/connections/{connection_id}/events")).json()
    kinds = sorted(e["body"]["kind"] for e in listed["items"])
    assert kinds == ["created", "deleted"], "a PATCH that changes nothing is no HR event"
    assert {e["body"]["hr_id"] for e in listed["items"]} == {ada["id"]}
    run = (await client.get(f"/runs/{queue.ids[0]}")).json()
    assert run["scope"] == "people" and run["hr_ids"] == [ada["id"]] and run["trigger"] == "webhook"


async def test_reissuing_the_token_retires_the_old_one_and_is_audited(
    scim: tuple[str, httpx.AsyncClient], client: httpx.AsyncClient
) -> None:
    connection_id, idp = scim
    assert (await idp.get("/Users")).status_code == 200
    again = await client.post(f"/connections/{connection_id}/scim-token")

    scim_error(await idp.get("/Users"), 401)
    assert again.json()["token"].startswith("ess_")
    audit = (await client.get("/audit")).json()["items"]
    assert [e["action"] for e in audit].count("connection.scim_token") == 2


async def test_the_connection_check_reads_the_stored_state(
    scim: tuple[str, httpx.AsyncClient], client: httpx.AsyncClient
) -> None:
    connection_id, idp = scim
    await idp.post("/Users", json=user("ada@example.com", "E-1"))

    checked = (await client.post(f"/connections/{connection_id}/check")).json()

    assert checked["ok"] is True and checked["facts"] == {"users": 1}, checked


async def test_if_match_guards_writes(scim: tuple[str, httpx.AsyncClient]) -> None:
    _, idp = scim
    created = await idp.post("/Users", json=user("ada@example.com", "E-1"))
    etag, url = created.headers["etag"], f"/Users/{created.json()['id']}"
    change = {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "title", "value": "Analyst"}]}

    first = await idp.patch(url, json=change, headers={"If-Match": etag})
    stale = await idp.patch(url, json=change, headers={"If-Match": etag})

    assert first.status_code == 200 and first.headers["etag"] != etag
    scim_error(stale, 412)
    scim_error(await idp.delete(url, headers={"If-Match": etag}), 412)
    assert (await idp.delete(url, headers={"If-Match": first.headers["etag"]})).status_code == 204


async def test_deleting_the_connection_deletes_its_scim_state(
    scim: tuple[str, httpx.AsyncClient], client: httpx.AsyncClient, session: AsyncSession
) -> None:
    connection_id, idp = scim
    await idp.post("/Users", json=user("ada@example.com", "E-1"))

    assert (await client.delete(f"/connections/{connection_id}")).status_code == 204

    scim_error(await idp.get("/Users"), 401)
    left = (await session.exec(select(ScimResource).where(ScimResource.connection_id == connection_id))).all()
    assert left == []
