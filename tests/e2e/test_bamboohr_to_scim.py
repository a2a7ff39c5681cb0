"""BambooHR -> any SCIM 2.0 LMS through the whole service: REST API, durable worker, the real connectors, and the
real scim2-server as the LMS (its in-process app behind the LMS host's transport).

Runs on SQLite and PostgreSQL (the `db` fixture). Courses, the instructor role and a cohort are SCIM Groups; a
manager is each report's enterprise `manager`; a leaver is `active: false`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from enrolsync.connectors.bamboohr.fake.server import BambooHRFake
from enrolsync.connectors.scim.models import ENTERPRISE_URN
from enrolsync.connectors.testing.fakes import FakeClock
from enrolsync.sync.jobs import workflow
from tests.support.database import Database
from tests.support.running import running_service
from tests.support.scim_server import ScimServer
from tests.support.systems import HR_HOST, bamboohr_config

SCIM_HOST = "scim.test"
COURSES = ("SAFETY-101", "SEC-200", "SALES-110", "LEAD-1")


@dataclass
class ScimService:
    api: httpx.AsyncClient
    bamboohr: BambooHRFake
    scim: ScimServer
    groups: dict[str, str]  # Group name -> id
    clock: FakeClock
    pipeline_id: str = ""

    async def ok(self, response: httpx.Response) -> Any:
        assert response.is_success, response.text
        return response.json()

    async def setup_pipeline(self, spec: dict[str, Any], roles: dict[str, str] | None = None) -> None:
        hr = await self.ok(await self.api.post("/connections", json={
            "name": "BambooHR", "connector": "bamboohr", "config": bamboohr_config(self.bamboohr),
        }))  # fmt: skip
        lms = await self.ok(await self.api.post("/connections", json={
            "name": "LMS", "connector": "scim", "config": {
                "base_url": f"https://{SCIM_HOST}/v2/", "token": self.scim.token,
                "role_groups": roles or {"instructor": self.groups["Instructors"]},
            },
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


def spec(g: dict[str, str]) -> dict[str, Any]:
    """Safety for all, a course per department, the leads' course and the instructor role for managers, and an
    engineering cohort. Courses are named as admins see them (the Groups' displayName), the cohort by its id."""
    rules = [
        {"name": "everyone", "when": {"attr": "department", "op": "exists"}, "enrol": ["SAFETY-101"]},
        {"name": "engineering", "when": {"attr": "department", "op": "equals", "value": "Engineering"},
         "enrol": ["SEC-200"], "groups": [g["Engineers"]]},
        {"name": "sales", "when": {"attr": "department", "op": "equals", "value": "Sales"}, "enrol": ["SALES-110"]},
        {"name": "leads", "when": {"op": "is_manager"}, "enrol": [g["LEAD-1"]], "roles": ["instructor"]},
    ]  # fmt: skip
    return {"rules": rules, "mapping": {"username": "work_email"}}


@pytest.fixture
async def service(db: Database, tmp_path: Path) -> AsyncIterator[ScimService]:
    bamboohr = BambooHRFake.seeded(40, 3, company_domain="acme", api_key="e2e-bamboohr-key")
    scim = ScimServer(token="e2e-scim-token")
    groups = {name: scim.add_group(name) for name in (*COURSES, "Instructors", "Engineers")}
    clock = FakeClock()
    async with running_service(
        db, tmp_path, transports={HR_HOST: bamboohr.transport(), SCIM_HOST: scim.transport()}, clock=clock
    ) as api:
        yield ScimService(api=api, bamboohr=bamboohr, scim=scim, groups=groups, clock=clock)


def active_people(service: ScimService) -> dict[str, dict[str, Any]]:
    rows = {hr_id: service.bamboohr.row(hr_id) for hr_id in service.bamboohr.hr_ids()}
    return {hr_id: row for hr_id, row in rows.items() if row["status"] == "Active"}


def user(service: ScimService, hr_id: str) -> dict[str, Any]:
    found = service.scim.by_external_id(hr_id)
    assert found is not None, f"no SCIM User carries externalId {hr_id}"
    return found


def groups_of(service: ScimService, user_id: str) -> set[str]:
    return {name for name, gid in service.groups.items() if user_id in service.scim.members(gid)}


def expected_groups(row: dict[str, Any], managers: set[str]) -> set[str]:
    wanted = {"SAFETY-101"}
    department = row["jobInformationDepartment"]
    if department == "Engineering":
        wanted |= {"SEC-200", "Engineers"}
    if department == "Sales":
        wanted.add("SALES-110")
    if str(row["eeid"]) in managers:
        wanted |= {"LEAD-1", "Instructors"}
    return wanted


async def test_joiners_movers_and_leavers_reach_a_scim_lms(service: ScimService) -> None:
    await service.setup_pipeline(spec(service.groups))
    dry = await service.run(mode="plan")
    assert dry["status"] == "succeeded" and dry["progress"]["ops_planned"] > 0
    assert service.scim.writes == [], "a dry run writes nothing"

    first = await service.run()

    assert first["status"] == "succeeded", first
    people = active_people(service)
    managers = {str(r["supervisorEid"]) for r in people.values() if r["supervisorEid"]}
    ids = {hr_id: user(service, hr_id)["id"] for hr_id in people}
    for hr_id, row in people.items():
        held = user(service, hr_id)
        assert held["userName"] == row["email"].lower() and held["active"] is True
        assert held[ENTERPRISE_URN]["department"] == row["jobInformationDepartment"]
        boss = str(row["supervisorEid"]) if row["supervisorEid"] else None
        assert held[ENTERPRISE_URN].get("manager") == ({"value": ids[boss]} if boss in ids else None), hr_id
        assert groups_of(service, held["id"]) == expected_groups(row, managers), hr_id
    assert any(r.url.path.endswith("/Bulk") for r in service.scim.writes), "creates went out through Bulk"
    writes = len(service.scim.writes)

    again = await service.run()
    assert again["status"] == "succeeded" and again["progress"]["ops_planned"] == 0, again
    assert len(service.scim.writes) == writes, "a re-sync of unchanged people writes nothing"

    engineers = sorted((h for h, r in people.items() if r["jobInformationDepartment"] == "Engineering"), key=int)
    mover = next(h for h in reversed(engineers) if h not in managers)
    leaver = next(h for h in sorted(people, key=int, reverse=True) if h not in managers and h != mover)
    hired = service.bamboohr.hire("Ada", "Newhire", department="Sales", manager=None)
    service.bamboohr.move(mover, department="Sales")
    service.bamboohr.terminate(leaver, on=service.bamboohr.today)

    changed = await service.run(scope="incremental")

    assert changed["status"] == "succeeded", changed
    ops = {(op["kind"], op["hr_id"]) for op in await service.operations(changed["id"])}
    assert {("create_user", hired), ("update_user", mover), ("deactivate_user", leaver)} <= ops
    assert groups_of(service, user(service, hired)["id"]) == {"SAFETY-101", "SALES-110"}
    assert groups_of(service, ids[mover]) == {"SAFETY-101", "SALES-110"}, "a mover leaves the old course and cohort"
    assert user(service, mover)[ENTERPRISE_URN]["department"] == "Sales"
    assert user(service, leaver)["active"] is False, "a leaver is deactivated, not deleted"
    leaver_boss = str(people[leaver]["supervisorEid"]) if people[leaver]["supervisorEid"] else None
    if leaver_boss:
        still_leads = any(str(r["supervisorEid"]) == leaver_boss for h, r in people.items() if h != leaver)
        assert ("Instructors" in groups_of(service, ids[leaver_boss])) is still_leads
    writes = len(service.scim.writes)
    assert (await service.run(scope="incremental"))["progress"]["ops_planned"] == 0
    assert (await service.run())["progress"]["ops_planned"] == 0, "a full reconcile finds no drift"
    assert len(service.scim.writes) == writes


async def test_one_rejected_person_fails_alone_and_a_busy_server_is_waited_for(service: ScimService) -> None:
    await service.setup_pipeline({**spec(service.groups), "match_keys": ["external_id"]})
    people = active_people(service)
    victim = sorted(people, key=int)[-1]
    # Someone already holds the victim's userName under another account: the server refuses that create (409).
    service.scim.add_user(people[victim]["email"].lower(), "SOMEONE-ELSE")
    service.scim.fail_next(1, status=503, retry_after=4, when=service.scim.is_write)

    run = await service.run()

    assert run["status"] == "partially_failed", run
    failed = [op for op in await service.operations(run["id"]) if op["status"] == "failed"]
    assert [(op["kind"], op["hr_id"]) for op in failed] == [("create_user", victim)]
    assert "[uniqueness]" in failed[0]["last_error"]
    assert all(service.scim.by_external_id(h) is not None for h in set(people) - {victim})
    assert 4 in service.clock.sleeps, "the 503's Retry-After was honoured before the Bulk request was sent again"


def set_members(service: ScimService, name: str, members: set[str]) -> None:
    """An admin edits a Group on the LMS by hand (a whole replace, RFC 7644 section 3.5.1)."""
    body = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name}
    service.scim.call("PUT", f"Groups/{service.groups[name]}", {**body, "members": [{"value": m} for m in members]})


async def test_roles_changed_by_hand_on_the_lms_are_repaired_by_the_next_full_run(service: ScimService) -> None:
    service.groups["Admins"] = service.scim.add_group("Admins")
    roles = {"instructor": service.groups["Instructors"], "admin": service.groups["Admins"]}
    await service.setup_pipeline(spec(service.groups), roles)
    assert (await service.run())["status"] == "succeeded"
    people = active_people(service)
    ids = {hr_id: user(service, hr_id)["id"] for hr_id in people}
    boss, report = next((str(r["supervisorEid"]), h) for h, r in sorted(people.items()) if r["supervisorEid"])
    managers = {str(r["supervisorEid"]) for r in people.values() if r["supervisorEid"]}
    staff = next(h for h in sorted(people) if h not in managers)
    # By hand on the LMS: the manager loses the instructor role and the report loses its manager; someone who
    # manages nobody is made an instructor (a role the rules give) and an admin (a role no rule gives).
    instructors = service.scim.members(service.groups["Instructors"])
    set_members(service, "Instructors", instructors - {ids[boss]} | {ids[staff]})
    set_members(service, "Admins", {ids[staff]})
    remove = {"op": "remove", "path": f"{ENTERPRISE_URN}:manager"}
    service.scim.call("PATCH", f"Users/{ids[report]}", {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [remove],
    })  # fmt: skip
    assert "manager" not in user(service, report)[ENTERPRISE_URN]
    assert (await service.run(scope="incremental"))["progress"]["ops_planned"] == 0, "incremental runs trust links"

    repaired = await service.run()

    assert repaired["status"] == "succeeded", repaired
    ops = await service.operations(repaired["id"])
    planned = sorted((op["kind"], op["hr_id"], op["op"].get("scope_hr_id") or "") for op in ops)
    assert planned == sorted([
        ("assign_role", boss, ""), ("assign_role", boss, report), ("revoke_role", staff, ""),
    ]), planned  # fmt: skip
    assert all(op["op"]["drift"] for op in ops)
    assert repaired["counters"]["drift"] == {"assign_role": 2, "revoke_role": 1}
    assert "Instructors" in groups_of(service, ids[boss]) and "Instructors" not in groups_of(service, ids[staff])
    assert user(service, report)[ENTERPRISE_URN]["manager"]["value"] == ids[boss]
    assert ids[staff] in service.scim.members(service.groups["Admins"]), "a role no rule gives is left alone"
    assert (await service.run())["progress"]["ops_planned"] == 0, "repaired: the next reconcile finds nothing"
