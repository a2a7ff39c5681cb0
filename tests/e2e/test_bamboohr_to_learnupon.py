"""BambooHR -> LearnUpon through the whole service: REST API, durable worker, real connectors, faithful fakes.

Runs on SQLite and PostgreSQL (the `db` fixture). Joiners become enabled learners carrying their HR id, leavers are
disabled with their training kept, movers change courses, a manager's role over their direct reports is their team
group in LearnUpon (and follows a report who moves), and the SSO identity is the email the portal's SAML matches.
A rule's due date reaches each enrolment as LearnUpon's own `due_date` (advisory: the learner keeps access), moves
when the rule changes, and for recurring training follows the learner's completion to the next cycle (issue 16).
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from enrolsync.connectors.bamboohr.fake.server import BambooHRFake
from enrolsync.connectors.learnupon.fake import FakeLearnUpon
from enrolsync.connectors.testing.fakes import FakeClock
from enrolsync.sync.jobs import workflow
from enrolsync.sync.rules.due import add_months
from tests.support.database import Database
from tests.support.running import running_service
from tests.support.systems import COURSES, HR_HOST, bamboohr_config, training_spec

LU_HOST = "acme.learnupon.test"
LU_KEY, LU_SECRET = "e2e-lu-api-user", "e2e-lu-s3cret-password"
TEAM = "enrolsync team "


@dataclass
class LearnUponService:
    api: httpx.AsyncClient
    bamboohr: BambooHRFake
    lu: FakeLearnUpon
    courses: dict[str, str]
    clock: FakeClock
    pipeline_id: str = ""

    async def ok(self, response: httpx.Response) -> Any:
        assert response.is_success, response.text
        return response.json()

    async def setup_pipeline(self, spec: dict[str, Any]) -> None:
        lu_config = {
            "base_url": f"https://{LU_HOST}/", "api_username": LU_KEY, "api_password": LU_SECRET,
            "department_field": "department", "sso_auth": "saml2", "sso_field": "sign_in",
        }  # fmt: skip
        hr = await self.ok(await self.api.post("/connections", json={
            "name": "BambooHR", "connector": "bamboohr", "config": bamboohr_config(self.bamboohr),
        }))  # fmt: skip
        lms = await self.ok(await self.api.post("/connections", json={
            "name": "LearnUpon", "connector": "learnupon", "config": lu_config,
        }))  # fmt: skip
        pipeline = await self.ok(await self.api.post("/pipelines", json={
            "name": "Training", "source_id": hr["id"], "target_id": lms["id"], "spec": spec,
        }))  # fmt: skip
        self.pipeline_id = pipeline["id"]

    async def run(self, mode: str = "apply", scope: str = "full") -> dict[str, Any]:
        body = {"mode": mode, "scope": scope}
        run = await self.ok(await self.api.post(f"/pipelines/{self.pipeline_id}/runs", json=body))
        await workflow.outcome(run["id"])
        return dict(await self.ok(await self.api.get(f"/runs/{run['id']}")))

    async def operations(self, run_id: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        params: dict[str, Any] = {"limit": 200}
        while True:
            page = await self.ok(await self.api.get(f"/runs/{run_id}/operations", params=params))
            items += page["items"]
            if not page["next"]:
                return items
            params["after"] = page["next"]

    # -- what the portal holds, by HR id ------------------------------------------------------------------------
    def user(self, hr_id: str) -> dict[str, Any]:
        found = [u for u in self.lu.portal.users.values() if u["CustomData"].get("employee_id") == hr_id]
        assert len(found) == 1, f"{len(found)} LearnUpon users carry employee_id {hr_id}"
        return found[0]

    def courses_of(self, hr_id: str) -> set[str]:
        names = {int(course_id): name for name, course_id in self.courses.items()}
        return {names[c] for c in self.lu.courses_of(self.user(hr_id)["id"])}

    def team(self, manager: str) -> set[str]:
        """HR ids of the learners in `manager`'s team group (empty without one); the manager must lead it."""
        boss = self.user(manager)
        group = self.lu.group_titled(f"{TEAM}{boss['id']}")
        if group is None:
            return set()
        assert self.lu.members(group["id"], 4) == {boss["id"]}
        by_id = {u["id"]: u["CustomData"].get("employee_id") for u in self.lu.portal.users.values()}
        return {by_id[m] for m in self.lu.members(group["id"], 1)}


@pytest.fixture
async def service(db: Database, tmp_path: Path) -> AsyncIterator[LearnUponService]:
    bamboohr = BambooHRFake.seeded(40, 3, company_domain="acme", api_key="e2e-bamboohr-key")
    clock = FakeClock()
    lu = FakeLearnUpon(key=LU_KEY, secret=LU_SECRET, clock=clock.monotonic, page_size=25)
    lu.portal.custom_fields.update({"employee_id", "department", "sign_in"})
    courses = {name: str(lu.add_course(name)) for name in COURSES}
    async with running_service(
        db, tmp_path, transports={HR_HOST: bamboohr.transport(), LU_HOST: lu.transport()}, clock=clock
    ) as api:
        yield LearnUponService(api=api, bamboohr=bamboohr, lu=lu, courses=courses, clock=clock)


def spec(courses: dict[str, str]) -> dict[str, Any]:
    return training_spec(courses["SAFETY-101"], courses["SEC-200"], courses["SALES-110"], courses["LEAD-1"])


def active_people(service: LearnUponService) -> dict[str, dict[str, Any]]:
    rows = {hr_id: service.bamboohr.row(hr_id) for hr_id in service.bamboohr.hr_ids()}
    return {hr_id: row for hr_id, row in rows.items() if row["status"] == "Active"}


def reports_of(people: dict[str, dict[str, Any]], manager: str) -> set[str]:
    return {h for h, row in people.items() if str(row["supervisorEid"] or "") == manager}


def expected_courses(row: dict[str, Any], managers: set[str]) -> set[str]:
    wanted = {"SAFETY-101"}
    department = row["jobInformationDepartment"]
    if department == "Engineering":
        wanted.add("SEC-200")
    if department == "Sales":
        wanted.add("SALES-110")
    if str(row["eeid"]) in managers:
        wanted.add("LEAD-1")
    return wanted


async def test_joiners_movers_and_leavers_reach_learnupon_and_a_resync_writes_nothing(
    service: LearnUponService,
) -> None:
    await service.setup_pipeline(spec(service.courses))

    dry = await service.run(mode="plan")
    assert dry["status"] == "succeeded" and dry["progress"]["ops_planned"] > 0
    assert service.lu.writes == [], "a dry run writes nothing"

    first = await service.run()

    assert first["status"] == "succeeded", first
    people = active_people(service)
    managers = {str(r["supervisorEid"]) for r in people.values() if r["supervisorEid"]} & set(people)
    for hr_id, row in people.items():
        user = service.user(hr_id)
        assert (user["email"], user["user_type"] in ("learner", "manager"), user["enabled"]) == (
            row["email"],
            True,
            True,
        )
        assert user["CustomData"]["sign_in"] == "saml2", "the SSO identity is recorded"
        assert user["CustomData"]["department"] == row["jobInformationDepartment"]
        assert service.courses_of(hr_id) == expected_courses(row, managers), hr_id
    for hr_id in managers:
        assert service.team(hr_id) == reports_of(people, hr_id), f"team of {hr_id}"
        assert service.user(hr_id)["user_type"] == "manager"
    writes = len(service.lu.writes)

    again = await service.run()
    assert again["status"] == "succeeded" and again["progress"]["ops_planned"] == 0
    assert len(service.lu.writes) == writes, "a re-sync of unchanged people writes nothing"

    hr = service.bamboohr
    engineers = sorted((h for h, r in people.items() if r["jobInformationDepartment"] == "Engineering"), key=int)
    mover = next(h for h in reversed(engineers) if h not in managers)
    leaver = next(h for h in sorted(people, key=int, reverse=True) if h not in managers and h != mover)
    hired = hr.hire("Ada", "Newhire", department="Sales", manager=None)
    hr.move(mover, department="Sales")
    hr.terminate(leaver, on=hr.today)

    changed = await service.run(scope="incremental")

    assert changed["status"] == "succeeded", changed
    kinds = sorted((op["kind"], op["hr_id"]) for op in await service.operations(changed["id"]))
    assert ("create_user", hired) in kinds and ("deactivate_user", leaver) in kinds
    assert ("update_user", mover) in kinds and ("unenrol", mover) in kinds
    assert service.courses_of(hired) == {"SAFETY-101", "SALES-110"}
    assert service.courses_of(mover) == {"SAFETY-101", "SALES-110"}
    assert service.user(mover)["CustomData"]["department"] == "Sales"
    assert service.user(leaver)["enabled"] is False
    assert service.courses_of(leaver), "a leaver keeps their training record"
    leaver_manager = str(people[leaver]["supervisorEid"] or "")
    if leaver_manager in managers:
        assert leaver not in service.team(leaver_manager), "a leaver leaves their manager's team"
    writes = len(service.lu.writes)
    assert (await service.run(scope="incremental"))["progress"]["ops_planned"] == 0
    assert len(service.lu.writes) == writes


async def test_manager_scope_follows_a_report_who_moves(service: LearnUponService) -> None:
    await service.setup_pipeline(spec(service.courses))
    assert (await service.run())["status"] == "succeeded"
    people = active_people(service)
    managers = sorted({str(r["supervisorEid"]) for r in people.values() if r["supervisorEid"]} & set(people), key=int)
    old, report = next((m, min(r, key=int)) for m in managers if (r := reports_of(people, m) - set(managers)))
    new = next(m for m in reversed(managers) if m != old)

    service.bamboohr.move(report, manager=new)
    moved = await service.run(scope="incremental")

    assert moved["status"] == "succeeded", moved
    roles = sorted(
        (op["kind"], op["hr_id"], op["op"]["scope_hr_id"])
        for op in await service.operations(moved["id"])
        if "role" in op["kind"]
    )
    assert roles == [("assign_role", new, report), ("revoke_role", old, report)]
    assert report in service.team(new) and report not in service.team(old)
    assert service.team(old) == reports_of(people, old) - {report}


async def test_a_throttled_portal_is_paced_by_its_budget_not_hammered(service: LearnUponService) -> None:
    service.lu.per_minute = 40  # LearnUpon publishes no numbers; this portal allows 40 requests a minute
    await service.setup_pipeline(spec(service.courses))

    run = await service.run()

    assert run["status"] == "succeeded", run
    people = active_people(service)
    assert all(service.user(h)["enabled"] for h in people)
    requests = len(service.lu.requests)
    assert requests > 3 * 40, "the first sync needs several minutes of budget"
    assert service.lu.throttled == 0, "the remaining-budget header paces every request: none is refused"
    assert service.clock.sleeps.count(60.0) == requests // 40, "each spent minute is waited out, once"
    assert (await service.run())["progress"]["ops_planned"] == 0


async def test_one_refused_person_fails_alone(service: LearnUponService) -> None:
    await service.setup_pipeline({**spec(service.courses), "match_keys": ["external_id"]})
    people = active_people(service)
    victim = sorted(people, key=int)[-1]
    # Someone else already holds the victim's email in LearnUpon, under another HR id: enrolsync must not take it.
    service.lu.add_user("Some", "One", people[victim]["email"], employee_id="X-999")

    run = await service.run()

    assert run["status"] == "partially_failed", run
    failed = [op for op in await service.operations(run["id"]) if op["status"] == "failed"]
    assert [(op["kind"], op["hr_id"]) for op in failed] == [("create_user", victim)]
    assert "another HR id" in failed[0]["last_error"]
    assert all(service.user(h)["enabled"] for h in set(people) - {victim})


def team_enrolment(team: dict[str, Any], hr_id: str, course: str) -> dict[str, Any]:
    member = next(m for m in team["members"] if m["hr_id"] == hr_id)
    found: dict[str, Any] = next(e for e in member["enrolments"] if e["course"] == course)
    return found


async def test_progress_in_learnupon_reaches_the_managers_team_view(service: LearnUponService) -> None:
    """Issue 16: one report passes a course in LearnUpon and another fails it; after the next full run their
    manager's team view shows both, with LearnUpon's dates, and reading them wrote nothing to LearnUpon."""
    await service.setup_pipeline(spec(service.courses))
    assert (await service.run())["status"] == "succeeded"
    people = active_people(service)
    manager = next(m for m in sorted(people) if len(reports_of(people, m)) >= 2)
    passed, failed = sorted(reports_of(people, manager))[:2]
    safety = service.courses["SAFETY-101"]
    service.lu.learn(service.user(passed)["id"], int(safety), status="passed", at="2026-10-12T16:26:08Z", modules=100)
    service.lu.learn(service.user(failed)["id"], int(safety), status="failed", at="2026-10-13T11:00:00Z", modules=80)
    url = f"/pipelines/{service.pipeline_id}/teams/{manager}"
    before = await service.ok(await service.api.get(url))
    writes = len(service.lu.writes)

    again = await service.run()

    assert again["status"] == "succeeded" and again["counters"]["progress"]["completed"] == 1
    assert len(service.lu.writes) == writes, "reading progress writes nothing"
    after = await service.ok(await service.api.get(url))
    assert team_enrolment(before, passed, safety)["progress"] == "not_started"
    done = team_enrolment(after, passed, safety)
    assert (done["progress"], done["completed_at"], done["last_activity_at"], done["percent"]) == (
        "completed", "2026-10-12T16:26:08Z", "2026-10-12T16:26:08Z", 100.0
    )  # fmt: skip
    lost = team_enrolment(after, failed, safety)
    assert (lost["progress"], lost["completed_at"], lost["percent"]) == ("failed", "2026-10-13T11:00:00Z", 80.0)
    assert [c["hr_id"] for c in after["summary"]["newest_completions"]] == [passed]


# -- due dates (issue 16) ----------------------------------------------------------------------------------------
COMPLETED = "2026-03-14T10:30:00Z"


def due_of(service: LearnUponService, hr_id: str, course: str) -> date | None:
    """The due date LearnUpon lists for the person's enrolment (its UTC date/time, read as a date)."""
    user_id, course_id = service.user(hr_id)["id"], int(service.courses[course])
    listed = service.lu.enrollment(user_id, course_id)["due_date"]
    return None if listed is None else date.fromisoformat(listed[:10])


def hired(row: dict[str, Any]) -> date:
    return date.fromisoformat(row["hireDate"])


def document(service: LearnUponService, *, safety_days: int) -> dict[str, Any]:
    """The training rules with safety due `safety_days` after hire, and engineering's security course two weeks
    after hire, then every 12 months after each completion."""
    found = copy.deepcopy(spec(service.courses))
    found["rules"][0]["due"] = {"days_after_hire": safety_days}
    found["rules"][1]["due"] = {"days_after_hire": 14, "every_months": 12}
    return found


async def test_due_dates_reach_learnupon_move_with_the_rule_and_recur_after_completion(
    service: LearnUponService,
) -> None:
    await service.setup_pipeline(document(service, safety_days=30))

    first = await service.run()

    assert first["status"] == "succeeded", first
    people = active_people(service)
    engineers = sorted((h for h, r in people.items() if r["jobInformationDepartment"] == "Engineering"), key=int)
    assert engineers
    for hr_id, row in people.items():
        assert due_of(service, hr_id, "SAFETY-101") == hired(row) + timedelta(days=30), hr_id
        if hr_id in engineers:
            assert due_of(service, hr_id, "SEC-200") == hired(row) + timedelta(days=14), hr_id
        if row["jobInformationDepartment"] == "Sales":
            assert due_of(service, hr_id, "SALES-110") is None, "no rule sets a due date for sales training"
    writes = len(service.lu.writes)

    again = await service.run()

    assert again["status"] == "succeeded" and again["progress"]["ops_planned"] == 0
    assert len(service.lu.writes) == writes, "a re-sync with the same rules writes nothing"

    changed = await service.api.patch(
        f"/pipelines/{service.pipeline_id}", json={"spec": document(service, safety_days=45)}
    )
    assert changed.is_success, changed.text
    moved = await service.run()

    assert moved["status"] == "succeeded", moved
    kinds = [(op["kind"], op["hr_id"]) for op in await service.operations(moved["id"])]
    assert sorted(kinds) == sorted(("set_due_date", hr_id) for hr_id in people), "only the due dates move"
    for hr_id, row in people.items():
        assert due_of(service, hr_id, "SAFETY-101") == hired(row) + timedelta(days=45), hr_id
    patches = [r for r in service.lu.writes if r.method == "PATCH"]
    assert len(patches) == len(people), "one PATCH /enrollments/{id} per moved enrolment"

    learner = engineers[0]
    service.lu.learn(service.user(learner)["id"], int(service.courses["SEC-200"]), status="completed", at=COMPLETED)
    reads_completion = await service.run()  # a full run reads the completion back after applying
    next_cycle = await service.run()

    ops = [
        (op["kind"], op["hr_id"], op["op"]["course_id"])
        for run in (reads_completion, next_cycle)
        for op in await service.operations(run["id"])
    ]
    assert ops == [("set_due_date", learner, service.courses["SEC-200"])]
    assert due_of(service, learner, "SEC-200") == add_months(date(2026, 3, 14), 12)
    assert (await service.run())["progress"]["ops_planned"] == 0
