"""SuccessFactors -> Moodle through the whole service: REST API, durable worker, real connectors, faithful fakes.

Runs on SQLite and PostgreSQL (the `db` fixture), with the job engine on each. The connection signs SAML bearer
assertions with the OAuth client's key (the fake checks them against the registered certificate). SF sends no
webhooks, so changes arrive by incremental runs; a purged person is caught by the next full run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from enrolsync.connectors.moodle.fake.server import FakeMoodle
from enrolsync.connectors.successfactors.fake import SuccessFactorsFake
from enrolsync.connectors.successfactors.fake.saml import signing_key
from enrolsync.connectors.testing.company import generate_people
from enrolsync.connectors.testing.fakes import FakeClock
from tests.support.database import Database
from tests.support.running import Driver, running_service
from tests.support.systems import LMS_HOST, moodle_config, site, training_spec

HR_HOST = "api4.successfactors.test"
SIZE, SEED = 40, 3


@dataclass(kw_only=True)
class SuccessFactorsService(Driver):
    sf: SuccessFactorsFake
    moodle: FakeMoodle
    courses: dict[str, str]

    async def setup(self) -> None:
        c = self.courses
        spec = training_spec(c["SAFETY-101"], c["SEC-200"], c["SALES-110"], c["LEAD-1"])
        key = signing_key()
        config = {
            "base_url": f"https://{HR_HOST}/odata/v2/", "company_id": self.sf.company_id,
            "api_user": self.sf.api_user, "client_id": self.sf.client_id, "private_key": key.private_key_pem,
            "certificate": key.certificate_pem, "custom": {"cost_centre": "costCenter"},
        }  # fmt: skip
        hr = await self.ok(await self.api.post("/connections", json={
            "name": "SuccessFactors", "connector": "successfactors", "config": config,
        }))  # fmt: skip
        assert "PRIVATE KEY" not in str(hr) and hr["secrets_set"] == ["private_key"], "the key is write-only"
        check = await self.ok(await self.api.post(f"/connections/{hr['id']}/check"))
        assert check["ok"], check
        lms = await self.ok(await self.api.post("/connections", json={
            "name": "Moodle", "connector": "moodle", "config": moodle_config(self.moodle),
        }))  # fmt: skip
        pipeline = await self.ok(await self.api.post("/pipelines", json={
            "name": "Training", "source_id": hr["id"], "target_id": lms["id"], "spec": spec,
        }))  # fmt: skip
        self.pipeline_id = pipeline["id"]


@pytest.fixture
async def service(db: Database, tmp_path: Path) -> AsyncIterator[SuccessFactorsService]:
    sf = SuccessFactorsFake.seeded(SIZE, SEED)
    moodle, courses = site("e2e-moodle-token")
    clock = FakeClock()
    transports = {HR_HOST: sf.transport(), LMS_HOST: moodle.transport()}
    async with running_service(db, tmp_path, transports=transports, clock=clock) as api:
        yield SuccessFactorsService(api=api, clock=clock, sf=sf, moodle=moodle, courses=courses)


async def test_successfactors_people_are_created_moved_and_deactivated_in_moodle(
    service: SuccessFactorsService,
) -> None:
    await service.setup()
    first = await service.run()
    assert first["status"] == "succeeded", first
    company = {e.hr_id: e for e in generate_people(SIZE, SEED, today=service.sf.today)}
    current = {h: e for h, e in company.items() if e.status != "terminated"}
    managers = {e.manager_id for e in current.values() if e.manager_id}
    c = {name: int(course) for name, course in service.courses.items()}
    for hr_id, employee in current.items():
        user = service.moodle.user(employee.email)
        assert user is not None and user.idnumber == hr_id and user.auth == "saml2", hr_id
        wanted = {c["SAFETY-101"]}
        wanted |= {c["SEC-200"]} if employee.department == "Engineering" else set()
        wanted |= {c["SALES-110"]} if employee.department == "Sales" else set()
        wanted |= {c["LEAD-1"]} if hr_id in managers else set()
        assert service.moodle.courses_of(user.id) == wanted, hr_id
    for employee in company.values():
        if employee.status == "terminated":
            assert service.moodle.user(employee.email) is None, "a leaver before the first sync gets no account"

    engineers = sorted((h for h, e in current.items() if e.department == "Engineering" and h not in managers), key=int)
    mover = engineers[-1]
    leaver = next(h for h in sorted(current, key=int, reverse=True) if h not in managers and h != mover)
    sf = service.sf
    sf.tick(60)
    sales_head = next(h for h, e in current.items() if e.job_title == "VP Sales")
    hired = sf.hire("Ada", "Newhire", department="Sales", manager=sales_head, job_title="Account Executive")
    sf.move(mover, department="Sales", manager=sales_head)
    sf.terminate(leaver, on=sf.today - timedelta(days=1))

    changed = await service.run(scope="incremental")

    assert changed["status"] == "succeeded", changed
    ops = await service.op_keys(changed["id"])
    assert [op for op in ops if op[1] == hired] == sorted([
        ("create_user", hired, None), ("enrol", hired, service.courses["SAFETY-101"]),
        ("enrol", hired, service.courses["SALES-110"]), ("set_sso_identity", hired, None),
    ])  # fmt: skip
    assert [op for op in ops if op[1] == mover] == sorted([  # the department field too
        ("enrol", mover, service.courses["SALES-110"]), ("unenrol", mover, service.courses["SEC-200"]),
        ("update_user", mover, None),
    ])  # fmt: skip
    assert ("deactivate_user", leaver, None) in ops
    touched = {hired, mover, leaver, sales_head, company[leaver].manager_id, company[mover].manager_id}
    assert {op[1] for op in ops} <= touched, "only the changed people (and managers who gained or lost a report)"
    assert service.moodle.user(company[leaver].email).suspended is True
    moved = service.moodle.user(company[mover].email)
    assert service.moodle.courses_of(moved.id) == {c["SAFETY-101"], c["SALES-110"]}
    assert (await service.run(scope="incremental"))["progress"]["ops_planned"] == 0

    # Purged from SF (data retention): gone from every answer, so the next full run takes them for a leaver.
    purged = next(h for h in reversed(engineers) if h not in (mover, leaver))
    sf.delete(purged)
    full = await service.run()
    assert full["status"] == "succeeded", full
    assert ("deactivate_user", purged, None) in await service.op_keys(full["id"])
    assert service.moodle.user(company[purged].email).suspended is True
