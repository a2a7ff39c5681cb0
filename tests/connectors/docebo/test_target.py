"""Docebo specifics beyond the shared contract: the batch import split on a whole refusal, one bad person
failing alone, tokens cached and refreshed, leavers in one call, the Direct Manager following a move, levels,
branches, courses by code and throttled writes."""

from __future__ import annotations

from typing import Any

import httpx

from enrolsync.connectors.docebo import DoceboTarget
from enrolsync.connectors.docebo.fake import DoceboFake
from enrolsync.connectors.kit.client import build_client
from enrolsync.connectors.model import AccountFields, RoleScope
from enrolsync.connectors.ops import (
    AddToGroup,
    AssignRole,
    CreateUser,
    DeactivateUser,
    Enrol,
    RemoveFromGroup,
    RevokeRole,
    SetSsoIdentity,
)
from enrolsync.connectors.testing.fakes import FakeClock
from tests.support.docebo import docebo_config


def person(n: int, *, email: str | None = None) -> CreateUser:
    fields = AccountFields(
        username=f"user{n}@example.com",
        given_name="Person",
        family_name=str(n),
        email=email or f"user{n}@example.com",
        external_id=f"HR-{n}",
    )
    return CreateUser(hr_id=f"HR-{n}", fields=fields)


def calls(fake: DoceboFake, method: str, path: str) -> list[httpx.Request]:
    return [r for r in fake.requests if r.method == method and r.url.path == path]


async def collect(iterator: Any) -> list[Any]:
    return [item async for item in iterator]


async def test_a_malformed_row_is_split_out_and_every_good_row_lands(target: DoceboTarget, fake: DoceboFake) -> None:
    ops = [person(n) for n in range(8)]
    ops[5] = person(5, email="not-an-email")

    results = await target.apply(ops)

    assert [r.outcome for r in results] == ["done"] * 5 + ["failed"] + ["done"] * 2
    assert results[5].error is not None and "Invalid email" in results[5].error.reason
    assert {u.fields.get(1) for u in fake.platform.users.values()} >= {f"HR-{n}" for n in range(8) if n != 5}
    # 8 -> 4+4 -> 2+2 -> 1+1: the good halves go out whole, only the bad row's halves are split further.
    assert len(calls(fake, "POST", "/manage/v1/user/batch")) == 7


async def test_a_taken_email_fails_that_person_alone(target: DoceboTarget, fake: DoceboFake) -> None:
    fake.add_user("someone.else", "Some", "One", "user2@example.com")

    results = await target.apply([person(1), person(2), person(3)])

    assert [r.outcome for r in results] == ["done", "failed", "done"]
    assert results[1].error is not None and "Email already exists" in results[1].error.reason
    assert len(calls(fake, "POST", "/manage/v1/user/batch")) == 1


async def test_a_repeated_import_is_already_with_the_same_account(target: DoceboTarget, fake: DoceboFake) -> None:
    [first] = await target.apply([person(1)])
    [again] = await target.apply([person(1)])
    assert first.outcome == "done" and again.outcome == "already"
    assert first.ref == again.ref


async def test_one_token_serves_the_hour_and_is_renewed_before_it_expires(
    target: DoceboTarget, fake: DoceboFake, clock: FakeClock
) -> None:
    for _ in range(5):
        await collect(target.list_accounts())
    assert fake.tokens_issued == 1 and target.tokens_fetched == 1

    clock.now += 3400  # inside the kit's 5-minute margin before the hour ends
    await collect(target.list_accounts())

    assert fake.tokens_issued == 2
    assert fake.unauthorized == 0, "no call was refused for an expired token"
    assert len(calls(fake, "POST", "/oauth2/token")) == 2


async def test_a_revoked_token_is_replaced_once_and_the_call_replayed(target: DoceboTarget, fake: DoceboFake) -> None:
    await collect(target.list_accounts())
    fake.tokens.clear()  # an admin revoked the API client's tokens

    accounts = await collect(target.list_accounts())

    assert len(accounts) == 2 and fake.tokens_issued == 2 and fake.unauthorized == 1


async def test_leavers_go_out_in_one_change_status_call(target: DoceboTarget, fake: DoceboFake) -> None:
    created = await target.apply([person(n) for n in range(4)])
    ids = [r.ref.id for r in created if r.ref]
    ops = [DeactivateUser(hr_id=f"HR-{n}", account_id=i) for n, i in enumerate(ids)]

    results = await target.apply(ops)

    assert [r.outcome for r in results] == ["done"] * 4
    [call] = calls(fake, "PUT", "/manage/v1/user/change_status")
    assert sorted(httpx.Response(200, content=call.content).json()["user_ids"]) == sorted(int(i) for i in ids)
    assert all(not fake.platform.users[int(i)].valid for i in ids)
    assert [r.outcome for r in await target.apply(ops)] == ["already"] * 4


async def test_the_direct_manager_follows_a_move(target: DoceboTarget, fake: DoceboFake) -> None:
    old, new, report = (r.ref.id for r in await target.apply([person(1), person(2), person(3)]) if r.ref)

    def manager(op: type[AssignRole] | type[RevokeRole], boss: str, hr: str) -> AssignRole | RevokeRole:
        return op(hr_id=hr, account_id=boss, role="manager", scope=RoleScope.USER, scope_id=report, scope_hr_id="HR-3")

    assert [r.outcome for r in await target.apply([manager(AssignRole, old, "HR-1")])] == ["done"]
    # The move: the new manager and the old one's revocation in one batch, in either order.
    results = await target.apply([manager(AssignRole, new, "HR-2"), manager(RevokeRole, old, "HR-1")])

    assert [r.outcome for r in results] == ["done", "already"]
    assert fake.reports_of(int(new)) == {int(report)} and fake.reports_of(int(old)) == set()
    held = {(r.account_id, r.scope_id) for r in await collect(target.list_role_assignments()) if r.role == "manager"}
    assert held == {(new, report)}


async def test_a_system_role_is_the_user_level(target: DoceboTarget, fake: DoceboFake) -> None:
    [made] = await target.apply([person(1)])
    assert made.ref is not None
    user = made.ref.id
    assign = AssignRole(hr_id="HR-1", account_id=user, role="power_user")

    assert [r.outcome for r in await target.apply([assign])] == ["done"]
    assert fake.platform.users[int(user)].level == "power_user"
    assert [r.outcome for r in await target.apply([assign])] == ["already"]
    assert [r.outcome for r in await target.apply([RevokeRole(hr_id="HR-1", account_id=user, role="power_user")])] == [
        "done"
    ]
    assert fake.platform.users[int(user)].level == "user"


async def test_branches_are_groups(target: DoceboTarget, fake: DoceboFake) -> None:
    [made] = await target.apply([person(1)])
    assert made.ref is not None
    branch = str(fake.add_branch("SALES", "Sales"))
    join = AddToGroup(hr_id="HR-1", account_id=made.ref.id, group_id=branch)

    assert [r.outcome for r in await target.apply([join, join])][0] == "done"
    memberships = {(m.account_id, m.group_id) for m in await collect(target.list_group_memberships())}
    assert (made.ref.id, branch) in memberships
    leave = RemoveFromGroup(hr_id="HR-1", account_id=made.ref.id, group_id=branch)
    assert [r.outcome for r in await target.apply([leave])] == ["done"]
    assert [r.outcome for r in await target.apply([leave])] == ["already"]


async def test_courses_are_known_by_their_code(target: DoceboTarget) -> None:
    codes = {c.keys.get("code") for c in await collect(target.list_courses())}
    assert codes == {"SAFETY-101", "SEC-200", "LEAD-1"}


async def test_find_by_email_keeps_exact_matches_only(target: DoceboTarget, fake: DoceboFake) -> None:
    fake.add_user("jane.roe2", "Jane", "Roe", "jane.roe@example.com.au")
    found = await target.find_accounts(field="email", values=["JANE.ROE@example.com"])
    assert [a.fields.email for a in found] == ["jane.roe@example.com"]


async def test_a_throttled_batch_comes_back_retry_with_the_wait(target: DoceboTarget, fake: DoceboFake) -> None:
    [made] = await target.apply([person(1)])
    assert made.ref is not None
    course = str(min(fake.platform.courses))
    fake.fail_next(1, status=429, retry_after=30, when=fake.is_write)

    [result] = await target.apply([Enrol(hr_id="HR-1", account_id=made.ref.id, course_id=course)])

    assert result.outcome == "retry" and result.error is not None and result.error.retry_after == 30
    assert fake.courses_of(int(made.ref.id)) == {}


async def test_many_leavers_cost_one_read_of_everyone_and_one_write(target: DoceboTarget, fake: DoceboFake) -> None:
    created = await target.apply([person(n) for n in range(15)])
    ops = [DeactivateUser(hr_id=f"HR-{n}", account_id=r.ref.id) for n, r in enumerate(created) if r.ref]
    before = len(fake.requests)

    results = await target.apply([*ops, DeactivateUser(hr_id="HR-99", account_id="999999")])

    assert [r.outcome for r in results] == ["done"] * 15 + ["failed"]
    assert [r.url.path for r in fake.requests[before:]] == ["/manage/v1/user", "/manage/v1/user/change_status"]


async def test_an_import_whose_answer_was_lost_is_recognised_on_the_retry(
    target: DoceboTarget, fake: DoceboFake
) -> None:
    fake.lose_response_next(1, when=lambda r: r.url.path == "/manage/v1/user/batch")

    lost = await target.apply([person(1), person(2)])
    again = await target.apply([person(1), person(2)])

    assert [r.outcome for r in lost] == ["retry", "retry"]
    assert [r.outcome for r in again] == ["already", "already"]
    assert {r.ref.id for r in again if r.ref} == {
        str(u.id) for u in fake.platform.users.values() if u.fields.get(1) in ("HR-1", "HR-2")
    }


async def test_check_counts_users_and_names_a_missing_hr_id_field(fake: DoceboFake, clock: FakeClock) -> None:
    for field, ok in ((1, True), (7, False)):
        config = docebo_config(fake, external_id_field=field)
        async with build_client(config, transport=fake.transport()) as http:
            result = await DoceboTarget(config, http, clock=clock).check()
        assert (result.ok, result.facts.get("users")) == (ok, 2), result
        assert ok or "additional user field 7" in result.detail


async def test_a_course_role_is_the_enrolment_level(target: DoceboTarget, fake: DoceboFake) -> None:
    [made] = await target.apply([person(1)])
    assert made.ref is not None
    user, course = made.ref.id, str(min(fake.platform.courses))
    role = {"role": "instructor", "scope": RoleScope.COURSE, "scope_id": course}
    assign = AssignRole(hr_id="HR-1", account_id=user, **role)

    assert [r.outcome for r in await target.apply([assign])] == ["done"]
    assert fake.courses_of(int(user)) == {int(course): "instructor"}
    assert [r.outcome for r in await target.apply([assign])] == ["already"]
    held = {(r.account_id, r.role, r.scope_id) for r in await collect(target.list_role_assignments())}
    assert (user, "instructor", course) in held

    revoke = RevokeRole(hr_id="HR-1", account_id=user, **role)
    assert [
        r.outcome
        for r in await target.apply(
            [
                revoke,
            ]
        )
    ] == ["done"]
    assert fake.courses_of(int(user)) == {int(course): "student"}, "still enrolled, as a learner"
    assert [r.outcome for r in await target.apply([revoke])] == ["already"]


async def test_a_joiners_sso_and_manager_need_no_read_after_the_import(target: DoceboTarget, fake: DoceboFake) -> None:
    boss, report = (r.ref.id for r in await target.apply([person(1), person(2)]) if r.ref)
    before = len(fake.requests)
    sso = SetSsoIdentity(hr_id="HR-2", account_id=report, auth="saml2", subject="user2@example.com")
    manager = AssignRole(
        hr_id="HR-1", account_id=boss, role="manager", scope=RoleScope.USER, scope_id=report, scope_hr_id="HR-2"
    )

    results = await target.apply([sso, manager])

    assert [r.outcome for r in results] == ["already", "done"]
    assert [(r.method, r.url.path) for r in fake.requests[before:]] == [("PUT", f"/manage/v1/user/{report}")]


async def test_an_enrolment_batch_refused_whole_is_split_and_a_missing_course_fails_alone(
    target: DoceboTarget, fake: DoceboFake
) -> None:
    made = [r.ref.id for r in await target.apply([person(n) for n in range(4)]) if r.ref]
    course = str(min(fake.platform.courses))
    ops = [Enrol(hr_id=f"HR-{n}", account_id=i, course_id=course) for n, i in enumerate(made)]
    ops[2] = Enrol(hr_id="HR-2", account_id=made[2], course_id="424242")
    body = b'{"name": "Bad Request", "message": ["Invalid items"], "code": 1006, "status": 400}'
    fake.fail_next(1, status=400, body=body, when=lambda r: r.url.path == "/learn/v1/enrollment/batch")

    results = await target.apply(ops)

    assert [r.outcome for r in results] == ["done", "done", "failed", "done"]
    assert results[2].error is not None and "Course not found" in results[2].error.reason
    assert len(calls(fake, "POST", "/learn/v1/enrollment/batch")) == 3, "refused whole once, then two halves"
    assert {u for (u, _c) in fake.platform.enrollments} == {int(made[n]) for n in (0, 1, 3)}


async def test_revoking_the_role_over_a_report_whose_account_is_gone_is_already(target: DoceboTarget) -> None:
    [boss] = [r.ref.id for r in await target.apply([person(1)]) if r.ref]
    ops = [
        RevokeRole(hr_id="HR-1", account_id=boss, role="manager", scope=RoleScope.USER, scope_id=gone, scope_hr_id="X")
        for gone in ("999999", None)
    ]
    assert [r.outcome for r in await target.apply(ops)] == ["already", "already"]
