"""The TalentLMS target's own behaviour beyond the shared contract: refusals fail one person, the hourly budget is
spread instead of exhausted, manager teams follow moves, course roles, branches and the SSO identity."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from enrolsync.connectors.base import Rate
from enrolsync.connectors.kit.client import build_client
from enrolsync.connectors.kit.ratelimit import RateLimiter
from enrolsync.connectors.kit.retry import ReadRetry
from enrolsync.connectors.model import AccountFields, RoleScope
from enrolsync.connectors.ops import AddToGroup, AssignRole, CreateUser, DeleteUser, Enrol, RevokeRole, SetSsoIdentity
from enrolsync.connectors.talentlms import TalentLMSTarget
from enrolsync.connectors.talentlms.config import TalentLMSConfig
from enrolsync.connectors.talentlms.fake import TalentLMSFake
from enrolsync.connectors.testing.fakes import FakeClock
from tests.support.talentlms import talentlms_config


def person(n: int, **change: str) -> CreateUser:
    fields = {"username": f"p{n}", "given_name": "P", "family_name": str(n), "email": f"p{n}@example.com"}
    return CreateUser(hr_id=f"H{n}", fields=AccountFields(**{**fields, "external_id": f"H{n}", **change}))


async def accounts(target: TalentLMSTarget, *ops: CreateUser) -> list[str]:
    results = await target.apply(list(ops))
    assert all(r.outcome == "done" and r.ref for r in results), results
    return [r.ref.id for r in results if r.ref]


async def test_a_refused_person_fails_alone(target: TalentLMSTarget, fake: TalentLMSFake) -> None:
    results = await target.apply(
        [person(1), person(2, given_name=""), person(3, email="jane.roe@example.com"), person(4, email="not-an-email")]
    )
    assert [r.outcome for r in results] == ["done", "failed", "failed", "failed"]
    assert [r.error.status for r in results[1:] if r.error] == [400, 400, 400]
    assert "name field is required" in str(results[1].error)
    assert "email has already been taken" in str(results[2].error), "someone else's email is not taken over"
    assert fake.user_by(email="p1@example.com") is not None and fake.user_by(email="p4@example.com") is None


@pytest.fixture
async def throttled(clock: FakeClock) -> AsyncIterator[tuple[TalentLMSTarget, TalentLMSFake, RateLimiter]]:
    """A portal on a 30-calls-an-hour plan, and a connection whose limiter thinks the plan allows 2,000."""
    fake = TalentLMSFake.seeded(hourly_limit=30, clock=clock.monotonic)
    info = TalentLMSTarget.info
    limiter = RateLimiter(
        info.default_rate, max_concurrency=info.max_concurrency, clock=clock, windows=info.rate_windows
    )
    config = talentlms_config(fake)
    async with build_client(config, transport=fake.transport(), limiter=limiter) as http:
        yield TalentLMSTarget(config, http, retry=ReadRetry(clock=clock)), fake, limiter


async def test_a_big_sync_is_spread_over_the_hour_not_refused(
    throttled: tuple[TalentLMSTarget, TalentLMSFake, RateLimiter], clock: FakeClock
) -> None:
    target, fake, limiter = throttled
    started = clock.now

    ids = await accounts(target, *[person(n) for n in range(70)])
    course = str(min(fake.portal.courses))
    enrolled = await target.apply([Enrol(hr_id=f"H{n}", account_id=a, course_id=course) for n, a in enumerate(ids)])

    assert [r.outcome for r in enrolled] == ["done"] * 70
    assert fake.throttled == 0, "no call was refused: no retry storm"
    assert limiter.windows[-1].calls == 30, "the plan's limit was learnt from X-RateLimit-Limit"
    assert clock.now - started >= 4 * 3600, "140 calls at 30 an hour take four more hours"
    assert limiter.windows[-1].waited > 0 and limiter.throttled == 0


async def test_a_budget_spent_elsewhere_costs_one_429_and_a_wait(
    throttled: tuple[TalentLMSTarget, TalentLMSFake, RateLimiter], clock: FakeClock
) -> None:
    target, fake, limiter = throttled
    window = int(clock.now // 3600)
    fake._hour = (window, 30)  # another integration spent this hour's calls on the same key

    listed = [a async for a in target.list_accounts()]

    assert len(listed) == 2
    assert fake.throttled == 1 and limiter.throttled == 1
    assert clock.now >= (window + 1) * 3600, "the read waited for the Retry-After, once"


async def test_manager_scope_follows_a_move(target: TalentLMSTarget, fake: TalentLMSFake) -> None:
    boss, other, report = await accounts(target, person(1), person(2), person(3))

    def over(manager: str) -> AssignRole:
        return AssignRole(hr_id="H", account_id=manager, role="manager", scope=RoleScope.USER, scope_id=report)

    assert [r.outcome for r in await target.apply([over(boss)])] == ["done"]
    moved = await target.apply([RevokeRole(**over(boss).model_dump(exclude={"kind"})), over(other)])

    assert [r.outcome for r in moved] == ["done", "done"]
    held = {(r.account_id, r.scope_id) async for r in target.list_role_assignments() if r.scope is RoleScope.USER}
    assert held == {(other, report)}
    assert fake.groups_of(int(report)) == {f"Team of {other}"}
    assert fake.groups_of(int(boss)) == {f"Team of {boss}"}, "the old manager keeps their (now empty) team"
    assert [g.name for g in fake.portal.groups.values()].count(f"Team of {other}") == 1


async def test_instructor_per_course_is_the_enrollments_role(target: TalentLMSTarget, fake: TalentLMSFake) -> None:
    [user] = await accounts(target, person(1))
    course = str(min(fake.portal.courses))
    grant = AssignRole(hr_id="H1", account_id=user, role="instructor", scope=RoleScope.COURSE, scope_id=course)

    first, again = (await target.apply([grant]))[0], (await target.apply([grant]))[0]
    assert (first.outcome, again.outcome) == ("done", "already")
    assert fake.courses_of(int(user)) == {int(course): "instructor"}
    listed = {(r.account_id, r.role, r.scope_id) async for r in target.list_role_assignments()}
    assert (user, "instructor", course) in listed

    [revoked] = await target.apply([RevokeRole(**grant.model_dump(exclude={"kind"}))])
    assert revoked.outcome == "done" and fake.courses_of(int(user)) == {int(course): "learner"}


async def test_branches_are_groups_named_branch(target: TalentLMSTarget, fake: TalentLMSFake) -> None:
    [user] = await accounts(target, person(1))
    results = await target.apply([AddToGroup(hr_id="H1", account_id=user, group_id="branch:1")] * 2)
    assert [r.outcome for r in results].count("done") == 1
    memberships = {(m.account_id, m.group_id) async for m in target.list_group_memberships()}
    assert (user, "branch:1") in memberships


async def test_the_sso_identity_is_the_login(target: TalentLMSTarget, fake: TalentLMSFake) -> None:
    [user] = await accounts(target, person(1))
    sso = SetSsoIdentity(hr_id="H1", account_id=user, auth="saml2", subject="P1@Example.com")
    other = SetSsoIdentity(hr_id="H1", account_id=user, auth="oidc", subject="p1@example.com")

    results = await target.apply([sso, other])

    assert [r.outcome for r in results] == ["done", "failed"]
    assert fake.portal.users[int(user)].login == "P1@Example.com"
    identities = {(i.account_id, i.auth, i.subject) async for i in target.list_sso_identities()}
    assert (user, "saml2", "P1@Example.com") in identities
    assert (await target.apply([sso]))[0].outcome == "already"


async def test_accounts_are_found_by_their_hr_id(target: TalentLMSTarget, config: TalentLMSConfig) -> None:
    [user] = await accounts(target, person(1))
    found = await target.find_accounts(field="external_id", values=["H1", "H404"])
    assert [(a.account_id, a.fields.external_id) for a in found] == [(user, "H1")]
    many = await target.find_accounts(field="email", values=[f"P{n}@example.com" for n in range(1, 15)])
    assert [a.account_id for a in many] == [user], "many values: one read of everyone, compared caselessly"
    assert config.external_id_field == 1
    assert Rate(calls=2000, per_seconds=3600) in TalentLMSTarget.info.rate_windows


async def test_a_system_role_is_the_user_type(target: TalentLMSTarget, fake: TalentLMSFake) -> None:
    [user] = await accounts(target, person(1))
    grant = AssignRole(hr_id="H1", account_id=user, role="admin")

    results = [(await target.apply([grant]))[0].outcome for _ in range(2)]

    assert results == ["done", "already"] and fake.portal.users[int(user)].user_type_id == 2
    assert (user, "admin") in {(r.account_id, r.role) async for r in target.list_role_assignments()}
    revoke = RevokeRole(**grant.model_dump(exclude={"kind"}))
    assert [(await target.apply([revoke]))[0].outcome for _ in range(2)] == ["done", "already"]
    assert fake.portal.users[int(user)].user_type_id == 4, "back to Learner-Type"
    [unknown] = await target.apply([AssignRole(hr_id="H1", account_id=user, role="manager")])
    assert unknown.outcome == "failed"


async def test_check_reports_the_budget_left_and_a_missing_hr_id_field(fake: TalentLMSFake) -> None:
    for field, ok in ((1, True), (7, False)):
        config = talentlms_config(fake, external_id_field=field)
        async with build_client(config, transport=fake.transport()) as http:
            result = await TalentLMSTarget(config, http, retry=ReadRetry(clock=FakeClock())).check()
        assert result.ok is ok, result
        assert result.facts["hourly_limit"] == "2000" and int(result.facts["hourly_remaining"]) < 2000
    assert "no custom user field 7" in result.detail


async def test_a_create_whose_answer_was_lost_is_found_not_repeated(
    target: TalentLMSTarget, fake: TalentLMSFake
) -> None:
    fake.lose_response_next(1, when=fake.is_write)

    [lost] = await target.apply([person(1)])
    found = await target.find_accounts(field="external_id", values=["H1"])
    [again] = await target.apply([person(1)])

    assert lost.outcome == "retry" and len(found) == 1
    assert again.outcome == "already" and again.ref is not None and again.ref.id == found[0].account_id
    assert sum(u.login == "p1" for u in fake.portal.users.values()) == 1


async def test_one_team_per_manager_however_many_reports_a_batch_names(
    target: TalentLMSTarget, fake: TalentLMSFake
) -> None:
    boss, *reports = await accounts(target, *[person(n) for n in range(5)])
    grants = [
        AssignRole(hr_id="H0", account_id=boss, role="manager", scope=RoleScope.USER, scope_id=r) for r in reports
    ]

    assert [r.outcome for r in await target.apply(grants)] == ["done"] * 4

    teams = [g for g in fake.portal.groups.values() if g.name == f"Team of {boss}"]
    assert len(teams) == 1
    assert {u for g, u in fake.portal.group_members if g == teams[0].id} == {int(boss), *map(int, reports)}


async def test_a_deleted_leaver_takes_their_enrollments_and_is_gone_once(
    target: TalentLMSTarget, fake: TalentLMSFake
) -> None:
    [user] = await accounts(target, person(1))
    course = str(min(fake.portal.courses))
    await target.apply([Enrol(hr_id="H1", account_id=user, course_id=course)])

    results = [(await target.apply([DeleteUser(hr_id="H1", account_id=user)]))[0].outcome for _ in range(2)]

    assert results == ["done", "already"]
    assert int(user) not in fake.portal.users and fake.courses_of(int(user)) == {}


async def test_courses_are_known_by_their_code(target: TalentLMSTarget, fake: TalentLMSFake) -> None:
    listed = {c.keys.get("code"): c.course_id async for c in target.list_courses()}
    assert listed == {c.description: str(c.id) for c in fake.portal.courses.values()}
    assert set(listed) == {"SAFETY-101", "SEC-200", "LEAD-1"}


async def test_many_hr_ids_in_a_young_portal_cost_a_read_of_everyone(
    target: TalentLMSTarget, fake: TalentLMSFake
) -> None:
    before = len(fake.requests)

    found = await target.find_accounts(field="external_id", values=[f"E-{n}" for n in range(1, 41)])

    assert [a.fields.external_id for a in found] == ["E-1"]  # the seeded Jane Roe
    assert len(fake.requests) - before == 1 + 1 + 2, "a count, one page, two users' details: not 40 searches"
