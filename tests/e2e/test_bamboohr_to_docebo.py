"""BambooHR -> Docebo through the whole service: REST API, durable worker, real connectors, faithful fakes.

Runs on SQLite and PostgreSQL (the `db` fixture). Joiners get a Docebo user (one batch import) carrying their HR
id, their courses (one batch enrolment), SAML sign-in by username and, for their manager, the Direct Manager
relation; movers change courses and manager; leavers are suspended with their training kept; an unchanged company
costs no write; a throttled platform is waited on, not hammered.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from enrolsync.connectors.docebo import DoceboTarget
from enrolsync.connectors.docebo.fake.platform import User
from tests.support.database import Database
from tests.support.docebo_service import DoceboService, docebo_service, docebo_spec


@pytest.fixture
async def service(db: Database, tmp_path: Path) -> AsyncIterator[DoceboService]:
    async with docebo_service(db, tmp_path) as running:
        yield running


def active_people(service: DoceboService) -> dict[str, dict[str, Any]]:
    rows = {hr_id: service.bamboohr.row(hr_id) for hr_id in service.bamboohr.hr_ids()}
    return {hr_id: row for hr_id, row in rows.items() if row["status"] == "Active"}


def user(service: DoceboService, hr_id: str) -> User:
    found = service.lms.user_by(employee_id=hr_id)
    assert found is not None, f"no Docebo user carries HR id {hr_id}"
    return found


def courses(service: DoceboService, hr_id: str) -> set[str]:
    codes = {int(course_id): code for code, course_id in service.courses.items()}
    return {codes[c] for c in service.lms.courses_of(user(service, hr_id).id)}


def expected(row: dict[str, Any], managers: set[str], hr_id: str) -> set[str]:
    wanted = {"SAFETY-101"}
    wanted |= {"SEC-200"} if row["jobInformationDepartment"] == "Engineering" else set()
    wanted |= {"SALES-110"} if row["jobInformationDepartment"] == "Sales" else set()
    return wanted | ({"LEAD-1"} if hr_id in managers else set())


def writes_to(service: DoceboService, path: str) -> int:
    return sum(1 for r in service.lms.writes if r.url.path == path)


async def test_joiners_movers_and_leavers_reach_docebo(service: DoceboService) -> None:
    await service.setup_pipeline(docebo_spec())
    dry = await service.run(mode="plan")
    assert dry["status"] == "succeeded" and service.lms.writes == [], "a dry run writes nothing"

    tokens = service.lms.tokens_issued
    first = await service.run()

    assert first["status"] == "succeeded", first
    assert first["counters"]["courses"]["resolved"] == service.courses, "rules name courses by their code"
    people = active_people(service)
    managers = {str(r["supervisorEid"]) for r in people.values() if r["supervisorEid"]} & set(people)
    for hr_id, row in people.items():
        account = user(service, hr_id)
        assert account.username == account.email == row["email"].lower(), "SAML signs in by username: the email"
        assert account.valid and courses(service, hr_id) == expected(row, managers, hr_id), hr_id
    for boss in managers:
        reports = {user(service, h).id for h, r in people.items() if str(r["supervisorEid"]) == boss}
        assert service.lms.reports_of(user(service, boss).id) == reports, boss
    assert writes_to(service, "/manage/v1/user/batch") == 1, "every joiner in one batch import"
    assert writes_to(service, "/learn/v1/enrollment/batch") == 1, "every enrolment in one batch"
    # The token is cached per connector, and the engine builds the connector once per step (read and plan,
    # apply, and on a full run the progress read-back): one token each, not one per call.
    assert service.lms.tokens_issued - tokens <= 3, "a token per step of the run, not per call"
    assert service.lms.unauthorized == 0
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
    assert user(service, hired).username == user(service, hired).email, "the joiner signs in by SAML as their email"
    assert courses(service, mover) == {"SAFETY-101", "SALES-110"}
    assert user(service, mover).managers == {1: user(service, new_boss).id}, "the manager scope followed the move"
    assert user(service, mover).id not in service.lms.reports_of(user(service, old_boss).id)
    assert not user(service, leaver).valid, "the leaver is suspended (change_status 0)"
    assert "SAFETY-101" in courses(service, leaver), "a leaver keeps their training"
    assert (await service.run(scope="incremental"))["progress"]["ops_planned"] == 0
    assert service.lms.throttled == 0, "the bucket never overflowed"


async def test_one_refused_person_fails_alone(service: DoceboService) -> None:
    await service.setup_pipeline({**docebo_spec(), "match_keys": ["external_id"]})
    people = active_people(service)
    victim = sorted(people, key=int)[-1]
    # Someone else already holds the victim's email in Docebo: the import refuses that row.
    service.lms.add_user("someone.else", "Some", "One", people[victim]["email"].lower())

    run = await service.run()

    assert run["status"] == "partially_failed", run
    failed = [op for op in await service.operations(run["id"]) if op["status"] == "failed"]
    assert [(op["kind"], op["hr_id"]) for op in failed] == [("create_user", victim)]
    assert "Email already exists" in failed[0]["last_error"]
    assert {h for h in people if service.lms.user_by(employee_id=h)} == set(people) - {victim}


async def test_a_throttled_platform_is_waited_on_without_a_retry_storm(db: Database, tmp_path: Path) -> None:
    # A bucket far smaller than the connector's default budget: 20 calls, draining one every 3 seconds.
    async with docebo_service(db, tmp_path, capacity=20, drain_seconds=60) as service:
        await service.setup_pipeline(docebo_spec())

        run = await service.run()

        assert run["status"] == "succeeded", run
        assert all(service.lms.user_by(employee_id=h) for h in active_people(service))
        lms = service.lms
        assert lms.throttled > 0, "the platform did push back"
        for refused_at, wait in lms.throttle_log:
            early = [t for t in lms.request_times if refused_at < t < refused_at + wait]
            assert early == [], f"requests came back {len(early)} times before Retry-After ran out"
        # Only the calls already in flight when the bucket first overflowed are refused: from then on calls are
        # spaced by the Retry-After Docebo gave (the time one call drains), so none is refused again.
        assert lms.throttled <= DoceboTarget.info.max_concurrency, f"{lms.throttled} refusals in {len(lms.requests)}"
