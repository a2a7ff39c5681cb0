"""The scim target over a real socket: scim2-server's WSGI app served on 127.0.0.1, reached by the network
transport the service uses (only loopback, allow-listed as an admin would for an LMS on the same host)."""

from __future__ import annotations

from pydantic import SecretStr

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
