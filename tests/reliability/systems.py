"""BambooHR fake -> the run engine -> Moodle fake, on the `db` fixture's database, all time on a `FakeClock`.

`Systems` is one pipeline with its own pair of fakes; several can share one database (each randomized run of
the fault suite builds its own). `target_state` reduces a Moodle fake to what a person can observe, keyed by
the HR id written to each account, so two sites synced from the same HR data compare equal however their
record ids were numbered.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import col, select

from enrolsync.connectors.bamboohr import BambooHRSource
from enrolsync.connectors.bamboohr.config import BambooHRConfig
from enrolsync.connectors.bamboohr.fake.server import BambooHRFake
from enrolsync.connectors.kit.retry import ReadRetry
from enrolsync.connectors.moodle import MoodleTarget
from enrolsync.connectors.moodle.config import MoodleConfig
from enrolsync.connectors.moodle.fake.server import FakeMoodle
from enrolsync.connectors.registry import Registry
from enrolsync.connectors.testing.fakes import FakeClock
from enrolsync.sync.jobs import run_requests
from enrolsync.sync.jobs.run_requests import Scope
from enrolsync.sync.rules.spec import parse_spec
from enrolsync.sync.run import steps
from enrolsync.sync.run.clients import ClientFactory
from enrolsync.sync.run.context import Runtime
from enrolsync.sync.store.connections import split_config
from enrolsync.sync.store.crypto import SecretBox, generate_key
from enrolsync.sync.store.tables import Connection, Link, Pipeline, PipelineVersion, Run, RunOp
from tests.conftest import Database

COURSES = ("SAFETY-101", "SEC-200", "LEAD-1", "SALES-110")
HR_KEY = "reliability-s3cret-bamboohr-key"  # contains the leak marker: the session sweep watches for it
LMS_TOKEN = "reliability-s3cret-moodle-token"
ALLOWED_HOSTS = ("bamboohr.test", "moodle.test")


class NullQueue:
    """Runs are executed in-process by the tests; nothing is handed to a job engine."""

    async def enqueue(self, run_id: str, *, generation: int = 0) -> None:
        return None


def spec(courses: dict[str, str]) -> dict[str, Any]:
    """Everyone, engineers, managers and sales each get a course; accounts sign in with SAML."""
    c = courses
    return {
        "rules": [
            {"name": "everyone", "when": {"attr": "department", "op": "exists"}, "enrol": [c["SAFETY-101"]]},
            {"name": "eng", "when": {"attr": "department", "op": "equals", "value": "Engineering"},
             "enrol": [c["SEC-200"]]},
            {"name": "leads", "when": {"op": "is_manager"}, "enrol": [c["LEAD-1"]]},
            {"name": "sales", "when": {"attr": "department", "op": "equals", "value": "Sales"},
             "enrol": [c["SALES-110"]]},
        ],
        "mapping": {"username": "work_email", "sso": {"auth": "saml2", "subject": "work_email"}},
    }  # fmt: skip


def site(hr: BambooHRFake | None = None) -> tuple[FakeMoodle, dict[str, str]]:
    """A Moodle fake with the four courses and the role mirror field; returns it and course name -> id."""
    moodle = FakeMoodle(token=LMS_TOKEN)
    moodle.add_profile_field("enrolsyncroles")
    return moodle, {name: str(moodle.add_course(name)) for name in COURSES}


@dataclass
class Systems:
    db: Database
    rt: Runtime
    hr: BambooHRFake
    lms: FakeMoodle
    courses: dict[str, str]
    clock: FakeClock
    pipeline_id: str = ""
    run_ids: list[str] = field(default_factory=list)

    async def run(self, scope: Scope = "full") -> Run:
        """Request an applied run and execute it to its end, as a worker would."""
        async with self.db.sessions() as session:
            run, _ = await run_requests.request_run(
                session, pipeline_id=self.pipeline_id, mode="apply", scope=scope, queue=NullQueue()
            )
        self.run_ids.append(run.id)
        await steps.execute(self.rt, run.id)
        return await self.get_run(run.id)

    async def get_run(self, run_id: str) -> Run:
        async with self.db.sessions() as session:
            run = await session.get(Run, run_id)
            assert run is not None
            return run

    async def ops(self, run_id: str) -> list[RunOp]:
        async with self.db.sessions() as session:
            stmt = select(RunOp).where(col(RunOp.run_id) == run_id).order_by(col(RunOp.seq))
            return list((await session.exec(stmt)).all())

    async def links(self) -> dict[str, Link]:
        async with self.db.sessions() as session:
            stmt = select(Link).where(col(Link.pipeline_id) == self.pipeline_id)
            return {link.hr_id: link for link in (await session.exec(stmt)).all()}


async def _connection(db: Database, box: SecretBox, connector: str, model: Any, config: dict[str, Any]) -> str:
    public, secret = split_config(model, config, allowed_http_hosts=list(ALLOWED_HOSTS))
    async with db.sessions() as session:
        row = Connection(
            name=f"{connector}-{uuid.uuid4().hex[:12]}", connector=connector, config=public, secrets=box.encrypt(secret)
        )
        session.add(row)
        await session.commit()
        return row.id


async def build(db: Database, hr: BambooHRFake, *, max_attempts: int = 3) -> Systems:
    """A pipeline from `hr` to a fresh Moodle fake, on `db`, with its own runtime and clock."""
    hr.api_key = HR_KEY
    lms, courses = site()
    clock = FakeClock()
    box = SecretBox([generate_key()])
    clients = ClientFactory(
        transports={"bamboohr.test": hr.transport(), "moodle.test": lms.transport()},
        clock=clock,
        read_retry=ReadRetry(clock=clock),
    )
    rt = Runtime(
        sessions=db.sessions,
        registry=Registry.from_classes(BambooHRSource, MoodleTarget),
        box=box,
        clients=clients,
        clock=clock,
        today=lambda: hr.today,
        max_attempts=max_attempts,
        chunk=50,
    )
    source = await _connection(db, box, "bamboohr", BambooHRConfig, {
        "company_domain": hr.company_domain, "base_url": "https://bamboohr.test/api/gateway.php/acme/",
        "api_key": HR_KEY, "page_size": 2,
    })  # fmt: skip
    role_ids = {name: lms.role_id(name) for name in ("student", "editingteacher", "manager", "parent")}
    target = await _connection(db, box, "moodle", MoodleConfig, {
        "base_url": "https://moodle.test/", "token": LMS_TOKEN, "role_ids": role_ids,
        "role_mirror_field": "enrolsyncroles",
    })  # fmt: skip
    parsed = parse_spec(spec(courses)).model_dump(mode="json")
    async with db.sessions() as session:
        pipeline = Pipeline(name=f"p-{uuid.uuid4().hex[:12]}", source_id=source, target_id=target, spec=parsed)
        session.add(pipeline)
        await session.flush()
        session.add(PipelineVersion(pipeline_id=pipeline.id, version=1, spec=parsed))
        await session.commit()
        pipeline_id = pipeline.id
    return Systems(db=db, rt=rt, hr=hr, lms=lms, courses=courses, clock=clock, pipeline_id=pipeline_id)


# -- what a person sees on the target --------------------------------------------------------------------------


def target_state(lms: FakeMoodle) -> dict[str, Any]:
    """Accounts, enrolments and role assignments of the people enrolsync manages, keyed by HR id (idnumber)."""
    users = {u.id: u for u in lms.state.users.values() if u.idnumber and not u.deleted}
    hr_id = {user_id: user.idnumber for user_id, user in users.items()}
    courses = {c.id: c.shortname for c in lms.state.courses.values()}
    accounts = {
        u.idnumber: (u.username, u.firstname, u.lastname, u.email, u.auth, u.suspended, u.department)
        for u in users.values()
    }
    enrolments = sorted((hr_id[u], courses[c]) for u, c in lms.state.enrolments if u in hr_id)

    def over(level: str, instance: int) -> str:
        """Whom or what a role is held over: a person (by HR id), a course (by short name), or the system."""
        if level == "user":
            return hr_id.get(instance, str(instance))
        return courses[instance] if level == "course" else ""

    roles = sorted(
        (lms.state.roles[r].shortname, level, hr_id[u], over(level, i))
        for r, u, level, i in lms.state.assignments
        if u in hr_id
    )
    return {"accounts": accounts, "enrolments": enrolments, "roles": roles}


def duplicates(lms: FakeMoodle) -> list[str]:
    """Effects the LMS holds or accepted more than once: accounts per HR id or username, creates per username."""
    found: list[str] = []
    live = [u for u in lms.state.users.values() if not u.deleted]
    for what, counts in (
        ("account per hr id", Counter(u.idnumber for u in live if u.idnumber)),
        ("account per username", Counter(u.username for u in live)),
        ("accepted create per username", Counter(
            user["username"] for call in lms.called("core_user_create_users") for user in call["users"]
        )),
    ):  # fmt: skip
        found += [f"{what}: {key} x{n}" for key, n in counts.items() if n > 1]
    return found


def unrecorded_roles(lms: FakeMoodle, field: str = "enrolsyncroles") -> set[tuple[str, str, str, str]]:
    """User-context role assignments the Moodle connector's mirror field does not record (`target_state` form):
    an assignment made whose record failed. Nothing reads them back, so nothing revokes them."""
    users = lms.state.users
    found: set[tuple[str, str, str, str]] = set()
    for role_id, holder, level, instance in lms.state.assignments:
        report = users.get(instance)
        if level != "user" or report is None or not users[holder].idnumber:
            continue
        token = f"{lms.state.roles[role_id].shortname}@{holder}"
        if token not in {t.strip() for t in report.custom.get(field, "").split(",")}:
            found.add((lms.state.roles[role_id].shortname, level, users[holder].idnumber, report.idnumber))
    return found
