"""Canvas behaviour a user relies on, beyond the shared contract: leavers and movers keep their grades, managers
observe exactly their reports, SSO logins, one bad record failing alone, and throttling."""

from __future__ import annotations

import httpx
import pytest

from enrolsync.connectors.canvas import CanvasTarget
from enrolsync.connectors.canvas.config import CanvasConfig
from enrolsync.connectors.canvas.fake import FakeCanvas
from enrolsync.connectors.errors import PermanentError
from enrolsync.connectors.kit.client import build_client
from enrolsync.connectors.kit.retry import ReadRetry
from enrolsync.connectors.model import AccountFields, RoleScope
from enrolsync.connectors.ops import (
    AssignRole,
    CreateUser,
    DeactivateUser,
    DeleteUser,
    Enrol,
    RevokeRole,
    SetSsoIdentity,
    Unenrol,
    UpdateUser,
)
from enrolsync.connectors.testing.fakes import FakeClock


def person(n: int, **changes: str) -> AccountFields:
    base = AccountFields(username=f"person{n}@acme.test", given_name="Pat", family_name=f"Person {n}",
                         email=f"person{n}@acme.test", external_id=f"HR-{n}")  # fmt: skip
    return base.model_copy(update=changes)


async def create(target: CanvasTarget, n: int) -> int:
    [result] = await target.apply([CreateUser(hr_id=f"HR-{n}", fields=person(n))])
    assert result.outcome == "done" and result.ref is not None, result
    return int(result.ref.id)


def course(fake: FakeCanvas, sis_course_id: str = "SAFETY-101") -> int:
    return next(c.id for c in fake.state.courses.values() if c.sis_course_id == sis_course_id)


async def test_a_new_account_has_a_login_with_the_hr_id_and_the_username(
    target: CanvasTarget, fake: FakeCanvas
) -> None:
    user_id = await create(target, 1)

    [login] = fake.state.logins_of(user_id)
    user = fake.state.users[user_id]
    assert (login.unique_id, login.sis_user_id, login.authentication_provider_id) == ("person1@acme.test", "HR-1", None)
    assert (user.name, user.short_name, user.sortable_name, user.email) == (
        "Pat Person 1", "Pat", "Person 1, Pat", "person1@acme.test",
    )  # fmt: skip
    [account] = await target.find_accounts(field="external_id", values=["HR-1"])
    assert account.fields == person(1) and account.active


async def test_an_account_created_for_sso_gets_its_login_on_the_provider(
    target: CanvasTarget, fake: FakeCanvas
) -> None:
    [result] = await target.apply([CreateUser(hr_id="HR-2", fields=person(2, auth="saml2"))])
    assert result.ref is not None
    [login] = fake.state.logins_of(int(result.ref.id))
    assert fake.state.providers[login.authentication_provider_id or 0].auth_type == "saml"


async def test_one_bad_record_fails_alone_with_canvas_words(target: CanvasTarget, fake: FakeCanvas) -> None:
    ops = [
        CreateUser(hr_id="HR-3", fields=person(3)),
        CreateUser(hr_id="HR-4", fields=person(4, username="alex.example")),  # another person's login (E-100)
        CreateUser(hr_id="HR-5", fields=person(5, email="not-an-address")),
        CreateUser(hr_id="HR-6", fields=person(6)),
    ]
    results = await target.apply(ops)

    assert [r.outcome for r in results] == ["done", "failed", "failed", "done"]
    assert results[1].error is not None and "another SIS id" in results[1].error.reason
    assert results[2].error is not None and results[2].error.status == 400
    assert "communication_channel.path: is invalid" in results[2].error.reason
    assert fake.user_by_sis("HR-5") is None and fake.user_by_sis("HR-6") is not None


async def test_a_mover_is_concluded_not_deleted_and_a_return_revives_the_same_enrolment(
    target: CanvasTarget, fake: FakeCanvas
) -> None:
    user_id, safety = await create(target, 7), course(fake)
    [enrolled] = await target.apply([Enrol(hr_id="HR-7", account_id=str(user_id), course_id=str(safety))])
    [first] = [e for e in fake.state.enrollments_in(safety) if e.user_id == user_id]

    [ended] = await target.apply([Unenrol(hr_id="HR-7", account_id=str(user_id), course_id=str(safety))])

    assert (enrolled.outcome, ended.outcome) == ("done", "done")
    assert first.enrollment_state == "completed", "concluded: read-only, grades and submissions kept"
    assert [e async for e in target.list_enrolments(course_ids=[str(safety)]) if e.account_id == str(user_id)] == []
    [back] = await target.apply([Enrol(hr_id="HR-7", account_id=str(user_id), course_id=str(safety))])
    assert back.outcome == "done"
    assert [e.id for e in fake.state.enrollments_in(safety) if e.user_id == user_id] == [first.id]
    assert first.enrollment_state == "active"


async def test_deactivating_instead_of_concluding(config: CanvasConfig, fake: FakeCanvas, clock: FakeClock) -> None:
    config = config.model_copy(update={"unenrol_task": "deactivate"})
    async with build_client(config, transport=fake.transport()) as http:
        target = CanvasTarget(config, http, retry=ReadRetry(attempts=2, clock=clock))
        user_id, safety = await create(target, 8), course(fake)
        await target.apply([Enrol(hr_id="HR-8", account_id=str(user_id), course_id=str(safety))])
        await target.apply([Unenrol(hr_id="HR-8", account_id=str(user_id), course_id=str(safety))])
        [e] = [e for e in fake.state.enrollments_in(safety) if e.user_id == user_id]
        assert e.enrollment_state == "inactive"
        [back] = await target.apply([Enrol(hr_id="HR-8", account_id=str(user_id), course_id=str(safety))])
        assert back.outcome == "done" and e.enrollment_state == "active"
        assert any(r.url.path.endswith(f"/enrollments/{e.id}/reactivate") for r in fake.writes)


async def test_a_leaver_is_suspended_and_keeps_enrolments(target: CanvasTarget, fake: FakeCanvas) -> None:
    user_id, safety = await create(target, 9), course(fake)
    await target.apply([Enrol(hr_id="HR-9", account_id=str(user_id), course_id=str(safety))])

    [result] = await target.apply([DeactivateUser(hr_id="HR-9", account_id=str(user_id))])

    assert result.outcome == "done" and fake.suspended(user_id)
    assert fake.enrollments_of(user_id) == {safety: "StudentEnrollment"}


async def test_a_manager_observes_their_report_in_every_course_and_only_while_linked(
    target: CanvasTarget, fake: FakeCanvas
) -> None:
    boss, report, safety = await create(target, 10), await create(target, 11), course(fake)
    other = next(c for c in fake.state.courses if c != safety)
    await target.apply([Enrol(hr_id="HR-11", account_id=str(report), course_id=str(safety))])
    op = AssignRole(hr_id="HR-10", account_id=str(boss), role="manager", scope=RoleScope.USER, scope_id=str(report))

    [linked] = await target.apply([op])
    await target.apply([Enrol(hr_id="HR-11", account_id=str(report), course_id=str(other))])  # a later course too

    assert linked.outcome == "done"
    assert fake.enrollments_of(boss) == {safety: "ObserverEnrollment", other: "ObserverEnrollment"}
    learners = {(e.account_id, e.course_id) async for e in target.list_enrolments()}
    assert (str(boss), str(safety)) not in learners, "observing is not being enrolled"
    revoke = RevokeRole(hr_id="HR-10", account_id=str(boss), role="manager", scope=RoleScope.USER, scope_id=str(report))
    [unlinked] = await target.apply([revoke])
    assert unlinked.outcome == "done" and fake.enrollments_of(boss) == {}


async def test_course_roles_are_enrolments_of_their_type(target: CanvasTarget, fake: FakeCanvas) -> None:
    user_id, safety = await create(target, 12), course(fake)
    op = AssignRole(hr_id="HR-12", account_id=str(user_id), role="instructor", scope=RoleScope.COURSE,
                    scope_id=str(safety))  # fmt: skip
    [assigned] = await target.apply([op])
    assert assigned.outcome == "done" and fake.enrollments_of(user_id) == {safety: "TeacherEnrollment"}
    held = [r async for r in target.list_role_assignments() if r.account_id == str(user_id)]
    assert [(r.role, r.scope, r.scope_id) for r in held] == [("instructor", RoleScope.COURSE, str(safety))]
    [system] = await target.apply([AssignRole(hr_id="HR-12", account_id=str(user_id), role="admin")])
    assert system.outcome == "failed"


async def test_sso_login_is_repointed_or_added(target: CanvasTarget, fake: FakeCanvas) -> None:
    same, other = await create(target, 13), await create(target, 14)
    ops = [
        SetSsoIdentity(hr_id="HR-13", account_id=str(same), auth="saml2", subject="person13@acme.test"),
        SetSsoIdentity(hr_id="HR-14", account_id=str(other), auth="saml2", subject="p14@idp.acme.test"),
    ]
    assert [r.outcome for r in await target.apply(ops)] == ["done", "done"]

    assert [lg.authentication_provider_id is not None for lg in fake.state.logins_of(same)] == [True]
    assert sorted(lg.unique_id for lg in fake.state.logins_of(other)) == ["p14@idp.acme.test", "person14@acme.test"]
    identities = {(i.account_id, i.auth, i.subject) async for i in target.list_sso_identities()}
    assert {(str(same), "saml2", "person13@acme.test"), (str(other), "saml2", "p14@idp.acme.test")} <= identities
    [account] = await target.find_accounts(field="external_id", values=["HR-14"])
    assert account.fields.username == "person14@acme.test", "the username stays on the SIS login"


async def test_profile_and_login_changes(target: CanvasTarget, fake: FakeCanvas) -> None:
    user_id = await create(target, 15)
    changed = person(15, family_name="Married", username="pat.married@acme.test", email="pat.married@acme.test")
    [first] = await target.apply([UpdateUser(hr_id="HR-15", account_id=str(user_id), fields=changed)])
    [again] = await target.apply([UpdateUser(hr_id="HR-15", account_id=str(user_id), fields=changed)])
    assert (first.outcome, again.outcome) == ("done", "already")
    [account] = await target.find_accounts(field="email", values=["PAT.MARRIED@acme.test"])
    assert account.fields == changed


async def test_throttled_reads_wait_and_concurrency_follows_the_budget(
    config: CanvasConfig, fake: FakeCanvas, clock: FakeClock
) -> None:
    for n in range(30):
        fake.add_user("Many", f"People {n}", f"many{n}", sis_user_id=f"M-{n}")
    config = config.model_copy(update={"max_concurrency": 4})

    async def peak(quota: float, used: float) -> tuple[int, int]:
        fake.throttle(quota, used=used)
        transport = Interleaving(fake)
        async with build_client(config, transport=transport) as http:
            target = CanvasTarget(config, http, retry=ReadRetry(attempts=8, clock=clock))
            listed = [a async for a in target.list_accounts()]
        assert len(listed) == len(fake.state.live_users())
        return transport.peak, target.budget.limit

    assert await peak(100_000, 0) == (4, 4)  # plenty left: four logins read at once
    assert (await peak(700, 600))[0] == 1, "under 200 units left: one request at a time"
    throttled = fake.throttled
    # 20 units for 34 requests: the bucket empties mid-read; the 403s are waited out on the clock (it drains 10
    # units a second), and every account is still listed.
    assert await peak(20, 0) == (1, 1)
    assert fake.throttled > throttled and clock.sleeps


async def test_a_throttled_write_is_retry_and_creates_nothing(target: CanvasTarget, fake: FakeCanvas) -> None:
    fake.fail_next(1, status=403, body=b"403 Forbidden (Rate Limit Exceeded)\n", when=fake.is_write)
    [result] = await target.apply([CreateUser(hr_id="HR-16", fields=person(16))])
    assert result.outcome == "retry" and result.error is not None and "rate limit" in result.error.reason
    assert fake.user_by_sis("HR-16") is None


async def test_a_permission_403_is_not_throttling(target: CanvasTarget, fake: FakeCanvas) -> None:
    body = b'{"status":"unauthorized","errors":[{"message":"user not authorized to perform that action"}]}'
    fake.fail_next(1, status=403, body=body, when=fake.is_write)
    [result] = await target.apply([CreateUser(hr_id="HR-17", fields=person(17))])
    assert result.outcome == "failed" and result.error is not None
    assert "not authorized" in result.error.reason


@pytest.mark.parametrize("elsewhere_url", ["https://evil.example", "http://canvas.example.test"])
async def test_a_next_page_on_another_host_is_not_followed(
    config: CanvasConfig, fake: FakeCanvas, elsewhere_url: str
) -> None:
    def elsewhere(request: httpx.Request) -> httpx.Response:
        response = fake.handler(request)
        link = response.headers.get("Link", "").replace("https://canvas.example.test", elsewhere_url)
        return httpx.Response(
            response.status_code, content=response.content, headers={**response.headers, "Link": link}
        )

    for n in range(12):
        fake.add_user("Paged", f"User {n}", f"paged{n}")
    config = config.model_copy(update={"per_page": 10})
    async with build_client(config, transport=httpx.MockTransport(elsewhere)) as http:
        target = CanvasTarget(config, http, retry=ReadRetry(attempts=1, clock=FakeClock()))
        with pytest.raises(PermanentError, match="another host or scheme"):
            _ = [a async for a in target.list_accounts()]
    assert all(str(r.url).startswith("https://canvas.example.test/") for r in fake.requests)


class Interleaving(httpx.AsyncBaseTransport):
    """Answers from the fake after yielding to the loop a few times, counting requests in flight at once."""

    def __init__(self, fake: FakeCanvas) -> None:
        self._fake = fake
        self.in_flight = 0
        self.peak = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        import asyncio

        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            for _ in range(3):
                await asyncio.sleep(0)
            await request.aread()
            return self._fake.handler(request)
        finally:
            self.in_flight -= 1


async def test_usernames_and_emails_stay_out_of_request_paths(target: CanvasTarget, fake: FakeCanvas) -> None:
    """Request logs record method, host and path (never the query): a login id that is an email address is looked
    up through the user search's query, not a `sis_login_id:` path."""
    user_id = await create(target, 18)
    await target.apply([CreateUser(hr_id="HR-18", fields=person(18))])
    assert [a.account_id for a in await target.find_accounts(field="username", values=["PERSON18@acme.test"])] == [
        str(user_id)
    ]
    assert len(await target.find_accounts(field="email", values=["person18@acme.test"])) == 1

    assert [r.url.path for r in fake.requests if "@" in r.url.path or "acme.test" in r.url.path] == []


async def test_a_custom_course_role_is_given_and_listed_by_its_id(
    config: CanvasConfig, fake: FakeCanvas, clock: FakeClock
) -> None:
    employee = fake.add_role("Employee", "StudentEnrollment")  # Account > Permissions > Course roles
    roles = {**config.course_roles, "learner": str(employee)}
    config = config.model_copy(update={"course_roles": roles})
    async with build_client(config, transport=fake.transport()) as http:
        target = CanvasTarget(config, http, retry=ReadRetry(attempts=2, clock=clock))
        user_id, safety = await create(target, 19), course(fake)
        fake.state.enroll(fake.state.courses[safety], user_id, fake.state.roles[3], "active")  # a plain student too

        [result] = await target.apply([Enrol(hr_id="HR-19", account_id=str(user_id), course_id=str(safety))])

        assert result.outcome == "done"
        held = {(e.role, e.type) for e in fake.state.enrollments_in(safety) if e.user_id == user_id}
        assert held == {("Employee", "StudentEnrollment"), ("StudentEnrollment", "StudentEnrollment")}
        listed = [e async for e in target.list_enrolments(course_ids=[str(safety)]) if e.account_id == str(user_id)]
        assert len(listed) == 1
        [ended] = await target.apply([Unenrol(hr_id="HR-19", account_id=str(user_id), course_id=str(safety))])
        states = {e.role: e.enrollment_state for e in fake.state.enrollments_in(safety) if e.user_id == user_id}
        assert ended.outcome == "done" and states == {"Employee": "completed", "StudentEnrollment": "active"}


async def test_an_hr_id_with_a_slash_is_escaped_in_sis_references(target: CanvasTarget, fake: FakeCanvas) -> None:
    [made] = await target.apply([CreateUser(hr_id="HR/20", fields=person(20, external_id="HR/20"))])
    [again] = await target.apply([CreateUser(hr_id="HR/20", fields=person(20, external_id="HR/20"))])
    assert (made.outcome, again.outcome) == ("done", "already") and made.ref == again.ref
    assert [a.fields.external_id for a in await target.find_accounts(field="external_id", values=["HR/20"])] == [
        "HR/20"
    ]
    assert any(b"sis_user_id:HR%2F20" in r.url.raw_path for r in fake.requests)


async def test_deleting_a_leaver_and_a_rehire_coming_back_with_their_history(
    target: CanvasTarget, fake: FakeCanvas
) -> None:
    user_id = await create(target, 21)
    [gone] = await target.apply([DeleteUser(hr_id="HR-21", account_id=str(user_id))])
    [again] = await target.apply([DeleteUser(hr_id="HR-21", account_id=str(user_id))])

    assert (gone.outcome, again.outcome) == ("done", "already")
    assert str(user_id) not in {a.account_id async for a in target.list_accounts()}
    assert await target.find_accounts(field="external_id", values=["HR-21"]) == []
    [back] = await target.apply([CreateUser(hr_id="HR-21", fields=person(21))])
    assert back.outcome == "done" and back.ref is not None
    assert back.ref.id == str(user_id), "Canvas reactivates the deleted user with that SIS id (enable_sis_reactivation)"


async def test_check_names_the_account_and_sso_names_without_a_provider(target: CanvasTarget) -> None:
    result = await target.check()
    assert result.ok and result.facts["account"] == "Acme Learning"
    assert result.facts["authentication_providers"] == ["canvas", "saml"]
    assert "saml2" not in result.facts["sso_names_without_provider"]
    assert "oidc" in result.facts["sso_names_without_provider"]


async def test_started_enrolments_are_concluded_only_when_configured(
    config: CanvasConfig, fake: FakeCanvas, clock: FakeClock
) -> None:
    safety = course(fake)
    for conclude_started, state in ((False, "active"), (True, "completed")):
        configured = config.model_copy(update={"conclude_started": conclude_started})
        async with build_client(configured, transport=fake.transport()) as http:
            target = CanvasTarget(configured, http, retry=ReadRetry(attempts=2, clock=clock))
            n = 22 + conclude_started
            user_id = await create(target, n)
            await target.apply([Enrol(hr_id=f"HR-{n}", account_id=str(user_id), course_id=str(safety))])
            [e] = [e for e in fake.state.enrollments_in(safety) if e.user_id == user_id]
            e.last_activity_at = "2026-11-30T09:15:00Z"
            [result] = await target.apply([Unenrol(hr_id=f"HR-{n}", account_id=str(user_id), course_id=str(safety))])
            assert (result.outcome, e.enrollment_state) == ("already" if state == "active" else "done", state)
