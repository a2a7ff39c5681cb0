"""The Moodle target handles what a real site does differently from the old fake (issue 11), on every release."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from enrolsync.connectors.errors import AuthError
from enrolsync.connectors.kit.client import build_client
from enrolsync.connectors.model import RoleScope
from enrolsync.connectors.moodle import MoodleTarget
from enrolsync.connectors.moodle.completion import Completion
from enrolsync.connectors.moodle.config import MoodleConfig
from enrolsync.connectors.moodle.fake.server import WRITE_FUNCTIONS, FakeMoodle
from enrolsync.connectors.moodle.fake.versions import CORE_AUTHS, VERSIONS
from enrolsync.connectors.ops import AssignRole, DeactivateUser, Enrol, Op, RevokeRole, SetSsoIdentity, Unenrol
from enrolsync.connectors.testing.fakes import FakeClock
from tests.support.connectors import MOODLE_TOKEN, collect
from tests.support.moodle import creates, person


@pytest.fixture(params=sorted(VERSIONS))
def fake(request: pytest.FixtureRequest) -> FakeMoodle:
    return FakeMoodle.seeded(token=MOODLE_TOKEN, version=request.param)


def without_saml2(fake: FakeMoodle) -> None:
    fake.options.auths = CORE_AUTHS  # the site never had auth_saml2 (nor auth_oidc) installed


def unchanged(fake: FakeMoodle) -> list[str]:
    """The write functions that took effect: a probe of user id 0 changes nothing and is not counted."""
    return [
        name
        for name, params in fake.calls
        if name in WRITE_FUNCTIONS and (name != "core_user_update_users" or any(u["id"] for u in params["users"]))
    ]


def delete(fake: FakeMoodle, user_id: int) -> None:
    user = fake.state.users[user_id]
    user.username, user.email, user.idnumber = f"{user.email}.1717000000", "0" * 32, ""
    user.deleted = (
        True  # as core_user_delete_users leaves it (the fake's own function is tested in test_fake_real_site)
    )
    for course_id in fake.courses_of(user_id):
        del fake.state.enrolments[(user_id, course_id)]
    fake.state.assignments.difference_update(fake.state.assignments.of_user(user_id))


# -- 1. an auth plugin the site lacks ----------------------------------------------------------------------------
async def test_a_create_naming_an_absent_auth_plugin_fails_that_person_only(
    target: MoodleTarget, fake: FakeMoodle
) -> None:
    without_saml2(fake)
    results = await target.apply(creates(person(1), person(2, auth="saml2"), person(3)))
    assert [r.outcome for r in results] == ["done", "failed", "done"]
    error = results[1].error
    assert error is not None and "'saml2'" in error.reason and error.code == "invalidparameter"
    assert fake.user("new.starter1") and fake.user("new.starter3") and fake.user("new.starter2") is None
    [create] = fake.called("core_user_create_users")
    assert [u["username"] for u in create["users"]] == ["new.starter1", "new.starter3"], "one call, no bisection"


async def test_an_sso_change_to_an_absent_plugin_fails_alone_and_writes_nothing(
    target: MoodleTarget, fake: FakeMoodle
) -> None:
    without_saml2(fake)
    ops: list[Op] = [
        SetSsoIdentity(hr_id="E1001", account_id="3", auth="saml2", subject="alex.example@example.com"),
        SetSsoIdentity(hr_id="K", account_id="5", auth="oidc", subject="kim.placeholder@example.com"),
        DeactivateUser(hr_id="E1002", account_id="4"),
    ]
    results = await target.apply(ops)
    assert [r.outcome for r in results] == ["failed", "failed", "done"]
    assert fake.user("alex.example").auth == "manual"  # type: ignore[union-attr]
    assert unchanged(fake) == ["core_user_update_users"]  # only the deactivation


async def test_check_names_an_absent_auth_plugin_before_anything_is_written(
    fake: FakeMoodle, config: MoodleConfig
) -> None:
    without_saml2(fake)
    sso = config.model_copy(update={"auth_plugins": ("saml2", "shibboleth")})
    async with build_client(sso, transport=fake.transport()) as http:
        result = await MoodleTarget(sso, http).check()
    assert not result.ok and "auth plugins not installed on the site" in result.detail and "saml2" in result.detail
    assert result.facts["absent_auth_plugins"] == ["saml2"]
    assert unchanged(fake) == [] and fake.called("core_user_create_users") == []
    fake.options.auths = CORE_AUTHS | {"saml2"}
    async with build_client(sso, transport=fake.transport()) as http:
        assert (await MoodleTarget(sso, http).check()).ok


# -- 2. a deleted account is gone ----------------------------------------------------------------------------------
async def test_a_deleted_account_is_never_treated_as_live(target: MoodleTarget, fake: FakeMoodle) -> None:
    delete(fake, 3)
    ops: list[Op] = [
        DeactivateUser(hr_id="E1001", account_id="3"),
        Enrol(hr_id="E1001", account_id="3", course_id="3"),
        AssignRole(hr_id="E1001", account_id="3", role="instructor", scope=RoleScope.COURSE, scope_id="3"),
        AssignRole(hr_id="E1002", account_id="4", role="manager", scope=RoleScope.USER, scope_id="3"),
        Unenrol(hr_id="E1001", account_id="3", course_id="2"),
        RevokeRole(hr_id="E1002", account_id="4", role="manager", scope=RoleScope.USER, scope_id="3"),
    ]
    results = await target.apply(ops)
    assert [(r.outcome, r.error.code if r.error else None) for r in results] == [
        ("failed", "userdeleted"),
        ("failed", "userdeleted"),
        ("failed", "userdeleted"),
        ("failed", "userdeleted"),
        ("already", None),
        ("already", None),
    ]
    assert fake.writes == [], "nothing was sent for the deleted account"
    assert "3" not in {a.account_id for a in await collect(target.list_accounts())}
    assert await target.find_accounts(field="external_id", values=["E1001"]) == []


async def test_a_new_account_may_take_a_deleted_ones_username(target: MoodleTarget, fake: FakeMoodle) -> None:
    delete(fake, 3)
    fields = person(0, username="alex.example", email="alex.example@example.com", external_id="E1001")
    [result] = await target.apply(creates(fields))
    assert result.outcome == "done" and result.ref is not None and result.ref.id != "3"


# -- 3. usernames ------------------------------------------------------------------------------------------------
async def test_matching_by_username_does_not_depend_on_case(target: MoodleTarget) -> None:
    [sam] = await target.find_accounts(field="username", values=["Sam.SAMPLE"])
    [again] = await target.apply(creates(person(7, username="SAM.Sample", external_id="E1002")))
    assert (sam.account_id, again.outcome, again.ref.id if again.ref else None) == ("4", "already", "4")


# -- 4. missing and special users, per release ---------------------------------------------------------------------
async def test_enrolling_a_missing_account_fails_alike_on_every_release(target: MoodleTarget, fake: FakeMoodle) -> None:
    results = await target.apply(
        [Enrol(hr_id="X", account_id="999", course_id="3"), Enrol(hr_id="K", account_id="5", course_id="3")]
    )
    assert [(r.outcome, r.error.code if r.error else None) for r in results] == [
        ("failed", "invaliduserid"),
        ("done", None),
    ]


async def test_the_guest_account_is_never_enrolled(target: MoodleTarget, fake: FakeMoodle) -> None:
    """4.5 refuses it (guestsarenotallowed) and 4.3 would enrol it: the connector refuses on every release."""
    [result] = await target.apply([Enrol(hr_id="G", account_id="1", course_id="3")])
    assert (result.outcome, result.error.code if result.error else None) == ("failed", "guestsarenotallowed")
    assert fake.courses_of(1) == set()


# -- 5. course roles of people not enrolled -----------------------------------------------------------------------
async def test_a_course_role_for_someone_not_enrolled_re_runs_with_zero_writes(
    target: MoodleTarget, fake: FakeMoodle
) -> None:
    teach = AssignRole(hr_id="K", account_id="5", role="instructor", scope=RoleScope.COURSE, scope_id="3")
    assert [r.outcome for r in await target.apply([teach])] == ["done"]
    assert ("editingteacher", "course", 3) in fake.roles_of(5) and fake.courses_of(5) == {3}
    writes = len(fake.writes)
    assert [r.outcome for r in await target.apply([teach])] == ["already"]
    assert len(fake.writes) == writes, "a no-op re-sync makes zero writes"
    held = {(r.account_id, r.role, r.scope_id) for r in await collect(target.list_role_assignments())}
    assert ("5", "instructor", "3") in held
    enrolled = {(e.account_id, e.course_id) for e in await collect(target.list_enrolments())}
    assert ("5", "3") not in enrolled, "a teacher's place is not a learning enrolment"


async def test_enrolling_a_teacher_adds_the_learner_role_and_unenrolling_keeps_the_teacher(
    target: MoodleTarget, fake: FakeMoodle
) -> None:
    enrol, unenrol = (
        Enrol(hr_id="E1002", account_id="4", course_id="2"),
        Unenrol(hr_id="E1002", account_id="4", course_id="2"),
    )
    assert [r.outcome for r in await target.apply([enrol])] == ["done"]  # Sam teaches course 2
    assert {("editingteacher", "course", 2), ("student", "course", 2)} <= fake.roles_of(4)
    assert [r.outcome for r in await target.apply([enrol])] == ["already"]
    assert [r.outcome for r in await target.apply([unenrol])] == ["done"]
    assert fake.roles_of(4) == {("editingteacher", "course", 2)} and fake.courses_of(4) == {2}


# -- 6. functions and capabilities the token lacks ---------------------------------------------------------------
async def test_check_names_missing_functions_by_feature_and_missing_capabilities(
    target: MoodleTarget, fake: FakeMoodle
) -> None:
    fake.service_functions -= {"enrol_manual_unenrol_users"}
    fake.capabilities = {"moodle/user:update"}  # a least-privilege user that may not create accounts
    result = await target.check()
    assert not result.ok
    assert "the token's service lacks: enrol_manual_unenrol_users" in result.detail
    assert "moodle/user:create" in result.detail
    assert result.facts["missing_functions"] == {"enrolments": ["enrol_manual_unenrol_users"]}
    assert result.facts["missing_capabilities"] == ["moodle/user:create"]
    assert unchanged(fake) == [] and fake.user("admin") is not None


async def test_a_call_outside_the_service_raises_an_auth_error(target: MoodleTarget, fake: FakeMoodle) -> None:
    fake.service_functions -= {"enrol_manual_enrol_users"}
    with pytest.raises(AuthError):
        await target.apply([Enrol(hr_id="K", account_id="5", course_id="3")])


# -- course completion read-back ---------------------------------------------------------------------------------
async def test_course_completion_is_read_back_and_untracked_courses_say_so(
    target: MoodleTarget, fake: FakeMoodle
) -> None:
    assert await target.read_completion("3", "2") == Completion(tracked=True)
    fake.complete(3, 2, at=1_717_100_000)
    done = await target.read_completion("3", "2")
    assert done.completed and done.completed_at == datetime(2024, 5, 30, 20, 13, 20, tzinfo=UTC)
    assert await target.read_completion("4", "2") == Completion(tracked=False)  # Sam teaches it
    fake.state.courses[2].completion = False
    assert await target.read_completion("3", "2") == Completion(tracked=False)
    assert fake.writes == []


async def test_asking_about_a_plugin_is_retried_like_a_read(
    target: MoodleTarget, fake: FakeMoodle, clock: FakeClock
) -> None:
    fake.fail_next(1, status=503, retry_after=2, when=lambda r: b"users%5B0%5D%5Bid%5D=0" in r.content)
    [result] = await target.apply(creates(person(1, auth="saml2")))
    assert result.outcome == "done" and 2 in clock.sleeps


async def test_a_role_intent_whose_answer_was_lost_is_harmless_and_settled_by_the_retry(
    target: MoodleTarget, fake: FakeMoodle
) -> None:
    fake.lose_response_next(1, when=lambda r: b"customfields" in r.content)  # the intent lands, its answer is lost
    assign = AssignRole(hr_id="E1002", account_id="4", role="manager", scope=RoleScope.USER, scope_id="3")
    [result] = await target.apply([assign])
    assert result.outcome == "retry", result
    assert fake.called("core_role_assign_roles") == []  # nothing is changed while the intent is not known to be saved
    assert fake.user("alex.example").custom["enrolsyncroles"] == "pending:parent@4"  # type: ignore[union-attr]
    [again] = await target.apply([assign])
    assert again.outcome == "done", again
    assert fake.user("alex.example").custom["enrolsyncroles"] == "parent@4"  # type: ignore[union-attr]
