"""People and teams: one person's sync status with the rules explained, and a manager's team with its state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlmodel.ext.asyncio.session import AsyncSession

from enrolsync.connectors.memory.state import Dataset
from enrolsync.connectors.model import AccountFields, Person, PersonStatus
from enrolsync.sync.store.tables import ApiRole, Link
from tests.support.api import Execute, MakeClient, create_pipeline, run
from tests.support.assertions import assert_problem
from tests.support.factories import RULES, employee, seed, team
from tests.support.factories import employee as person
from tests.support.factories import person as named


@pytest.fixture
async def synced(
    client: httpx.AsyncClient, ends: tuple[str, str], memory: tuple[str, Dataset], execute: Execute
) -> str:
    """A pipeline whose first applied run brought M's team to the learning platform."""
    team(memory[1])
    pid = await create_pipeline(client, ends)
    assert (await run(client, execute, pid))["status"] == "succeeded"
    return pid


def rule(body: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(r for r in body["explanation"] if r["rule"] == name)
    return found


async def test_a_synced_manager_is_in_sync_and_every_rule_is_explained(
    make_client: MakeClient, tokens: dict[ApiRole, str], synced: str
) -> None:
    viewer = make_client(tokens[ApiRole.VIEWER])

    response = await viewer.get(f"/pipelines/{synced}/people/M")

    assert response.status_code == 200
    body = response.json()
    assert body["person"]["hr_id"] == "M" and body["account_id"]
    assert body["desired"]["enrolments"] == ["C1", "C2", "C3"]
    assert body["applied"]["enrolments"] == ["C1", "C2", "C3"]
    assert (body["sync_state"], body["pending"], body["last_error"]) == ("in_sync", [], None)
    assert body["direct_reports"] == ["A", "B"]  # T has left
    assert [(r["rule"], r["matched"]) for r in body["explanation"]] == [
        ("everyone", True),
        ("engineering", True),
        ("leads", True),
    ]
    assert {(o["kind"], o["status"]) for o in body["operations"]} >= {("create_user", "done"), ("enrol", "done")}


async def test_why_is_b_not_enrolled_in_c2(client: httpx.AsyncClient, synced: str) -> None:
    body = (await client.get(f"/pipelines/{synced}/people/B")).json()

    engineering = rule(body, "engineering")
    assert engineering["matched"] is False and engineering["enrol"] == ["C2"]
    assert [(leaf["attr"], leaf["actual"], leaf["expected"]) for leaf in engineering["leaves"]] == [
        ("department", "Sales", "Engineering")
    ]
    assert rule(body, "leads")["matched"] is False
    assert body["desired"]["enrolments"] == ["C1"]


async def test_an_hr_change_read_by_a_dry_run_is_pending(
    client: httpx.AsyncClient, synced: str, memory: tuple[str, Dataset], execute: Execute
) -> None:
    memory[1].hris.put(person("B", department="Engineering", manager="M"))
    plan = await run(client, execute, synced, mode="plan")

    body = (await client.get(f"/pipelines/{synced}/people/B")).json()

    assert body["sync_state"] == "pending"
    assert body["desired"]["enrolments"] == ["C1", "C2"] and body["applied"]["enrolments"] == ["C1"]
    # The department is an account field too, so the account is updated as well as enrolled.
    assert [(op["kind"], op.get("course_id")) for op in body["pending"]] == [("update_user", None), ("enrol", "C2")]
    latest = [(o["kind"], o["status"]) for o in body["operations"] if o["run_id"] == plan["id"]]
    assert latest == [("update_user", "planned"), ("enrol", "planned")]
    assert body["operations"][0]["run_id"] == plan["id"]


async def test_incomplete_hr_data_is_an_error_with_the_reason(
    client: httpx.AsyncClient, synced: str, memory: tuple[str, Dataset], execute: Execute
) -> None:
    memory[1].hris.put(Person(hr_id="X", given_name="No", family_name="Mail", department="Sales"))
    await run(client, execute, synced, mode="plan")

    body = (await client.get(f"/pipelines/{synced}/people/X")).json()

    assert body["sync_state"] == "error"
    assert "work_email" in body["desired_error"] and "work_email" in body["last_error"]
    assert body["desired"] is None and body["pending"] == []


async def test_a_failed_operation_shows_as_an_error(
    client: httpx.AsyncClient, synced: str, session: AsyncSession
) -> None:
    link = await session.get(Link, (synced, "A"))
    assert link is not None
    link.last_error = "enrol: course is closed [enrolnotpermitted]"
    session.add(link)
    await session.commit()

    body = (await client.get(f"/pipelines/{synced}/people/A")).json()

    assert (body["sync_state"], body["last_error"]) == ("error", "enrol: course is closed [enrolnotpermitted]")
    assert body["last_error_at"] is None or isinstance(body["last_error_at"], str)


async def test_unknown_pipeline_or_person_is_404(client: httpx.AsyncClient, synced: str) -> None:
    assert_problem(await client.get("/pipelines/nope/people/M"), 404)
    assert_problem(await client.get(f"/pipelines/{synced}/people/NOBODY"), 404)
    assert_problem(await client.get("/pipelines/nope/teams/M"), 404)
    assert_problem(await client.get(f"/pipelines/{synced}/teams/NOBODY"), 404)


def members(body: dict[str, Any]) -> list[tuple[str, int]]:
    return [(m["hr_id"], m["level"]) for m in body["members"]]


async def test_a_team_lists_direct_reports_then_the_subtree(client: httpx.AsyncClient, synced: str) -> None:
    direct = (await client.get(f"/pipelines/{synced}/teams/M")).json()
    subtree = (await client.get(f"/pipelines/{synced}/teams/M", params={"depth": 3})).json()

    assert members(direct) == [("A", 1), ("B", 1)]
    assert members(subtree) == [("A", 1), ("B", 1), ("C", 2)]
    a = subtree["members"][0]
    assert (a["name"], a["sync_state"], a["account_id"] is not None) == ("GivenA Example", "in_sync", True)
    assert [(e["course"], e["desired"], e["applied"]) for e in a["enrolments"]] == [
        ("C1", True, True),
        ("C2", True, True),
        ("C3", True, True),  # A leads C
    ]
    assert subtree["truncated"] is False


async def test_a_team_is_who_the_engine_grants_the_manager_role_over(
    client: httpx.AsyncClient, ends: tuple[str, str], memory: tuple[str, Dataset], execute: Execute
) -> None:
    # Besides A and B: T has left, L is on leave (still a report), F starts in two months (not provisioned yet).
    team(memory[1])
    later = datetime.now(UTC).date() + timedelta(days=60)
    seed(
        memory[1],
        person("L", manager="M", status=PersonStatus.LEAVE),
        person("F", manager="M").model_copy(update={"hire_date": later}),
    )
    pid = await create_pipeline(client, ends)
    assert (await run(client, execute, pid))["status"] == "succeeded"

    manager = (await client.get(f"/pipelines/{pid}/people/M")).json()
    listed = members((await client.get(f"/pipelines/{pid}/teams/M")).json())

    granted = {r["scope_hr_id"] for r in manager["applied"]["roles"] if r["scope"] == "user"}
    assert granted == {hr_id for hr_id, _ in listed} == set(manager["direct_reports"]) == {"A", "B", "L"}


async def test_a_team_shows_pending_enrolments(
    client: httpx.AsyncClient, synced: str, memory: tuple[str, Dataset], execute: Execute
) -> None:
    memory[1].hris.put(person("B", department="Engineering", manager="M"))
    await run(client, execute, synced, mode="plan")

    body = (await client.get(f"/pipelines/{synced}/teams/M")).json()

    b = next(m for m in body["members"] if m["hr_id"] == "B")
    assert b["sync_state"] == "pending"
    assert [(e["course"], e["desired"], e["applied"]) for e in b["enrolments"]] == [
        ("C1", True, True),
        ("C2", True, False),
    ]


async def test_a_cycle_in_the_manager_chain_lists_everyone_once(
    client: httpx.AsyncClient, synced: str, memory: tuple[str, Dataset], execute: Execute
) -> None:
    memory[1].hris.put(person("M", manager="C"))  # bad HR data: M reports to C, who reports (via A) to M
    await run(client, execute, synced, mode="plan")

    from_m = (await client.get(f"/pipelines/{synced}/teams/M", params={"depth": 10})).json()
    from_a = (await client.get(f"/pipelines/{synced}/teams/A", params={"depth": 10})).json()

    assert members(from_m) == [("A", 1), ("B", 1), ("C", 2)]
    assert members(from_a) == [("C", 1), ("M", 2), ("B", 3)]


async def test_depth_is_validated(client: httpx.AsyncClient) -> None:
    for depth in (0, 11, "x"):
        body = assert_problem(await client.get("/pipelines/p/teams/M", params={"depth": depth}), 422)

        assert [e["path"] for e in body["errors"]] == ["query.depth"]


async def test_a_person_deleted_in_hr_is_shown_gone_and_leaves_the_team(
    client: httpx.AsyncClient, memory: tuple[str, Dataset], execute: Execute, synced: str
) -> None:
    memory[1].hris.remove("A")  # the record is deleted in the HR system
    await run(client, execute, synced, scope="incremental")
    await run(client, execute, synced, scope="incremental")  # nothing changed since: the account stays suspended

    gone = (await client.get(f"/pipelines/{synced}/people/A")).json()
    manager = (await client.get(f"/pipelines/{synced}/people/M")).json()

    assert gone["gone_from_hr_at"] is not None and gone["person"]["hr_id"] == "A", "the last record is kept"
    assert gone["situation"] == "gone_from_hr" and "treated as a leaver" in gone["situation_detail"]
    assert (gone["desired"]["active"], gone["applied"]["active"], gone["sync_state"]) == (False, False, "in_sync")
    assert manager["direct_reports"] == ["B"] and manager["sync_state"] == "in_sync"
    assert not any(g.get("scope_hr_id") == "A" for g in manager["applied"]["roles"]), "no role over someone gone"
    assert (await client.get(f"/pipelines/{synced}/people/B")).json()["gone_from_hr_at"] is None
    assert members((await client.get(f"/pipelines/{synced}/teams/M")).json()) == [("B", 1)]


async def test_people_are_found_by_work_email_whatever_its_case(client: httpx.AsyncClient, synced: str) -> None:
    found = await client.get(f"/pipelines/{synced}/people", params={"email": "  A@Example.COM "})
    nobody = await client.get(f"/pipelines/{synced}/people", params={"email": "zed@example.com"})

    assert found.status_code == 200
    [a] = found.json()["items"]
    assert (a["hr_id"], a["work_email"], a["name"], a["sync_state"]) == (
        "A",
        "a@example.com",
        "GivenA Example",
        "in_sync",
    )
    assert a["account_id"] is not None and a["gone_from_hr_at"] is None
    assert nobody.json()["items"] == []
    assert_problem(await client.get(f"/pipelines/{synced}/people"), 422)
    assert_problem(await client.get("/pipelines/nope/people", params={"email": "a@example.com"}), 404)


async def test_each_person_never_provisioned_says_why_in_a_code_and_words(
    client: httpx.AsyncClient, ends: tuple[str, str], memory: tuple[str, Dataset], execute: Execute
) -> None:
    _, data = memory
    later = datetime.now(UTC).date() + timedelta(days=60)
    seed(
        data,
        employee("Z"),
        employee("T", status=PersonStatus.TERMINATED),  # left before the first sync
        employee("L", status=PersonStatus.LEAVE),
        named("J", hire_date=later),  # a future hire outside the lead time
        named("X1", work_email="dup@example.com"),
        named("X2", work_email="dup@example.com"),  # a duplicate HR record: two people, one account
    )
    data.lms.new_account(AccountFields(username="dup", given_name="D", family_name="U", email="dup@example.com"))
    pid = await create_pipeline(client, ends, spec={**RULES, "policies": {"on_leave": "suspend"}})
    await run(client, execute, pid)

    async def situation(hr_id: str) -> tuple[str, str]:
        body = (await client.get(f"/pipelines/{pid}/people/{hr_id}")).json()
        return body["situation"], body["situation_detail"]

    assert (await situation("Z"))[0] == "in_sync"
    assert (await situation("T"))[0] == "left_before_provisioning"
    assert (await situation("L"))[0] == "on_leave_suspended"
    code, words = await situation("J")
    assert code == "awaiting_start" and later.isoformat() in words
    for twin in ("X1", "X2"):
        code, words = await situation(twin)
        assert code == "matching_conflict" and "matching conflict" in words
    found = (await client.get(f"/pipelines/{pid}/people", params={"email": "DUP@example.com"})).json()["items"]
    assert [p["hr_id"] for p in found] == ["X1", "X2"]
