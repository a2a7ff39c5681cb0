"""The scim-inbound reader against the real `scim2-server` (its ASGI app), the mapping of a User to a person, and
what the connector refuses."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from scim2_server.applications.asgi import ASGIApplication
from scim2_server.memory import AsyncInMemoryStorage
from scim2_server.service import ScimService

from enrolsync.connectors.errors import AuthError
from enrolsync.connectors.kit.client import build_client
from enrolsync.connectors.kit.retry import ReadRetry
from enrolsync.connectors.model import PersonStatus, RawRequest
from enrolsync.connectors.scim_inbound import ScimInboundSource
from enrolsync.connectors.scim_inbound.config import ScimInboundConfig
from enrolsync.connectors.scim_inbound.mapping import to_person
from enrolsync.connectors.testing.contract import collect
from enrolsync.connectors.testing.fakes import FakeClock
from tests.support.scim_server import provider as scim_provider

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def user(n: int, *, manager: str | None = None, active: bool = True) -> dict[str, Any]:
    extension: dict[str, Any] = {"department": "Sales", "employeeNumber": f"E{n}"}
    if manager:
        extension["manager"] = {"value": manager, "$ref": f"http://scim.asgi/v2/Users/{manager}"}
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
        "userName": f"user{n}@example.com",
        "externalId": f"X{n}",
        "active": active,
        "title": "Analyst",
        "name": {"givenName": f"Given{n}", "familyName": "Family"},
        "emails": [
            {"value": f"home{n}@example.net", "type": "home"},
            {"value": f"user{n}@example.com", "type": "work"},
        ],
        ENTERPRISE: extension,
    }


async def test_reads_everyone_and_named_people_from_scim2_server() -> None:
    app = ASGIApplication(AsyncInMemoryStorage(), scim_provider(), ScimService(scim_provider()))
    config = ScimInboundConfig.model_validate({"base_url": "http://scim.asgi/v2/", "page_size": 2})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://scim.asgi/v2/") as idp:
        boss = (await idp.post("Users", json=user(1))).json()["id"]
        for n in (2, 3, 4):
            assert (await idp.post("Users", json=user(n, manager=boss, active=n != 4))).status_code == 201
    async with build_client(config, transport=httpx.ASGITransport(app=app)) as http:
        source = ScimInboundSource(config, http, retry=ReadRetry(attempts=1, clock=FakeClock()))
        pages = await collect(source.read_persons(None))
        named = await collect(source.read_people([boss, "no-such-id"]))

    people = {p.hr_id: p for page in pages for p in page.items}
    assert len(pages) == 2 and pages[-1].checkpoint is not None, "pages of page_size, the last with a checkpoint"
    assert len(people) == 4 and boss in people
    reports = [p for p in people.values() if p.manager_hr_id == boss]
    assert len(reports) == 3 and {p.status for p in reports} == {PersonStatus.ACTIVE, PersonStatus.TERMINATED}
    assert [p.hr_id for page in named for p in page.items] == [boss]
    assert [r for page in named for r in page.removed] == ["no-such-id"]


def test_a_user_becomes_a_person() -> None:
    person = to_person({**user(7, manager="m-1", active=False), "id": "u-7"}, inactive=PersonStatus.LEAVE)

    assert person.hr_id == "u-7" and person.username == "user7@example.com"
    assert person.work_email == "user7@example.com", "the work email wins over a home one"
    assert (person.given_name, person.family_name, person.job_title) == ("Given7", "Family", "Analyst")
    assert (person.department, person.employee_number, person.manager_hr_id) == ("Sales", "E7", "m-1")
    assert person.status == PersonStatus.LEAVE and person.custom["external_id"] == "X7"


async def test_webhook_calls_are_refused() -> None:
    config = ScimInboundConfig.model_validate({"base_url": "https://enrolsync.test/scim/v2/"})
    async with httpx.AsyncClient() as http:
        source = ScimInboundSource(config, http)
    with pytest.raises(AuthError):
        source.parse_event(RawRequest(headers={}, body=b"{}", received_at=datetime.now(UTC)))


def test_the_remote_token_is_write_only() -> None:
    schema = ScimInboundConfig.model_json_schema()
    assert schema["properties"]["token"]["anyOf"][0]["writeOnly"] is True
    config = ScimInboundConfig.model_validate({"base_url": "https://x.test/", "token": "s3cret"})
    assert isinstance(config.token, SecretStr) and "s3cret" not in repr(config)
