"""BambooHR -> Canvas through the whole service: REST API, durable worker, real connectors, faithful fakes.

Runs on SQLite and PostgreSQL (the `db` fixture), with the job engine on each. Joiners get a Canvas user whose
login carries the HR id as SIS id and signs in through the SAML provider; movers' old enrolments are concluded
(grades kept); leavers' logins are suspended with their enrolments in place; managers observe their reports.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from enrolsync.connectors.bamboohr.fake.server import BambooHRFake
from enrolsync.connectors.canvas.fake import FakeCanvas
from enrolsync.connectors.canvas.fake.state import FakeUser
from enrolsync.connectors.testing.fakes import FakeClock
from enrolsync.sync.jobs import workflow
from tests.support.database import Database
from tests.support.running import running_service
from tests.support.systems import COURSES, HR_HOST, bamboohr_config, training_spec

LMS_HOST = "canvas.test"
TOKEN = "e2e-canvas-token"


@dataclass
class CanvasService:
    api: httpx.AsyncClient
    bamboohr: BambooHRFake
    canvas: FakeCanvas
    courses: dict[str, str]  # name -> the course reference the rules use
    clock: FakeClock
    pipeline_id: str = ""

    async def ok(self, response: httpx.Response) -> Any:
        assert response.is_success, response.text
        return response.json()

    async def setup(self, **spec_extra: Any) -> None:
        c = self.courses
        spec = training_spec(c["SAFETY-101"], c["SEC-200"], c["SALES-110"], c["LEAD-1"], **spec_extra)
        hr = await self.ok(await self.api.post("/connections", json={
            "name": "BambooHR", "connector": "bamboohr", "config": bamboohr_config(self.bamboohr),
        }))  # fmt: skip
        lms = await self.ok(await self.api.post("/connections", json={
            "name": "Canvas", "connector": "canvas", "config": {"base_url": f"https://{LMS_HOST}/", "token": TOKEN},
        }))  # fmt: skip
        pipeline = await self.ok(await self.api.post("/pipelines", json={
            "name": "Training", "source_id": hr["id"], "target_id": lms["id"], "spec": spec,
        }))  # fmt: skip
        self.pipeline_id = pipeline["id"]

    async def run(self, mode: str = "apply", scope: str = "full") -> dict[str, Any]:
        path = f"/pipelines/{self.pipeline_id}/runs"
        run = await self.ok(await self.api.post(path, json={"mode": mode, "scope": scope}))
        await workflow.outcome(run["id"])
        return dict(await self.ok(await self.api.get(f"/runs/{run['id']}")))

    async def operations(self, run_id: str) -> list[dict[str, Any]]:
        """Every operation of a run, following the API's pages."""
        items: list[dict[str, Any]] = []
        params: dict[str, Any] = {"limit": 200}
        while True:
            page = await self.ok(await self.api.get(f"/runs/{run_id}/operations", params=params))
            items += page["items"]
            if not page["next"]:
                return items
            params["after"] = page["next"]

    # -- what Canvas holds ----------------------------------------------------------------------------------------
    def user(self, hr_id: str) -> FakeUser | None:
        return self.canvas.user_by_sis(hr_id)

    def course_id(self, name: str) -> int:
        """The Canvas id of the course with SIS id `name`."""
        return next(c.id for c in self.canvas.state.courses.values() if c.sis_course_id == name)

    def learning(self, user_id: int, states: tuple[str, ...] = ("active", "invited")) -> set[int]:
        return {
            e.course_id for e in self.canvas.state.enrollments.values()
            if e.user_id == user_id and e.type == "StudentEnrollment" and e.enrollment_state in states
        }  # fmt: skip

    def observees(self, user_id: int) -> set[int]:
        return {observee for observer, observee in self.canvas.state.observers if observer == user_id}


@pytest.fixture
async def service(db: Database, tmp_path: Path) -> AsyncIterator[CanvasService]:
    """A 40-person company in BambooHR and a Canvas instance with a SAML provider and the four courses, one of
    two of them named in the rules by SIS id."""
    bamboohr = BambooHRFake.seeded(40, 3, company_domain="acme", api_key="e2e-bamboohr-key")
    clock = FakeClock()
    canvas = FakeCanvas(token=TOKEN, clock=clock)
    canvas.add_provider("saml", idp_entity_id="https://idp.acme.test/saml")
    courses = {name: str(canvas.add_course(f"{name} course", sis_course_id=name)) for name in COURSES}
    courses["SEC-200"] = "SEC-200"  # named by its SIS course id: the engine resolves it through list_courses
    courses["SALES-110"] = "sis_course_id:SALES-110"  # Canvas's own reference form resolves too
    transports = {HR_HOST: bamboohr.transport(), LMS_HOST: canvas.transport()}
    async with running_service(db, tmp_path, transports=transports, clock=clock) as api:
        yield CanvasService(api=api, bamboohr=bamboohr, canvas=canvas, courses=courses, clock=clock)


def active_people(service: CanvasService) -> dict[str, dict[str, Any]]:
    rows = {hr_id: service.bamboohr.row(hr_id) for hr_id in service.bamboohr.hr_ids()}
    return {hr_id: row for hr_id, row in rows.items() if row["status"] == "Active"}


def expected_courses(service: CanvasService, row: dict[str, Any], managers: set[str]) -> set[int]:
    wanted = {"SAFETY-101"}
    wanted |= {"SEC-200"} if row["jobInformationDepartment"] == "Engineering" else set()
    wanted |= {"SALES-110"} if row["jobInformationDepartment"] == "Sales" else set()
    wanted |= {"LEAD-1"} if str(row["eeid"]) in managers else set()
    return {service.course_id(name) for name in wanted}


async def test_joiners_movers_leavers_and_managers_reach_canvas(service: CanvasService) -> None:
    await service.setup()
    dry = await service.run(mode="plan")
    assert dry["status"] == "succeeded" and dry["progress"]["ops_planned"] > 0
    assert service.canvas.writes == [], "a dry run writes nothing"

    first = await service.run()

    assert first["status"] == "succeeded", first
    people = active_people(service)
    managers = {str(r["supervisorEid"]) for r in people.values() if r["supervisorEid"]}
    saml = next(p.id for p in service.canvas.state.providers.values() if p.auth_type == "saml")
    for hr_id, row in people.items():
        user = service.user(hr_id)
        assert user is not None, hr_id
        [login] = service.canvas.state.logins_of(user.id)
        assert (login.unique_id.casefold(), login.authentication_provider_id) == (row["email"].casefold(), saml)
        assert service.learning(user.id) == expected_courses(service, row, managers), hr_id
    ids = {hr_id: user.id for hr_id in people if (user := service.user(hr_id)) is not None}
    for boss in managers & set(people):
        reports = {ids[h] for h, r in people.items() if str(r["supervisorEid"]) == boss}
        assert service.observees(ids[boss]) == reports, boss
    writes = len(service.canvas.writes)

    again = await service.run()
    assert again["status"] == "succeeded" and again["progress"]["ops_planned"] == 0, again
    assert len(service.canvas.writes) == writes, "a re-sync of unchanged people writes nothing"

    engineers = sorted((h for h, r in people.items() if r["jobInformationDepartment"] == "Engineering"), key=int)
    mover = next(h for h in reversed(engineers) if h not in managers)
    leaver = next(h for h in sorted(people, key=int, reverse=True) if h not in managers and h != mover)
    boss_of_leaver = str(people[leaver]["supervisorEid"]) if people[leaver]["supervisorEid"] else None
    hired = service.bamboohr.hire("Ada", "Newhire", department="Sales", manager=boss_of_leaver)
    service.bamboohr.move(mover, department="Sales")
    service.bamboohr.terminate(leaver, on=service.bamboohr.today)

    changed = await service.run(scope="incremental")

    assert changed["status"] == "succeeded", changed
    ops = {(op["kind"], op["hr_id"], op["op"].get("course_id")) for op in await service.operations(changed["id"])}
    c = {name: str(service.course_id(name)) for name in COURSES}  # ops name courses by id, once resolved
    assert {("create_user", hired, None), ("set_sso_identity", hired, None), ("enrol", hired, c["SAFETY-101"]),
            ("enrol", hired, c["SALES-110"]), ("enrol", mover, c["SALES-110"]), ("unenrol", mover, c["SEC-200"]),
            ("deactivate_user", leaver, None)} <= ops  # fmt: skip
    newcomer = service.user(hired)
    assert newcomer is not None and service.learning(newcomer.id) == {
        service.course_id("SAFETY-101"), service.course_id("SALES-110")
    }  # fmt: skip
    moved = ids[mover]
    assert service.learning(moved) == {service.course_id("SAFETY-101"), service.course_id("SALES-110")}
    assert service.course_id("SEC-200") in service.learning(moved, ("completed",)), "concluded, not deleted"
    assert service.canvas.suspended(ids[leaver])
    assert service.learning(ids[leaver]) == expected_courses(service, people[leaver], managers), "training kept"
    if boss_of_leaver:
        assert ids[leaver] not in service.observees(ids[boss_of_leaver]), "a manager stops observing a leaver"
        assert newcomer.id in service.observees(ids[boss_of_leaver]), "and observes their new report"
    writes = len(service.canvas.writes)
    assert (await service.run(scope="incremental"))["progress"]["ops_planned"] == 0
    assert (await service.run())["progress"]["ops_planned"] == 0, "a full reconcile finds nothing to repair"
    assert len(service.canvas.writes) == writes


async def test_one_refused_person_fails_alone_and_a_throttled_canvas_is_waited_for(service: CanvasService) -> None:
    await service.setup(match_keys=["external_id"])
    people = active_people(service)
    victim = sorted(people, key=int)[-1]
    # A contractor's account already signs in with the victim's username: Canvas keeps logins unique.
    service.canvas.add_user("Con", "Tractor", people[victim]["email"].lower(), sis_user_id="CONTRACTOR-1")
    service.canvas.throttle(60.0)  # a small bucket: the run meets 403 Rate Limit Exceeded and waits it out

    run = await service.run()

    assert run["status"] == "partially_failed", run
    failed = [op for op in await service.operations(run["id"]) if op["status"] == "failed"]
    assert [(op["kind"], op["hr_id"]) for op in failed] == [("create_user", victim)], failed
    assert {h for h in people if service.user(h) is not None} == set(people) - {victim}
    assert service.canvas.throttled > 0 and service.clock.sleeps, "Canvas throttled the run, which waited"


def team_enrolment(team: dict[str, Any], hr_id: str, course: str) -> dict[str, Any]:
    member = next(m for m in team["members"] if m["hr_id"] == hr_id)
    found: dict[str, Any] = next(e for e in member["enrolments"] if e["course"] == course)
    return found


async def test_progress_in_canvas_reaches_the_managers_team_view(service: CanvasService) -> None:
    """Issue 16: a report works through a course's modules in Canvas; after the next full run their manager's team
    view shows the course completed, with Canvas's dates, and reading it wrote nothing to Canvas."""
    await service.setup()
    assert (await service.run())["status"] == "succeeded"
    people = active_people(service)
    teams = {m: sorted(h for h, r in people.items() if str(r["supervisorEid"]) == m) for m in people}
    manager = next(m for m, reports in sorted(teams.items()) if len(reports) >= 3)
    done, started, concluded = teams[manager][:3]
    safety = service.courses["SAFETY-101"]
    finisher, learner, graduate = service.user(done), service.user(started), service.user(concluded)
    assert finisher is not None and learner is not None and graduate is not None
    service.canvas.visit(graduate.id, int(safety), "2026-09-20T10:00:00Z")
    service.canvas.conclude(graduate.id, int(safety), "2026-09-30T10:00:00Z")  # a teacher ends it: finished
    service.canvas.require(int(safety), 2)
    service.canvas.visit(finisher.id, int(safety), "2026-10-01T08:00:00Z")
    service.canvas.meet(finisher.id, int(safety), 2, "2026-10-12T16:26:08Z")
    service.canvas.visit(learner.id, int(safety), "2026-10-03T09:15:00Z")
    service.canvas.meet(learner.id, int(safety), 1, "2026-10-03T09:15:00Z")
    url = f"/pipelines/{service.pipeline_id}/teams/{manager}"
    before = await service.ok(await service.api.get(url))
    writes = len(service.canvas.writes)

    again = await service.run()

    assert again["status"] == "succeeded" and again["counters"]["progress"]["completed"] == 2
    assert len(service.canvas.writes) == writes, "reading progress writes nothing, nor reopens a finished course"
    after = await service.ok(await service.api.get(url))
    assert team_enrolment(before, done, safety)["progress"] == "not_started"
    read = team_enrolment(after, done, safety)
    assert (read["progress"], read["completed_at"], read["last_activity_at"], read["percent"]) == (
        "completed", "2026-10-12T16:26:08Z", "2026-10-01T08:00:00Z", 100.0
    )  # fmt: skip
    halfway = team_enrolment(after, started, safety)
    assert (halfway["progress"], halfway["percent"]) == ("in_progress", 50.0)
    assert [c["hr_id"] for c in after["summary"]["newest_completions"]] == [done, concluded]
    ended = team_enrolment(after, concluded, safety)
    assert (ended["progress"], ended["completed_at"]) == ("completed", "2026-09-30T10:00:00Z")
    assert service.canvas.student_enrollment(graduate.id, int(safety)).enrollment_state == "completed"
