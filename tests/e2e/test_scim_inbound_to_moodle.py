"""An identity provider provisioning people into enrolsync over SCIM, through to Moodle: the whole service (REST API,
`/scim/v2`, durable worker, Moodle fake) on SQLite and PostgreSQL.

Two provisioning sequences, shaped as Microsoft Entra ID and Okta send them (create after a `userName eq` lookup,
update the manager, deactivate, reactivate). Each SCIM write becomes an HR event and a person-scoped run; a full
run afterwards reads the stored SCIM state and finds nothing left to do.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from enrolsync.api.app import create_app
from enrolsync.api.tokens import mint_token
from enrolsync.connectors.kit.retry import ReadRetry
from enrolsync.connectors.moodle.fake.server import FakeMoodle
from enrolsync.connectors.registry import Registry
from enrolsync.connectors.testing.fakes import FakeClock
from enrolsync.settings import Settings
from enrolsync.sync.jobs import worker as worker_module
from enrolsync.sync.jobs import workflow
from enrolsync.sync.run.clients import ClientFactory
from enrolsync.sync.store.crypto import generate_key
from enrolsync.sync.store.tables import ApiRole
from tests.support.database import Database
from tests.support.systems import LMS_HOST, default_spec, moodle_config, site

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
HOST = "enrolsync.test"  # the service's own address: its SCIM URL is the connection's base URL


@dataclass
class Provisioning:
    api: httpx.AsyncClient  # an admin's
    idp: httpx.AsyncClient  # the identity provider's, on /scim/v2 with the connection's SCIM token
    moodle: FakeMoodle
    courses: dict[str, str]
    pipeline_id: str

    async def settle(self) -> list[dict[str, Any]]:
        """Wait for every run of the pipeline to finish; returns them, newest first."""
        runs = (await self.api.get(f"/pipelines/{self.pipeline_id}/runs")).json()["items"]
        for run in runs:
            await workflow.outcome(run["id"])
        return list((await self.api.get(f"/pipelines/{self.pipeline_id}/runs")).json()["items"])

    def courses_of(self, email: str) -> set[str]:
        account = self.moodle.user(email)
        assert account is not None, email
        names = {v: k for k, v in self.courses.items()}
        return {names[str(c)] for c in self.moodle.courses_of(account.id)}


@pytest.fixture
async def service(db: Database, tmp_path: Path) -> AsyncIterator[Provisioning]:
    moodle, courses = site("e2e-moodle-token")
    clock = FakeClock()
    transports: dict[str, httpx.AsyncBaseTransport] = {LMS_HOST: moodle.transport()}
    clients = ClientFactory(transports=transports, clock=clock, read_retry=ReadRetry(clock=clock))
    system_url = f"sqlite:///{tmp_path / 'jobs.sqlite'}" if db.kind == "sqlite" else db.url
    settings = Settings(
        data_dir=tmp_path, database_url=db.url, system_database_url=system_url,
        secret_keys=[SecretStr(generate_key())],
    )  # fmt: skip
    registry = Registry.from_entry_points()
    worker = await worker_module.start(settings, registry=registry, clients=clients, clock=clock)
    try:
        app = create_app(settings, registry=registry, clients=clients)
        transports[HOST] = httpx.ASGITransport(app=app)  # the SCIM URL is the service itself
        async with app.router.lifespan_context(app):
            token = await mint_token(app.state.services.sessions, name="e2e admin", role=ApiRole.ADMIN)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url=f"https://{HOST}", headers={"Authorization": f"Bearer {token}"}
            ) as api:
                yield await _provision(api, transport, moodle, courses)
    finally:
        await worker_module.stop(worker, timeout_seconds=1)


async def _provision(
    api: httpx.AsyncClient, transport: httpx.AsyncBaseTransport, moodle: FakeMoodle, courses: dict[str, str]
) -> Provisioning:
    async def made(path: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = await api.post(path, json=body)
        assert answer.status_code == 201, answer.text
        return dict(answer.json())

    hr = await made("/connections", {
        "name": "Identity provider", "connector": "scim-inbound", "config": {"base_url": f"https://{HOST}/scim/v2/"},
    })  # fmt: skip
    lms = await made("/connections", {"name": "Moodle", "connector": "moodle", "config": moodle_config(moodle)})
    spec = default_spec(courses)
    pipeline = await made(
        "/pipelines", {"name": "Training", "source_id": hr["id"], "target_id": lms["id"], "spec": spec}
    )
    issued = await made(f"/connections/{hr['id']}/scim-token", {})
    headers = {"Authorization": f"Bearer {issued['token']}", "Content-Type": "application/scim+json"}
    idp = httpx.AsyncClient(transport=transport, base_url=issued["scim_url"], headers=headers)
    return Provisioning(api=api, idp=idp, moodle=moodle, courses=courses, pipeline_id=pipeline["id"])


def new_user(email: str, given: str, department: str, number: str) -> dict[str, Any]:
    return {
        "schemas": [CORE, ENTERPRISE],
        "userName": email,
        "externalId": number,
        "active": True,
        "displayName": f"{given} Example",
        "name": {"givenName": given, "familyName": "Example"},
        "emails": [{"value": email, "type": "work", "primary": True}],
        ENTERPRISE: {"department": department, "employeeNumber": number},
    }


async def create(p: Provisioning, body: dict[str, Any]) -> str:
    """As both providers do: look the user up by `userName` first, create on no hit."""
    found = (await p.idp.get("/Users", params={"filter": f'userName eq "{body["userName"]}"'})).json()
    assert found["totalResults"] == 0
    answer = await p.idp.post("/Users", json=body)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def patch(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH], "Operations": list(operations)}


async def entra_manager(p: Provisioning, user_id: str, manager_id: str) -> httpx.Response:
    return await p.idp.patch(f"/Users/{user_id}", json=patch(
        {"op": "Add", "path": f"{ENTERPRISE}:manager", "value": manager_id},
    ))  # fmt: skip


async def entra_active(p: Provisioning, user_id: str, active: str) -> httpx.Response:
    return await p.idp.patch(f"/Users/{user_id}", json=patch({"op": "Replace", "path": "active", "value": active}))


async def okta_manager(p: Provisioning, user_id: str, manager_id: str) -> httpx.Response:
    # Okta sends profile updates as a PUT of the whole user.
    current = (await p.idp.get(f"/Users/{user_id}")).json()
    current[ENTERPRISE]["manager"] = {"value": manager_id}
    current.pop("meta", None)
    return await p.idp.put(f"/Users/{user_id}", json=current)


async def okta_active(p: Provisioning, user_id: str, active: str) -> httpx.Response:
    # Okta (de)activates with a pathless replace carrying a real boolean.
    flag = active == "True"
    return await p.idp.patch(f"/Users/{user_id}", json=patch({"op": "replace", "value": {"active": flag}}))


@pytest.mark.parametrize("shape", ["entra", "okta"])
async def test_provisioning_sequence_reaches_moodle(service: Provisioning, shape: str) -> None:
    set_manager, set_active = (entra_manager, entra_active) if shape == "entra" else (okta_manager, okta_active)
    p = service
    boss = await create(p, new_user("grace@example.com", "Grace", "Engineering", "E-1"))
    ada = await create(p, new_user("ada@example.com", "Ada", "Sales", "E-2"))

    runs = await p.settle()

    assert runs and all(r["status"] == "succeeded" for r in runs), runs
    assert all(r["scope"] == "people" and r["trigger"] == "webhook" for r in runs)
    account = p.moodle.user("ada@example.com")
    assert account is not None and account.idnumber == ada and account.auth == "saml2"
    assert p.courses_of("ada@example.com") == {"SAFETY-101", "SALES-110"}
    assert p.courses_of("grace@example.com") == {"SAFETY-101", "SEC-200"}

    answer = await set_manager(p, ada, boss)
    assert answer.status_code == 200, answer.text
    runs = await p.settle()

    assert runs[0]["status"] == "succeeded" and runs[0]["hr_ids"] == [ada], runs[0]
    assert "LEAD-1" in p.courses_of("grace@example.com"), "Grace now manages Ada"

    assert (await set_active(p, ada, "False")).status_code == 200
    runs = await p.settle()

    assert runs[0]["status"] == "succeeded", runs[0]
    assert p.moodle.user("ada@example.com").suspended is True  # type: ignore[union-attr]

    assert (await set_active(p, ada, "True")).status_code == 200
    runs = await p.settle()

    assert runs[0]["status"] == "succeeded", runs[0]
    assert p.moodle.user("ada@example.com").suspended is False  # type: ignore[union-attr]

    full = (await p.api.post(f"/pipelines/{p.pipeline_id}/runs", json={"mode": "apply", "scope": "full"})).json()
    await workflow.outcome(full["id"])
    done = (await p.api.get(f"/runs/{full['id']}")).json()
    assert done["status"] == "succeeded", done
    assert done["progress"]["people_read"] == 2, "a full run reads both users from the stored SCIM state"
    assert done["progress"]["ops_planned"] == 0, "the stored SCIM state is what Moodle already holds"

    assert (await p.idp.delete(f"/Users/{ada}")).status_code == 204  # both providers' hard delete
    runs = await p.settle()

    assert runs[0]["status"] == "succeeded" and runs[0]["hr_ids"] == [ada], runs[0]
    assert p.moodle.user("ada@example.com").suspended is True, "a user deleted in the IdP is a leaver"  # type: ignore[union-attr]
    await p.idp.aclose()
