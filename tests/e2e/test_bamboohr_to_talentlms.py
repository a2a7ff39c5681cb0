"""BambooHR -> TalentLMS through the whole service: REST API, durable worker, real connectors, faithful fakes.

Runs on SQLite and PostgreSQL (the `db` fixture). Joiners get a TalentLMS user carrying their HR id, their
courses, SAML sign-in by login and, for managers, a team group with their direct reports; movers change courses
and team; leavers are deactivated with their training kept; an unchanged company costs no write.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from enrolsync.connectors.talentlms.fake.portal import User
from tests.support.database import Database
from tests.support.talentlms_service import TalentLMSService, talentlms_service, talentlms_spec


@pytest.fixture
async def service(db: Database, tmp_path: Path) -> AsyncIterator[TalentLMSService]:
    async with talentlms_service(db, tmp_path) as running:
        yield running


def active_people(service: TalentLMSService) -> dict[str, dict[str, Any]]:
    rows = {hr_id: service.bamboohr.row(hr_id) for hr_id in service.bamboohr.hr_ids()}
    return {hr_id: row for hr_id, row in rows.items() if row["status"] == "Active"}


def user(service: TalentLMSService, hr_id: str) -> User:
    found = service.lms.user_by(employee_id=hr_id)
    assert found is not None, f"no TalentLMS user carries HR id {hr_id}"
    return found


def courses(service: TalentLMSService, hr_id: str) -> set[str]:
    names = {int(course_id): code for code, course_id in service.courses.items()}
    return {names[c] for c in service.lms.courses_of(user(service, hr_id).id)}


def expected(row: dict[str, Any], managers: set[str], hr_id: str) -> set[str]:
    wanted = {"SAFETY-101"}
    wanted |= {"SEC-200"} if row["jobInformationDepartment"] == "Engineering" else set()
    wanted |= {"SALES-110"} if row["jobInformationDepartment"] == "Sales" else set()
    return wanted | ({"LEAD-1"} if hr_id in managers else set())


def team(service: TalentLMSService, manager: str) -> set[int]:
    """User ids in the manager's team group, the manager excepted."""
    lms, boss = service.lms, user(service, manager).id
    [group] = [g for g in lms.portal.groups.values() if g.name == f"Team of {boss}"]
    return {u for g, u in lms.portal.group_members if g == group.id and u != boss}


async def test_joiners_movers_and_leavers_reach_talentlms(service: TalentLMSService) -> None:
    await service.setup_pipeline(talentlms_spec())
    dry = await service.run(mode="plan")
    assert dry["status"] == "succeeded" and service.lms.writes == [], "a dry run writes nothing"

    first = await service.run()

    assert first["status"] == "succeeded", first
    assert first["counters"]["courses"]["resolved"] == service.courses, "rules name courses by their code"
    people = active_people(service)
    managers = {str(r["supervisorEid"]) for r in people.values() if r["supervisorEid"]} & set(people)
    for hr_id, row in people.items():
        account = user(service, hr_id)
        assert account.login == account.email == row["email"].lower(), "SAML signs in by login: the work email"
        assert account.status == "active" and courses(service, hr_id) == expected(row, managers, hr_id), hr_id
    for boss in managers:
        reports = {user(service, h).id for h, r in people.items() if str(r["supervisorEid"]) == boss}
        assert team(service, boss) == reports, boss
    writes = len(service.lms.writes)

    again = await service.run()
    assert again["status"] == "succeeded" and again["progress"]["ops_planned"] == 0, again
    assert len(service.lms.writes) == writes, "a re-sync of unchanged people writes nothing"

    engineers = sorted((h for h, r in people.items() if r["jobInformationDepartment"] == "Engineering"), key=int)
    mover = next(h for h in reversed(engineers) if h not in managers and people[h]["supervisorEid"])
    old_boss = str(people[mover]["supervisorEid"])
    new_boss = next(m for m in sorted(managers, key=int) if m not in (old_boss, mover))
    leaver = next(h for h in sorted(people, key=int, reverse=True) if h not in managers | {mover, new_boss})
    service.lms.start(user(service, leaver).id, int(service.courses["SAFETY-101"]))
    hired = service.bamboohr.hire("Ada", "Newhire", department="Sales", manager=None)
    service.bamboohr.move(mover, department="Sales", manager=new_boss)
    service.bamboohr.terminate(leaver, on=service.bamboohr.today)

    changed = await service.run(scope="incremental")

    assert changed["status"] == "succeeded", changed
    kinds = {(op["kind"], op["hr_id"]) for op in await service.operations(changed["id"])}
    assert {("create_user", hired), ("deactivate_user", leaver), ("update_user", mover)} <= kinds
    assert ("revoke_role", old_boss) in kinds and ("assign_role", new_boss) in kinds
    assert courses(service, hired) == {"SAFETY-101", "SALES-110"}
    assert user(service, hired).login == user(service, hired).email, "the joiner signs in by SAML as their email"
    assert courses(service, mover) == {"SAFETY-101", "SALES-110"} | ({"LEAD-1"} if mover in managers else set())
    assert user(service, mover).id in team(service, new_boss), "the manager scope followed the move"
    assert user(service, mover).id not in team(service, old_boss)
    assert user(service, leaver).status == "inactive"
    assert "SAFETY-101" in courses(service, leaver), "a leaver keeps their training"
    assert (await service.run(scope="incremental"))["progress"]["ops_planned"] == 0
    assert service.lms.throttled == 0, "the hourly budget was never exceeded"


async def test_one_refused_person_fails_alone(service: TalentLMSService) -> None:
    await service.setup_pipeline({**talentlms_spec(), "match_keys": ["external_id"]})
    people = active_people(service)
    victim = sorted(people, key=int)[-1]
    # Someone else already holds the victim's email in TalentLMS: TalentLMS refuses that create.
    service.lms.add_user("someone.else", "Some", "One", people[victim]["email"].lower())

    run = await service.run()

    assert run["status"] == "partially_failed", run
    failed = [op for op in await service.operations(run["id"]) if op["status"] == "failed"]
    assert [(op["kind"], op["hr_id"]) for op in failed] == [("create_user", victim)]
    assert "email has already been taken" in failed[0]["last_error"]
    assert {h for h in people if service.lms.user_by(employee_id=h)} == set(people) - {victim}


async def test_a_small_plan_spreads_the_first_sync_over_hours_without_a_429(db: Database, tmp_path: Path) -> None:
    async with talentlms_service(db, tmp_path, hourly_limit=100) as service:
        await service.setup_pipeline(talentlms_spec())
        started = service.clock.now

        run = await service.run()

        assert run["status"] == "succeeded", run
        assert service.lms.throttled == 0, "no call was refused, so nothing was retried"
        calls = len(service.lms.requests)
        assert calls > 100, f"{calls} calls: more than the hour allows"
        assert service.clock.now - started >= (calls - 1) // 100 * 3600, "the calls past 100 waited for the next hour"
        assert all(service.lms.user_by(employee_id=h) for h in active_people(service))
