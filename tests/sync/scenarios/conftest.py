"""Scenario harness: BambooHR fake -> the real run engine -> Moodle fake, on the `db` fixture's database.

The connectors are the real ones, reached through `ClientFactory(transports=...)`; the run's date is the
BambooHR fake's, so moving its clock moves time for hire and termination dates too. Each scenario asserts the
exact operations a run planned and what the fake Moodle site holds afterwards.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from enrolsync.connectors.bamboohr import BambooHRSource
from enrolsync.connectors.bamboohr.config import BambooHRConfig
from enrolsync.connectors.bamboohr.fake.server import BambooHRFake
from enrolsync.connectors.kit.retry import ReadRetry
from enrolsync.connectors.moodle import MoodleTarget
from enrolsync.connectors.moodle.config import MoodleConfig
from enrolsync.connectors.moodle.fake.server import FakeMoodle
from enrolsync.connectors.moodle.fake.site import FakeUser
from enrolsync.connectors.registry import Registry
from enrolsync.connectors.testing.fakes import FakeClock
from enrolsync.sync.jobs import run_requests
from enrolsync.sync.jobs.run_requests import Mode, Scope
from enrolsync.sync.rules.spec import parse_spec
from enrolsync.sync.run import steps
from enrolsync.sync.run.clients import ClientFactory
from enrolsync.sync.run.context import Runtime
from enrolsync.sync.store.connections import split_config
from enrolsync.sync.store.crypto import SecretBox, generate_key
from enrolsync.sync.store.tables import Connection, Link, Pipeline, PipelineVersion, Run, RunOp
from tests.conftest import Database
from tests.sync.conftest import RecordingQueue

HR_HOST, LMS_HOST = "bamboohr.test", "moodle.test"
HR_KEY, LMS_TOKEN = "scenario-bamboohr-key", "scenario-moodle-token"
MIRROR = "enrolsyncroles"
COURSES = ("SAFETY", "SEC", "SALES", "LEAD")
OPENED = 1_717_000_000  # a Unix time: when a learner opened a course


def spec(courses: dict[str, str], **extra: Any) -> dict[str, Any]:
    """The scenarios' pipeline: safety for all, a course per department, one for managers; SSO by work email."""
    document: dict[str, Any] = {
        "rules": [
            {"name": "everyone", "when": {"attr": "department", "op": "exists"}, "enrol": [courses["SAFETY"]]},
            {
                "name": "engineering",
                "when": {"attr": "department", "op": "equals", "value": "Engineering"},
                "enrol": [courses["SEC"]],
            },
            {
                "name": "sales",
                "when": {"attr": "department", "op": "equals", "value": "Sales"},
                "enrol": [courses["SALES"]],
            },
            {"name": "leads", "when": {"op": "is_manager"}, "enrol": [courses["LEAD"]]},
        ],
        "mapping": {"username": "work_email", "sso": {"auth": "saml2", "subject": "work_email"}},
    }
    return {**document, **extra}


Planned = tuple[str, str, str]


@dataclass
class Scenario:
    db: Database
    rt: Runtime
    hr: BambooHRFake
    lms: FakeMoodle
    courses: dict[str, str]
    pipeline_id: str = ""
    queue: RecordingQueue = field(default_factory=RecordingQueue)

    # -- running ------------------------------------------------------------------------------------------------
    async def request(self, mode: Mode = "apply", scope: Scope = "full") -> str:
        async with self.db.sessions() as session:
            run, _ = await run_requests.request_run(
                session, pipeline_id=self.pipeline_id, mode=mode, scope=scope, queue=self.queue
            )
        return run.id

    async def run(self, mode: Mode = "apply", scope: Scope = "full") -> Run:
        run_id = await self.request(mode, scope)
        await steps.execute(self.rt, run_id)
        return await self.get_run(run_id)

    async def get_run(self, run_id: str) -> Run:
        async with self.db.sessions() as session:
            run = await session.get(Run, run_id)
            assert run is not None
            return run

    async def ops(self, run_id: str) -> list[RunOp]:
        async with self.db.sessions() as session:
            stmt = select(RunOp).where(RunOp.run_id == run_id).order_by(col(RunOp.seq))
            return list((await session.exec(stmt)).all())

    async def planned(self, run_id: str) -> list[Planned]:
        """(kind, hr_id, what) of each op, sorted: `what` names the course, role scope or changed fields."""
        return sorted((op.kind, op.hr_id, self.what(op.op)) for op in await self.ops(run_id))

    def what(self, op: dict[str, Any]) -> str:
        names = {course_id: name for name, course_id in self.courses.items()}
        if "course_id" in op:
            return names.get(str(op["course_id"]), str(op["course_id"]))
        if op.get("scope_hr_id"):
            return f"{op['role']} over {op['scope_hr_id']}"
        if op.get("changed"):
            return ",".join(op["changed"])
        return ""

    async def link(self, hr_id: str) -> Link:
        async with self.db.sessions() as session:
            link = await session.get(Link, (self.pipeline_id, hr_id))
            assert link is not None
            return link

    # -- the fakes ----------------------------------------------------------------------------------------------
    def days(self, n: int) -> None:
        """Let `n` days pass (on the HR system's clock, which is the run's date)."""
        self.hr.tick(n * 86_400)

    def account(self, hr_id: str) -> FakeUser:
        """The Moodle account carrying `hr_id` as its idnumber."""
        found = [u for u in self.lms.state.users.values() if u.idnumber == hr_id and not u.deleted]
        assert len(found) == 1, f"{len(found)} Moodle accounts carry idnumber {hr_id}"
        return found[0]

    def courses_of(self, hr_id: str) -> set[str]:
        names = {int(course_id): name for name, course_id in self.courses.items()}
        return {names[c] for c in self.lms.courses_of(self.account(hr_id).id)}

    def user_roles(self, hr_id: str) -> set[tuple[str, str]]:
        """(Moodle role, hr_id of the report) for each role `hr_id` holds in a user context."""
        by_id = {u.id: u.idnumber for u in self.lms.state.users.values()}
        held = self.lms.roles_of(self.account(hr_id).id)
        return {(role, by_id[i]) for role, level, i in held if level == "user"}

    def open_course(self, hr_id: str, course: str) -> None:
        """The learner opens a course (Moodle records their last access)."""
        self.lms.state.lastaccess[(self.account(hr_id).id, int(self.courses[course]))] = OPENED

    def hire(self, first: str, last: str, department: str, manager: str | None = None, **extra: Any) -> str:
        return self.hr.hire(first, last, department=department, manager=manager, **extra)


def _configs(lms: FakeMoodle) -> tuple[BambooHRConfig, MoodleConfig]:
    hr = BambooHRConfig.model_validate(
        {
            "company_domain": "acme",
            "base_url": f"https://{HR_HOST}/api/gateway.php/acme/",
            "api_key": HR_KEY,
            "fields": {"username": "customUsername"},
        }
    )
    role_ids = {name: lms.role_id(name) for name in ("student", "editingteacher", "manager", "parent")}
    target = MoodleConfig.model_validate(
        {"base_url": f"https://{LMS_HOST}/", "token": LMS_TOKEN, "role_ids": role_ids, "role_mirror_field": MIRROR}
    )
    return hr, target


async def _pipeline(db: Database, box: SecretBox, document: dict[str, Any], lms: FakeMoodle) -> str:
    name = uuid.uuid4().hex[:8]
    parsed = parse_spec(document).model_dump(mode="json")
    rows = []
    for kind, config in zip(("bamboohr", "moodle"), _configs(lms), strict=True):
        public, secret = split_config(
            type(config), config.model_dump(mode="json") | _secrets(config), allowed_http_hosts=[]
        )
        rows.append(Connection(name=f"{kind}-{name}", connector=kind, config=public, secrets=box.encrypt(secret)))
    async with db.sessions() as session:
        session.add_all(rows)
        await session.flush()
        pipeline = Pipeline(name=f"p-{name}", source_id=rows[0].id, target_id=rows[1].id, spec=parsed)
        session.add(pipeline)
        await session.flush()
        session.add(PipelineVersion(pipeline_id=pipeline.id, version=1, spec=parsed))
        await session.commit()
        return pipeline.id


def _secrets(config: Any) -> dict[str, str]:
    return {name: str(value.get_secret_value()) for name, value in config if hasattr(value, "get_secret_value")}


async def make_scenario(db: Database, *, document: dict[str, Any] | None = None, **spec_extra: Any) -> Scenario:
    """An empty company and an empty Moodle site with the four courses; `document` replaces the default spec."""
    hr = BambooHRFake(company_domain="acme", api_key=HR_KEY)
    lms = FakeMoodle(token=LMS_TOKEN)
    lms.add_profile_field(MIRROR)
    courses = {name: str(lms.add_course(name)) for name in COURSES}
    clock = FakeClock()
    box = SecretBox([generate_key()])
    rt = Runtime(
        sessions=db.sessions,
        registry=Registry.from_classes(BambooHRSource, MoodleTarget),
        box=box,
        clients=ClientFactory(
            transports={HR_HOST: hr.transport(), LMS_HOST: lms.transport()},
            clock=clock,
            read_retry=ReadRetry(clock=clock),
        ),
        today=lambda: hr.today,
        clock=clock,
        chunk=50,
    )
    scenario = Scenario(db=db, rt=rt, hr=hr, lms=lms, courses=courses)
    scenario.pipeline_id = await _pipeline(db, box, document or spec(courses, **spec_extra), lms)
    return scenario


def in_days(scenario: Scenario, n: int) -> date:
    return scenario.hr.today + timedelta(days=n)


@pytest.fixture
async def scenario(db: Database) -> Scenario:
    return await make_scenario(db)
