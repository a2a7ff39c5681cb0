"""The scim target against the real scim2-server: discovery decides PATCH, Bulk, ETags and filters; Users,
Groups and the enterprise manager hold what the ops say; the server's own error answers become op results."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from enrolsync.connectors.errors import AuthError, Invalid
from enrolsync.connectors.kit.client import build_client
from enrolsync.connectors.kit.retry import ReadRetry
from enrolsync.connectors.model import RoleScope
from enrolsync.connectors.ops import (
    AddToGroup,
    AssignRole,
    CreateUser,
    DeactivateUser,
    DeleteUser,
    Enrol,
    RemoveFromGroup,
    RevokeRole,
    Unenrol,
    UpdateUser,
)
from enrolsync.connectors.scim import ScimTarget
from enrolsync.connectors.scim.config import ScimConfig
from enrolsync.connectors.scim.errors import classify
from enrolsync.connectors.scim.models import ENTERPRISE_URN
from enrolsync.connectors.testing.contract import collect
from enrolsync.connectors.testing.fakes import FakeClock
from tests.support.scim_server import ScimServer
from tests.support.scim_server import account_fields as fields


def paths(server: ScimServer, since: int = 0) -> list[str]:
    return [f"{r.method} {r.url.path.removeprefix('/v2/')}" for r in server.requests[since:]]


def body(request: httpx.Request) -> Any:
    return json.loads(request.content)


async def create(target: ScimTarget, n: int, **extra: Any) -> str:
    [result] = await target.apply([CreateUser(hr_id=f"HR-{n}", fields=fields(n, **extra))])
    assert result.outcome == "done" and result.ref is not None, result
    return result.ref.id


@pytest.fixture
async def bare(request: pytest.FixtureRequest, config: ScimConfig) -> AsyncIterator[tuple[ScimServer, ScimTarget]]:
    """A scim2-server announcing only the features the test's parameter keeps, and the connector on it."""
    server = ScimServer(**request.param)
    server.add_group("SAFETY-101")
    async with build_client(config, transport=server.transport()) as http:
        yield server, ScimTarget(config, http, retry=ReadRetry(attempts=2, clock=FakeClock()))


async def test_discovery_reads_what_the_server_announces(target: ScimTarget) -> None:
    features = await target.features()
    assert (features.patch, features.bulk, features.etag, features.filter) == (True, True, True, True)
    assert features.bulk_max_operations == 1000 and features.enterprise and features.groups
    result = await target.check()
    assert result.ok and result.facts["bulk"] is True


async def test_creates_go_out_as_one_bulk_request_and_a_taken_username_fails_alone(
    target: ScimTarget, fake: ScimServer
) -> None:
    taken = fields(2).model_copy(update={"username": "SEED.ONE@example.com"})  # userName is case-insensitive
    before = len(fake.requests)

    results = await target.apply([
        CreateUser(hr_id="HR-1", fields=fields(1, department="Sales", job_title="Rep")),
        CreateUser(hr_id="HR-2", fields=taken),
        CreateUser(hr_id="HR-3", fields=fields(3)),
    ])  # fmt: skip

    assert [r.outcome for r in results] == ["done", "failed", "done"]
    assert results[1].error is not None and (results[1].error.status, results[1].error.code) == (409, "uniqueness")
    assert "seed.one" not in results[1].error.reason.casefold(), "no personal data in a reason"
    assert [p for p in paths(fake, before) if not p.startswith("GET")] == ["POST Bulk"]
    created = fake.by_external_id("HR-1")
    assert created is not None and created["id"] == results[0].ref.id  # type: ignore[union-attr]
    assert created["userName"] == "person1@example.com" and created["title"] == "Rep" and created["active"] is True
    assert created["emails"] == [{"value": "person1@example.com", "type": "work", "primary": True}]
    assert created[ENTERPRISE_URN] == {"department": "Sales"}
    assert fake.by_external_id("HR-2") is None


async def test_creating_someone_the_server_holds_is_already(target: ScimTarget, fake: ScimServer) -> None:
    account_id = await create(target, 1)
    before = len(fake.writes)
    [again] = await target.apply([CreateUser(hr_id="HR-1", fields=fields(1))])
    assert again.outcome == "already" and again.ref is not None and again.ref.id == account_id
    assert len(fake.writes) == before


@pytest.mark.parametrize("bare", [{"bulk": False}], indirect=True)
async def test_without_bulk_each_create_is_its_own_request(bare: tuple[ScimServer, ScimTarget]) -> None:
    server, target = bare
    results = await target.apply([CreateUser(hr_id=f"HR-{n}", fields=fields(n)) for n in (1, 2, 3)])
    assert [r.outcome for r in results] == ["done"] * 3
    assert [p for p in paths(server) if not p.startswith("GET")] == ["POST Users"] * 3


async def test_a_bulk_refused_whole_is_split_until_the_bad_record_fails_alone(
    target: ScimTarget, fake: ScimServer
) -> None:
    # A server that cannot take one record may refuse the whole Bulk request (400 invalidSyntax): every Bulk
    # that carries the bad record is refused, as such a server would.
    error = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "status": "400", "scimType": "invalidSyntax"}
    bad = fields(3).model_copy(update={"username": "bad.record@example.com"})
    fake.fail_next(3, status=400, body=json.dumps(error).encode(),
                   when=lambda r: r.url.path.endswith("/Bulk") and b"bad.record" in r.content)  # fmt: skip
    ops = [CreateUser(hr_id=f"HR-{n}", fields=bad if n == 3 else fields(n)) for n in (1, 2, 3, 4)]

    results = await target.apply(ops)

    assert [r.outcome for r in results] == ["done", "done", "failed", "done"]
    assert results[2].error is not None and results[2].error.code is None and results[2].error.status == 400
    assert "[invalidSyntax]" in results[2].error.reason
    made = {u["externalId"] for u in fake.users() if u.get("externalId", "").startswith("HR-")}
    assert made == {"HR-1", "HR-2", "HR-4"}
    assert paths(fake).count("POST Bulk") == 5  # 4 refused; 2 with it refused; it alone refused; 1 and 2 taken


async def test_an_update_patches_only_what_changed_under_if_match(target: ScimTarget, fake: ScimServer) -> None:
    account_id = await create(target, 1, department="Engineering")
    etag = fake.user(account_id)["meta"]["version"]
    moved = fields(1, department="Sales")
    before = len(fake.requests)

    [result] = await target.apply([UpdateUser(hr_id="HR-1", account_id=account_id, fields=moved)])

    assert result.outcome == "done"
    [patch] = [r for r in fake.requests[before:] if r.method == "PATCH"]
    assert patch.headers["If-Match"] == etag
    assert body(patch)["Operations"] == [{"op": "replace", "path": f"{ENTERPRISE_URN}:department", "value": "Sales"}]
    assert fake.user(account_id)[ENTERPRISE_URN]["department"] == "Sales"
    writes = len(fake.writes)
    [again] = await target.apply([UpdateUser(hr_id="HR-1", account_id=account_id, fields=moved)])
    assert again.outcome == "already" and len(fake.writes) == writes


async def test_a_user_changed_since_it_was_read_is_not_overwritten(target: ScimTarget, fake: ScimServer) -> None:
    account_id = await create(target, 1)

    def someone_edits(request: httpx.Request) -> None:
        fake.before_write = None
        fake.call("PATCH", f"Users/{account_id}", {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "title", "value": "Edited by hand"}],
        })  # fmt: skip

    fake.before_write = someone_edits
    [result] = await target.apply([DeactivateUser(hr_id="HR-1", account_id=account_id)])

    assert result.outcome == "retry"
    assert result.error is not None and result.error.status == 412
    assert fake.user(account_id)["active"] is True and fake.user(account_id)["title"] == "Edited by hand"
    [second] = await target.apply([DeactivateUser(hr_id="HR-1", account_id=account_id)])
    assert second.outcome == "done" and fake.user(account_id)["active"] is False


@pytest.mark.parametrize("bare", [{"etag": False}], indirect=True)
async def test_without_etags_no_if_match_is_sent(bare: tuple[ScimServer, ScimTarget]) -> None:
    server, target = bare
    account_id = await create(target, 1)
    [result] = await target.apply([DeactivateUser(hr_id="HR-1", account_id=account_id)])
    assert result.outcome == "done"
    assert all("If-Match" not in r.headers for r in server.writes)


@pytest.mark.parametrize("bare", [{"patch": False, "bulk": False}], indirect=True)
async def test_without_patch_users_and_groups_are_replaced_whole(bare: tuple[ScimServer, ScimTarget]) -> None:
    server, target = bare
    manager, report = await create(target, 1), await create(target, 2, department="Sales")
    course = server.group_named("SAFETY-101")
    ops = [AssignRole(hr_id="HR-1", account_id=manager, role="manager", scope=RoleScope.USER, scope_id=report)]
    assert [r.outcome for r in await target.apply(ops)] == ["done"]
    results = await target.apply([
        DeactivateUser(hr_id="HR-2", account_id=report), Enrol(hr_id="HR-2", account_id=report, course_id=course),
    ])  # fmt: skip

    assert [r.outcome for r in results] == ["done", "done"]
    assert not [r for r in server.requests if r.method == "PATCH" or r.url.path.endswith("/Bulk")]
    held = server.user(report)
    assert held["active"] is False and held[ENTERPRISE_URN] == {"department": "Sales", "manager": {"value": manager}}
    assert server.members(course) == {report}


@pytest.mark.parametrize("bare", [{"filter": False}], indirect=True)
async def test_without_filters_accounts_are_found_by_reading_them_all(bare: tuple[ScimServer, ScimTarget]) -> None:
    server, target = bare
    account_id = await create(target, 1)
    [again] = await target.apply([CreateUser(hr_id="HR-1", fields=fields(1))])
    found = await target.find_accounts(field="username", values=["PERSON1@example.com"])

    assert again.outcome == "already" and [a.account_id for a in found] == [account_id]
    assert all("filter" not in r.url.params for r in server.requests)


async def test_a_leaver_is_deactivated_never_deleted(target: ScimTarget, fake: ScimServer) -> None:
    account_id = await create(target, 1)
    [result] = await target.apply([DeactivateUser(hr_id="HR-1", account_id=account_id)])
    accounts = {a.account_id: a for a in await collect(target.list_accounts())}
    assert result.outcome == "done" and accounts[account_id].active is False
    assert not [r for r in fake.requests if r.method == "DELETE"]
    assert fake.user(account_id)["active"] is False


async def test_a_manager_is_the_reports_enterprise_manager(target: ScimTarget, fake: ScimServer) -> None:
    boss, other, report = await create(target, 1), await create(target, 2), await create(target, 3)

    def op(kind: type[AssignRole] | type[RevokeRole], holder: str) -> AssignRole | RevokeRole:
        return kind(hr_id="x", account_id=holder, role="manager", scope=RoleScope.USER, scope_id=report)

    assert [r.outcome for r in await target.apply([op(AssignRole, boss)])] == ["done"]
    assert fake.user(report)[ENTERPRISE_URN]["manager"] == {"value": boss}
    held = [(r.account_id, r.role, r.scope, r.scope_id) for r in await collect(target.list_role_assignments())]
    assert held == [(boss, "manager", RoleScope.USER, report)]
    assert [r.outcome for r in await target.apply([op(AssignRole, other)])] == ["done"]  # a new manager replaces
    assert [r.outcome for r in await target.apply([op(RevokeRole, boss)])] == ["already"]  # not theirs any more
    assert fake.user(report)[ENTERPRISE_URN]["manager"] == {"value": other}
    assert [r.outcome for r in await target.apply([op(RevokeRole, other)])] == ["done"]
    assert "manager" not in fake.user(report).get(ENTERPRISE_URN, {})


async def test_system_roles_are_members_of_their_role_group(
    target: ScimTarget, fake: ScimServer, config: ScimConfig
) -> None:
    account_id = await create(target, 1)
    instructors = config.role_groups["instructor"]
    results = await target.apply([
        AssignRole(hr_id="HR-1", account_id=account_id, role="instructor"),
        AssignRole(hr_id="HR-1", account_id=account_id, role="admin"),
    ])  # fmt: skip
    assert [r.outcome for r in results] == ["done", "failed"]
    assert fake.members(instructors) == {account_id}
    held = [(r.account_id, r.role) for r in await collect(target.list_role_assignments())]
    assert held == [(account_id, "instructor")]
    assert instructors not in {e.course_id for e in await collect(target.list_enrolments())}
    [revoked] = await target.apply([RevokeRole(hr_id="HR-1", account_id=account_id, role="instructor")])
    assert revoked.outcome == "done" and fake.members(instructors) == set()


async def test_enrolments_in_one_course_go_out_as_one_patch(
    target: ScimTarget, fake: ScimServer, course_ids: list[str]
) -> None:
    people = [await create(target, n) for n in (1, 2, 3)]
    before = len(fake.requests)
    results = await target.apply([Enrol(hr_id=f"HR-{n}", account_id=a, course_id=course_ids[0])
                                  for n, a in zip((1, 2, 3), people, strict=True)])  # fmt: skip
    assert [r.outcome for r in results] == ["done"] * 3
    [patch] = [r for r in fake.requests[before:] if r.method != "GET"]
    assert patch.method == "PATCH" and patch.url.path.endswith(course_ids[0]) and "If-Match" in patch.headers
    assert fake.members(course_ids[0]) == set(people)
    [out] = await target.apply([Unenrol(hr_id="HR-2", account_id=people[1], course_id=course_ids[0])])
    assert out.outcome == "done" and fake.members(course_ids[0]) == {people[0], people[2]}
    listed = {(e.account_id, e.course_id, e.started) for e in await collect(target.list_enrolments())}
    assert listed == {(people[0], course_ids[0], False), (people[2], course_ids[0], False)}


async def test_cohorts_are_groups(target: ScimTarget, fake: ScimServer) -> None:
    account_id = await create(target, 1)
    cohort = fake.add_group("Cohort 2026")
    first = await target.apply([AddToGroup(hr_id="HR-1", account_id=account_id, group_id=cohort)])
    again = await target.apply([AddToGroup(hr_id="HR-1", account_id=account_id, group_id=cohort)])
    assert [r.outcome for r in first + again] == ["done", "already"]  # type: ignore[operator]
    assert (account_id, cohort) in {(m.account_id, m.group_id) for m in await collect(target.list_group_memberships())}
    [gone] = await target.apply([RemoveFromGroup(hr_id="HR-1", account_id=account_id, group_id=cohort)])
    assert gone.outcome == "done" and fake.members(cohort) == set()


async def test_error_answers_as_scim2_server_gives_them(target: ScimTarget, fake: ScimServer) -> None:
    account_id = await create(target, 1)
    [missing_group] = await target.apply([Enrol(hr_id="HR-1", account_id=account_id, course_id="no-such-group")])
    [missing_user] = await target.apply([DeactivateUser(hr_id="HR-9", account_id="no-such-user")])
    assert (missing_group.outcome, missing_group.error and missing_group.error.status) == ("failed", 404)
    assert (missing_user.outcome, missing_user.error and missing_user.error.status) == ("failed", 404)
    # Values are quoted as JSON strings, so one that looks like filter syntax is only a value.
    assert await target.find_accounts(field="external_id", values=['x" or userName pr or "y']) == []
    async with httpx.AsyncClient(transport=fake.transport(), base_url="https://scim.test/v2/") as raw:
        headers = {"Authorization": f"Bearer {fake.token}"}
        refused = await raw.get("Users", params={"filter": 'externalId eq "x'}, headers=headers)
        taken = await raw.post(
            "Users",
            headers=headers,
            content=json.dumps(
                {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "seed.one@example.com"}
            ),
        )
    assert isinstance(classify(refused), Invalid) and "[invalidFilter]" in str(classify(refused))
    assert isinstance(classify(taken), Invalid) and "[uniqueness]" in str(classify(taken))


async def test_a_wrong_token_is_refused_after_discovery(fake: ScimServer, config: ScimConfig) -> None:
    wrong = config.model_copy(update={"token": config.token.__class__("nope-nope")})
    async with build_client(wrong, transport=fake.transport()) as http:
        target = ScimTarget(wrong, http, retry=ReadRetry(attempts=1, clock=FakeClock()))
        result = await target.check()
        with pytest.raises(AuthError):
            await collect(target.list_accounts())
    assert not result.ok and "bearer token was refused" in result.detail


async def test_accounts_are_found_by_email_and_username_whatever_their_case(target: ScimTarget) -> None:
    account_id = await create(target, 1)
    by_email = await target.find_accounts(field="email", values=["person1@example.com"])
    by_username = await target.find_accounts(field="username", values=["Person1@Example.com"])
    assert [a.account_id for a in by_email] == [account_id] == [a.account_id for a in by_username]


async def test_leavers_in_one_batch_go_out_as_one_bulk_request_each_under_its_version(
    target: ScimTarget, fake: ScimServer
) -> None:
    people = [await create(target, n) for n in (1, 2, 3)]
    versions = {p: fake.user(p)["meta"]["version"] for p in people}
    before = len(fake.requests)

    results = await target.apply([DeactivateUser(hr_id=f"HR-{n}", account_id=a) for n, a in enumerate(people, 1)])

    assert [r.outcome for r in results] == ["done"] * 3
    assert paths(fake, before) == ["GET Users", "POST Bulk"]  # one filtered read of all three, one write
    bulk = fake.requests[-1]
    operations = body(bulk)["Operations"]
    assert [(o["method"], o["path"], o["version"]) for o in operations] == [
        ("PATCH", f"/Users/{p}", versions[p]) for p in people
    ]
    assert all(fake.user(p)["active"] is False for p in people)


@pytest.mark.parametrize("bare", [{"enterprise": False}], indirect=True)
async def test_without_the_enterprise_extension_no_department_or_manager_is_written(
    bare: tuple[ScimServer, ScimTarget],
) -> None:
    server, target = bare
    assert (await target.features()).enterprise is False
    boss, report = await create(target, 1, department="Sales"), await create(target, 2)
    op = AssignRole(hr_id="HR-1", account_id=boss, role="manager", scope=RoleScope.USER, scope_id=report)
    [result] = await target.apply([op])
    assert result.outcome == "failed" and result.error is not None and "enterprise" in result.error.reason
    assert ENTERPRISE_URN not in server.user(boss) and ENTERPRISE_URN not in server.user(report)
    assert not [r for r in server.writes if r.method == "PATCH"]


async def test_a_server_refusing_to_filter_on_id_has_its_users_read_one_by_one(
    target: ScimTarget, fake: ScimServer
) -> None:
    people = [await create(target, n) for n in (1, 2)]
    refusal = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "status": "400", "scimType": "invalidFilter"}
    fake.fail_next(
        1, status=400, body=json.dumps(refusal).encode(), when=lambda r: "id eq" in r.url.params.get("filter", "")
    )
    before = len(fake.requests)

    results = await target.apply([DeactivateUser(hr_id=f"HR-{n}", account_id=a) for n, a in enumerate(people, 1)])

    assert [r.outcome for r in results] == ["done", "done"]
    assert paths(fake, before) == ["GET Users", *(f"GET Users/{p}" for p in people), "POST Bulk"]


async def test_a_group_write_refused_whole_is_sent_op_by_op_so_the_bad_one_fails_alone(
    target: ScimTarget, fake: ScimServer, course_ids: list[str]
) -> None:
    people = [await create(target, n) for n in (1, 2)]
    # A server that checks members refuses the whole PATCH naming an account it does not know (400 invalidValue).
    refusal = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "status": "400", "scimType": "invalidValue"}
    refused = json.dumps(refusal).encode()
    fake.fail_next(2, status=400, body=refused, when=lambda r: r.method == "PATCH" and b"gone-account" in r.content)
    course = course_ids[1]
    ops = [Enrol(hr_id=f"HR-{n}", account_id=a, course_id=course) for n, a in ((1, people[0]), (9, "gone-account"))]
    ops.append(Enrol(hr_id="HR-2", account_id=people[1], course_id=course))

    results = await target.apply(ops)

    assert [r.outcome for r in results] == ["done", "failed", "done"]
    assert results[1].error is not None and "[invalidValue]" in results[1].error.reason
    assert fake.members(course) == set(people)


@pytest.mark.parametrize("bare", [{"max_operations": 2}], indirect=True)
async def test_bulk_requests_hold_no_more_operations_than_the_server_takes(bare: tuple[ScimServer, ScimTarget]) -> None:
    server, target = bare
    results = await target.apply([CreateUser(hr_id=f"HR-{n}", fields=fields(n)) for n in range(1, 6)])
    assert [r.outcome for r in results] == ["done"] * 5
    assert [len(body(r)["Operations"]) for r in server.writes] == [2, 2, 1]


@pytest.mark.parametrize("bare", [{"max_payload": 1000}], indirect=True)
async def test_bulk_requests_stay_under_the_servers_payload_limit(bare: tuple[ScimServer, ScimTarget]) -> None:
    server, target = bare
    results = await target.apply([CreateUser(hr_id=f"HR-{n}", fields=fields(n)) for n in range(1, 9)])
    assert [r.outcome for r in results] == ["done"] * 8
    assert len(server.writes) > 1 and all(len(r.content) <= 1000 for r in server.writes)


async def test_check_names_a_role_whose_group_is_missing(fake: ScimServer, config: ScimConfig) -> None:
    broken = config.model_copy(update={"role_groups": {**config.role_groups, "admin": "no-such-group"}})
    async with build_client(broken, transport=fake.transport()) as http:
        result = await ScimTarget(broken, http, retry=ReadRetry(attempts=1, clock=FakeClock())).check()
    assert not result.ok and result.detail == "no Group for roles: admin"


async def test_courses_are_the_groups_but_the_role_groups_known_by_display_name(
    target: ScimTarget, fake: ScimServer, config: ScimConfig
) -> None:
    listed = {c.course_id: c for c in await collect(target.list_courses())}
    assert set(listed) == {fake.group_named("SAFETY-101"), fake.group_named("SEC-200")}
    assert listed[fake.group_named("SEC-200")].keys == {"displayName": "SEC-200"}
    assert config.role_groups["instructor"] not in listed


async def test_a_deleted_leaver_is_gone_and_deleting_again_is_already(target: ScimTarget, fake: ScimServer) -> None:
    account_id = await create(target, 1)
    first = await target.apply([DeleteUser(hr_id="HR-1", account_id=account_id)])
    again = await target.apply([DeleteUser(hr_id="HR-1", account_id=account_id)])
    assert [r.outcome for r in first + again] == ["done", "already"]  # type: ignore[operator]
    assert fake.by_external_id("HR-1") is None
    assert [r.method for r in fake.writes[-2:]] == ["DELETE", "DELETE"]
