"""Workday -> Moodle through the whole service: REST API, durable worker, real connectors, faithful fakes.

Runs on SQLite and PostgreSQL (the `db` fixture) and through both of Workday's APIs: SOAP Get_Workers signed with a
WS-Security UsernameToken, and a RaaS custom report with an `Updated_From` prompt. Workday sends no webhooks, so
changes arrive by incremental runs; a future-dated termination is acted on the day it takes effect; a rescinded
hire is caught by the next full run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from enrolsync.connectors.moodle.fake.server import FakeMoodle
from enrolsync.connectors.testing.company import generate_people
from enrolsync.connectors.testing.fakes import FakeClock
from enrolsync.connectors.workday.fake import WorkdayFake
from enrolsync.connectors.workday.fake.server import REPORT_NAME, REPORT_OWNER, UPDATED_FROM
from tests.support.database import Database
from tests.support.running import Driver, running_service
from tests.support.systems import LMS_HOST, moodle_config, site, training_spec

HR_HOST = "wd2-impl-services1.workday.test"
SIZE, SEED = 40, 3
DAY = 86400


@dataclass(kw_only=True)
class WorkdayService(Driver):
    wd: WorkdayFake
    moodle: FakeMoodle
    courses: dict[str, str]

    async def setup(self, workday_api: str) -> None:
        c = self.courses
        spec = training_spec(c["SAFETY-101"], c["SEC-200"], c["SALES-110"], c["LEAD-1"])
        config = {
            "base_url": f"https://{HR_HOST}", "tenant": self.wd.tenant, "api": workday_api,
            "username": self.wd.username, "password": self.wd.password, "report_owner": REPORT_OWNER,
            "report_name": REPORT_NAME, "updated_from_prompt": UPDATED_FROM,
        }  # fmt: skip
        hr = await self.ok(await self.api.post("/connections", json={
            "name": "Workday", "connector": "workday", "config": config,
        }))  # fmt: skip
        assert self.wd.password not in str(hr) and hr["secrets_set"] == ["password"], "the password is write-only"
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
async def service(db: Database, tmp_path: Path) -> AsyncIterator[WorkdayService]:
    wd = WorkdayFake.seeded(SIZE, SEED)
    moodle, courses = site("e2e-moodle-token")
    clock = FakeClock()
    transports = {HR_HOST: wd.transport(), LMS_HOST: moodle.transport()}
    async with running_service(db, tmp_path, transports=transports, clock=clock) as api:
        yield WorkdayService(api=api, clock=clock, wd=wd, moodle=moodle, courses=courses)


@pytest.mark.parametrize("workday_api", ["soap", "raas"])
async def test_workday_people_are_created_moved_and_deactivated_in_moodle(
    service: WorkdayService, workday_api: str
) -> None:
    await service.setup(workday_api)
    first = await service.run()
    assert first["status"] == "succeeded", first
    company = {e.hr_id: e for e in generate_people(SIZE, SEED, today=service.wd.today)}
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
    wd = service.wd
    wd.tick(60)
    sales_head = next(h for h, e in current.items() if e.job_title == "VP Sales")
    hired = wd.hire("Ada", "Newhire", department="Sales", manager=sales_head, job_title="Account Executive")
    wd.move(mover, department="Sales", manager=sales_head)
    wd.terminate(leaver, on=wd.today - timedelta(days=1))

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

    # A termination entered today for the end of the week: nothing until it takes effect, then a leaver.
    later = next(h for h in reversed(engineers) if h not in (mover, leaver))
    wd.tick(60)
    wd.terminate(later, on=wd.today + timedelta(days=2))
    pending = await service.run(scope="incremental")
    assert ("deactivate_user", later, None) not in await service.op_keys(pending["id"])
    wd.tick(3 * DAY)
    effective = await service.run(scope="incremental")
    assert ("deactivate_user", later, None) in await service.op_keys(effective["id"])
    assert service.moodle.user(company[later].email).suspended is True

    # A rescinded hire vanishes from every Workday answer, so the next full run takes them for a leaver.
    rescinded = next(h for h in sorted(current, key=int) if h not in managers and h not in (mover, leaver, later))
    wd.rescind_hire(rescinded)
    full = await service.run()
    assert full["status"] == "succeeded", full
    assert ("deactivate_user", rescinded, None) in await service.op_keys(full["id"])
    assert service.moodle.user(company[rescinded].email).suspended is True
