"""The scim target over a real socket (scim2-server's WSGI app served on 127.0.0.1, reached by the network
transport the service uses, loopback allow-listed as an admin would for an LMS on the same host), and on
scim2-server's ASGI app."""

from __future__ import annotations

import httpx
from pydantic import SecretStr
from scim2_server.applications.asgi import ASGIApplication
from scim2_server.memory import AsyncInMemoryStorage
from scim2_server.service import ScimService

from enrolsync.connectors.kit.client import build_client
from enrolsync.connectors.kit.egress import EgressPolicy
from enrolsync.connectors.kit.retry import ReadRetry
from enrolsync.connectors.ops import CreateUser, DeactivateUser, Enrol
from enrolsync.connectors.scim import ScimTarget
from enrolsync.connectors.scim.config import ScimConfig
from enrolsync.connectors.testing.contract import collect
from enrolsync.connectors.testing.fakes import FakeClock
from tests.support.scim_server import SCIM_TOKEN, ScimServer, serve_on_loopback
from tests.support.scim_server import account_fields as fields
from tests.support.scim_server import provider as scim_provider


async def test_the_connector_works_against_scim2_server_on_loopback() -> None:
    server = ScimServer()
    course = server.add_group("SAFETY-101")
    with serve_on_loopback(server) as base_url:
        config = ScimConfig(base_url=base_url, token=SecretStr(SCIM_TOKEN))
        async with build_client(config, egress=EgressPolicy(allowed=["127.0.0.1"])) as http:
            target = ScimTarget(config, http, retry=ReadRetry(attempts=1, clock=FakeClock()))
            check = await target.check()
            created = await target.apply([CreateUser(hr_id=f"HR-{n}", fields=fields(n)) for n in (1, 2)])
            ids = [r.ref.id for r in created if r.ref is not None]
            enrolled = await target.apply([Enrol(hr_id="HR-1", account_id=ids[0], course_id=course)])
            left = await target.apply([DeactivateUser(hr_id="HR-2", account_id=ids[1])])
            accounts = {a.fields.external_id: a.active for a in await collect(target.list_accounts())}

    assert check.ok and check.facts["bulk"] is True, check
    assert [r.outcome for r in created + enrolled + left] == ["done"] * 4  # type: ignore[operator]
    assert accounts == {"HR-1": True, "HR-2": False}
    assert server.members(course) == {ids[0]}


async def test_the_connector_works_against_scim2_servers_asgi_app() -> None:
    """scim2-server's ASGI application (async storage) through httpx's ASGI transport: the same answers."""
    provider = scim_provider()
    app = ASGIApplication(AsyncInMemoryStorage(), provider, ScimService(provider))
    config = ScimConfig(base_url="http://scim.asgi/v2/", token=SecretStr("any: this app checks no token"))
    async with build_client(config, transport=httpx.ASGITransport(app=app)) as http:
        target = ScimTarget(config, http, retry=ReadRetry(attempts=1, clock=FakeClock()))
        created = await target.apply([CreateUser(hr_id=f"HR-{n}", fields=fields(n)) for n in (1, 2)])
        ids = [r.ref.id for r in created if r.ref is not None]
        left = await target.apply([DeactivateUser(hr_id="HR-2", account_id=ids[1])])
        again = await target.apply([DeactivateUser(hr_id="HR-2", account_id=ids[1])])
        found = await target.find_accounts(field="external_id", values=["HR-1", "HR-2"])

    assert [r.outcome for r in created + left + again] == ["done", "done", "done", "already"]  # type: ignore[operator]
    assert {(a.fields.external_id, a.active) for a in found} == {("HR-1", True), ("HR-2", False)}
