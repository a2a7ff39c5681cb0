"""The run harness on real connectors: a BambooHR fake -> the run engine -> a Moodle fake, all time on a `FakeClock`.

The connectors are the real ones, reached through `ClientFactory(transports=...)`; the run's date is the BambooHR
fake's, so moving its clock moves time for hire and termination dates too. `make_scenario` is the engine
scenarios' company (empty, four courses named by what they teach); `build` is the reliability suite's (a given HR
fake, courses named by code, small pages). Several `Systems` can share one database.

`target_state` reduces a Moodle fake to what a person can observe, keyed by the HR id written to each account, so
two sites synced from the same HR data compare equal however their record ids were numbered.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from enrolsync.connectors.bamboohr import BambooHRSource
from enrolsync.connectors.bamboohr.config import BambooHRConfig
from enrolsync.connectors.bamboohr.fake.server import BambooHRFake
from enrolsync.connectors.moodle import MoodleTarget
from enrolsync.connectors.moodle.config import MoodleConfig
from enrolsync.connectors.moodle.fake.server import FakeMoodle
from enrolsync.connectors.moodle.fake.site import FakeUser
from enrolsync.connectors.registry import Registry
from enrolsync.connectors.testing.fakes import FakeClock
from enrolsync.sync.store.crypto import SecretBox, generate_key
from tests.support.connectors import MIRROR_FIELD
from tests.support.database import Database
from tests.support.harness import End, Harness, add_pipeline, make_runtime

HR_HOST, LMS_HOST = "bamboohr.test", "moodle.test"
ROLES = ("student", "editingteacher", "manager", "parent")
OPENED = 1_717_000_000  # a Unix time: when a learner opened a course

COURSES = ("SAFETY-101", "SEC-200", "LEAD-1", "SALES-110")  # the reliability suite's and the e2e tests' site
HR_KEY = "reliability-s3cret-bamboohr-key"  # contains the leak marker: the session sweep watches for it
LMS_TOKEN = "reliability-s3cret-moodle-token"

SCENARIO_COURSES = ("SAFETY", "SEC", "SALES", "LEAD")
SCENARIO_HR_KEY, SCENARIO_LMS_TOKEN = "scenario-bamboohr-key", "scenario-moodle-token"


def training_spec(safety: str, engineering: str, sales: str, leads: str, **extra: Any) -> dict[str, Any]:
    """Safety for all, a course per department, one for managers (course ids given); SSO by work email."""
    document: dict[str, Any] = {
        "rules": [
            {"name": "everyone", "when": {"attr": "department", "op": "exists"}, "enrol": [safety]},
            {
                "name": "engineering",
                "when": {"attr": "department", "op": "equals", "value": "Engineering"},
                "enrol": [engineering],
            },
            {"name": "sales", "when": {"attr": "department", "op": "equals", "value": "Sales"}, "enrol": [sales]},
            {"name": "leads", "when": {"op": "is_manager"}, "enrol": [leads]},
        ],
        "mapping": {"username": "work_email", "sso": {"auth": "saml2", "subject": "work_email"}},
    }
    return {**document, **extra}


def default_spec(courses: dict[str, str]) -> dict[str, Any]:
    """`training_spec` on a site with `COURSES` (course name -> id)."""
    return training_spec(courses["SAFETY-101"], courses["SEC-200"], courses["SALES-110"], courses["LEAD-1"])


def site(token: str, names: tuple[str, ...] = COURSES) -> tuple[FakeMoodle, dict[str, str]]:
    """A Moodle fake with the courses and the role mirror field; returns it and course name -> id."""
    moodle = FakeMoodle(token=token)
    moodle.add_profile_field(MIRROR_FIELD)
    return moodle, {name: str(moodle.add_course(name)) for name in names}


def bamboohr_config(hr: BambooHRFake, **options: Any) -> dict[str, Any]:
    """The BambooHR connection that reaches `hr` (behind `HR_HOST`) with its key."""
    base_url = f"https://{HR_HOST}/api/gateway.php/{hr.company_domain}/"
    return {"company_domain": hr.company_domain, "base_url": base_url, "api_key": hr.api_key, **options}


def moodle_config(lms: FakeMoodle, **options: Any) -> dict[str, Any]:
    """The Moodle connection that reaches `lms` (behind `LMS_HOST`) with its token, roles and mirror field."""
    role_ids = {name: lms.role_id(name) for name in ROLES}
    base = {
        "base_url": f"https://{LMS_HOST}/",
        "token": lms.token,
        "role_ids": role_ids,
        "role_mirror_field": MIRROR_FIELD,
    }
    return {**base, **options}


Planned = tuple[str, str, str]


@dataclass(kw_only=True)
class Systems(Harness):
    """The harness between a BambooHR fake and a Moodle fake with `courses` (name -> id)."""

    hr: BambooHRFake
    lms: FakeMoodle
    courses: dict[str, str]

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


async def connect(
    db: Database,
    hr: BambooHRFake,
    lms: FakeMoodle,
    courses: dict[str, str],
    spec: dict[str, Any],
    *,
    max_attempts: int = 3,
    **hr_options: Any,
) -> Systems:
    """A pipeline from `hr` to `lms` with `spec`, on `db`, with its own runtime and clock."""
    clock = FakeClock()
    box = SecretBox([generate_key()])
    rt = make_runtime(
        db.sessions,
        Registry.from_classes(BambooHRSource, MoodleTarget),
        box,
        clock=clock,
        transports={HR_HOST: hr.transport(), LMS_HOST: lms.transport()},
        today=lambda: hr.today,
        max_attempts=max_attempts,
    )
    source = End("bamboohr", BambooHRConfig, bamboohr_config(hr, **hr_options))
    target = End("moodle", MoodleConfig, moodle_config(lms))
    pipeline_id = await add_pipeline(db, box, source, target, spec, http_hosts=[HR_HOST, LMS_HOST])
    return Systems(db=db, rt=rt, hr=hr, lms=lms, courses=courses, clock=clock, pipeline_id=pipeline_id)


async def make_scenario(db: Database, *, document: dict[str, Any] | None = None, **spec_extra: Any) -> Systems:
    """An empty company and an empty Moodle site with the four courses; `document` replaces the default spec."""
    hr = BambooHRFake(company_domain="acme", api_key=SCENARIO_HR_KEY)
    lms, courses = site(SCENARIO_LMS_TOKEN, SCENARIO_COURSES)
    c = courses
    spec = document or training_spec(c["SAFETY"], c["SEC"], c["SALES"], c["LEAD"], **spec_extra)
    return await connect(db, hr, lms, courses, spec, fields={"username": "customUsername"})


async def build(db: Database, hr: BambooHRFake, *, max_attempts: int = 3) -> Systems:
    """A pipeline from `hr` to a fresh Moodle fake with `COURSES`. Pages of two people, so even a tiny company
    is read in several pages (and paging faults have pages to repeat or skip)."""
    hr.api_key = HR_KEY
    lms, courses = site(LMS_TOKEN)
    return await connect(db, hr, lms, courses, default_spec(courses), max_attempts=max_attempts, page_size=2)


def in_days(systems: Systems, n: int) -> date:
    """The HR system's date `n` days from now."""
    return systems.hr.today + timedelta(days=n)


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


def _mirror(user: FakeUser, field: str) -> set[str]:
    return {t.strip() for t in user.custom.get(field, "").split(",") if t.strip()}


def unrecorded_roles(lms: FakeMoodle, field: str = MIRROR_FIELD) -> set[tuple[str, str, str, str]]:
    """User-context role assignments the Moodle connector's mirror field shows neither as held nor as pending
    (`target_state` form): nothing would read them back, so nothing would revoke them. Empty when it works."""
    users = lms.state.users
    found: set[tuple[str, str, str, str]] = set()
    for role_id, holder, level, instance in lms.state.assignments:
        report = users.get(instance)
        if level != "user" or report is None or not users[holder].idnumber:
            continue
        token = f"{lms.state.roles[role_id].shortname}@{holder}"
        if not {token, f"pending:{token}"} & _mirror(report, field):
            found.add((lms.state.roles[role_id].shortname, level, users[holder].idnumber, report.idnumber))
    return found


def pending_roles(lms: FakeMoodle, field: str = MIRROR_FIELD) -> set[tuple[str, str, str, str]]:
    """User-context roles the mirror field records as pending (may be held), in `target_state` form."""
    users = lms.state.users
    by_name = {role.shortname for role in lms.state.roles.values()}
    found: set[tuple[str, str, str, str]] = set()
    for report in users.values():
        for token in _mirror(report, field):
            shortname, _, holder = token.removeprefix("pending:").partition("@")
            if token.startswith("pending:") and shortname in by_name and int(holder) in users:
                found.add((shortname, "user", users[int(holder)].idnumber, report.idnumber))
    return found


def phantom_records(lms: FakeMoodle, field: str = MIRROR_FIELD) -> set[str]:
    """Mirror tokens that say a user-context role is held when it is not (`<report id>:<token>`): a later grant
    would answer `already` and the role would be lost. Empty when it works."""
    held = {(lms.state.roles[r].shortname, u, i) for r, u, level, i in lms.state.assignments if level == "user"}
    found: set[str] = set()
    for report in lms.state.users.values():
        for token in _mirror(report, field) - {t for t in _mirror(report, field) if t.startswith("pending:")}:
            shortname, _, holder = token.partition("@")
            if holder.isdigit() and (shortname, int(holder), report.id) not in held:
                found.add(f"{report.id}:{token}")
    return found
