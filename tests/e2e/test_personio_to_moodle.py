"""Personio -> Moodle through the whole service: REST API, durable worker, real connectors, faithful fakes.

Runs on SQLite and PostgreSQL (the `db` fixture), with the job engine on each. Personio's v2 API names no
department (employments carry org unit ids only), so the training rules here key on the cost centre, a custom
attribute, and on the supervisor.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from enrolsync.connectors.moodle.fake.server import FakeMoodle
from enrolsync.connectors.personio.fake import PersonioFake
from enrolsync.connectors.personio.fake.company import COST_CENTRE_ATTRIBUTE, USERNAME_ATTRIBUTE
from enrolsync.connectors.testing.company import generate_people
from enrolsync.connectors.testing.fakes import FakeClock
from enrolsync.sync.jobs import workflow
from tests.support.database import Database
from tests.support.running import Driver, running_service
from tests.support.systems import LMS_HOST, moodle_config, site

HR_HOST = "personio.test"
SIZE, SEED = 40, 3
ENGINEERING, SALES = "CC-001", "CC-002"  # the generated company's cost centres of those departments


@dataclass(kw_only=True)
class PersonioService(Driver):
    personio: PersonioFake
    moodle: FakeMoodle
    courses: dict[str, str]

    async def setup(self) -> None:
        c = self.courses
        rules = [
            {"name": "everyone", "when": {"attr": "job_title", "op": "exists"}, "enrol": [c["SAFETY-101"]]},
            {"name": "eng", "when": {"attr": "custom.cost_centre", "op": "equals", "value": ENGINEERING},
             "enrol": [c["SEC-200"]]},
            {"name": "sales", "when": {"attr": "custom.cost_centre", "op": "equals", "value": SALES},
             "enrol": [c["SALES-110"]]},
            {"name": "leads", "when": {"op": "is_manager"}, "enrol": [c["LEAD-1"]]},
        ]  # fmt: skip
        spec = {
            "rules": rules,
            "mapping": {"username": "work_email", "sso": {"auth": "saml2", "subject": "work_email"}},
        }
        config = {
            "base_url": f"https://{HR_HOST}/", "client_id": self.personio.client_id,
            "client_secret": self.personio.client_secret, "webhook_token": self.personio.webhook_token,
            "username_attribute": USERNAME_ATTRIBUTE, "custom": {"cost_centre": COST_CENTRE_ATTRIBUTE},
        }  # fmt: skip
        hr = await self.ok(
            await self.api.post("/connections", json={"name": "Personio", "connector": "personio", "config": config})
        )
        lms = await self.ok(await self.api.post("/connections", json={
            "name": "Moodle", "connector": "moodle", "config": moodle_config(self.moodle),
        }))  # fmt: skip
        pipeline = await self.ok(await self.api.post("/pipelines", json={
            "name": "Training", "source_id": hr["id"], "target_id": lms["id"], "spec": spec,
        }))  # fmt: skip
        self.pipeline_id, self.hr_connection_id = pipeline["id"], hr["id"]

    async def webhook(self, hr_id: str, event: str, token: str | None = None) -> httpx.Response:
        """A call as Personio makes it: its own `Authorization` (the configured token), no enrolsync bearer."""
        call = self.personio.webhook_request(hr_id, event, token=token)
        return await self.api.post(f"/webhooks/{self.hr_connection_id}", content=call.body, headers=dict(call.headers))


@pytest.fixture
async def service(db: Database, tmp_path: Path) -> AsyncIterator[PersonioService]:
    personio = PersonioFake.seeded(SIZE, SEED, client_id="e2e-client", client_secret="e2e-personio-secret")
    moodle, courses = site("e2e-moodle-token")
    clock = FakeClock()
    transports = {HR_HOST: personio.transport(), LMS_HOST: moodle.transport()}
    async with running_service(db, tmp_path, transports=transports, clock=clock) as api:
        yield PersonioService(api=api, clock=clock, personio=personio, moodle=moodle, courses=courses)


async def test_personio_people_are_created_moved_and_deactivated_in_moodle(service: PersonioService) -> None:
    await service.setup()
    first = await service.run()
    assert first["status"] == "succeeded", first
    company = {e.hr_id: e for e in generate_people(SIZE, SEED, today=service.personio.today)}
    current = {h: e for h, e in company.items() if e.status != "terminated"}
    managers = {e.manager_id for e in current.values() if e.manager_id}
    c = {name: int(course) for name, course in service.courses.items()}
    for hr_id, employee in current.items():
        user = service.moodle.user(employee.email)
        assert user is not None and user.idnumber == hr_id and user.auth == "saml2", hr_id
        wanted = {c["SAFETY-101"]}
        wanted |= {c["SEC-200"]} if employee.cost_center == ENGINEERING else set()
        wanted |= {c["SALES-110"]} if employee.cost_center == SALES else set()
        wanted |= {c["LEAD-1"]} if hr_id in managers else set()
        assert service.moodle.courses_of(user.id) == wanted, hr_id
    for employee in company.values():
        if employee.status == "terminated":
            assert service.moodle.user(employee.email) is None, "a leaver before the first sync gets no account"

    engineers = sorted((h for h, e in current.items() if e.cost_center == ENGINEERING and h not in managers), key=int)
    mover = engineers[-1]
    leaver = next(h for h in sorted(current, key=int, reverse=True) if h not in managers and h != mover)
    personio = service.personio
    hired = personio.hire("Ada", "Newhire", job_title="Account Executive", manager=None)
    sales_centre = [{"id": COST_CENTRE_ATTRIBUTE, "type": "STRING", "label": "Cost centre", "value": SALES}]
    personio.update_person(hired, custom_attributes=sales_centre)
    personio.update_person(mover, custom_attributes=sales_centre)
    personio.terminate(leaver, on=personio.today)

    changed = await service.run(scope="incremental")

    assert changed["status"] == "succeeded", changed
    ops = await service.op_keys(changed["id"])
    assert [op for op in ops if op[1] == hired] == sorted([
        ("create_user", hired, None), ("enrol", hired, service.courses["SAFETY-101"]),
        ("enrol", hired, service.courses["SALES-110"]), ("set_sso_identity", hired, None),
    ])  # fmt: skip
    assert [op for op in ops if op[1] == mover] == sorted([
        ("enrol", mover, service.courses["SALES-110"]), ("unenrol", mover, service.courses["SEC-200"]),
    ])  # fmt: skip
    assert ("deactivate_user", leaver, None) in ops
    assert {op[1] for op in ops} <= {hired, mover, leaver, company[leaver].manager_id}, "only the changed people"
    assert service.moodle.user(company[leaver].email).suspended is True
    moved = service.moodle.user(company[mover].email)
    assert service.moodle.courses_of(moved.id) == {c["SAFETY-101"], c["SALES-110"]}
    assert (await service.run(scope="incremental"))["progress"]["ops_planned"] == 0

    # A webhook names one person; its run re-reads just them (token checked, no signature: Personio signs nothing).
    back = next(h for h in reversed(engineers) if h not in (mover, leaver))
    refused = await service.webhook(back, "person.updated", token="Bearer guessed")
    assert refused.status_code == 401
    personio.update_person(back, custom_attributes=sales_centre)
    answer = await service.webhook(back, "person.updated")
    assert answer.status_code == 202, answer.text
    [listed] = (await service.ok(await service.api.get(f"/connections/{service.hr_connection_id}/events")))["items"]
    [run_id] = listed["run_ids"]
    await workflow.outcome(run_id)
    run = await service.ok(await service.api.get(f"/runs/{run_id}"))
    assert (run["status"], run["scope"], run["hr_ids"]) == ("succeeded", "people", [back]), run
    assert await service.op_keys(run_id) == sorted([
        ("enrol", back, service.courses["SALES-110"]), ("unenrol", back, service.courses["SEC-200"]),
    ])  # fmt: skip
