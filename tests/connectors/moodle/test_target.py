"""The Moodle target against the fake site: accounts, errors, check and listings."""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr

from enrolsync.connectors.errors import AuthError, Invalid, NotFound, PermanentError, TransientError
from enrolsync.connectors.kit.client import build_client
from enrolsync.connectors.moodle import MoodleTarget
from enrolsync.connectors.moodle.client import encode
from enrolsync.connectors.moodle.config import MoodleConfig
from enrolsync.connectors.moodle.errors import classify, error_code
from enrolsync.connectors.moodle.fake.server import PAYLOADS, FakeMoodle
from enrolsync.connectors.ops import DeactivateUser, Enrol, Op, ReactivateUser, SetSsoIdentity, UpdateUser
from enrolsync.connectors.testing.fakes import FakeClock
from tests.support.connectors import MOODLE_TOKEN as TOKEN
from tests.support.connectors import collect
from tests.support.moodle import creates, person


async def test_a_bad_record_fails_alone_and_the_rest_of_the_batch_is_created(
    target: MoodleTarget, fake: FakeMoodle
) -> None:
    taken = person(2, email="ALEX.example@example.com")  # Moodle compares emails case-blind on create
    results = await target.apply(creates(person(1), taken, person(3), person(4)))
    assert [r.outcome for r in results] == ["done", "failed", "done", "done"]
    failed = results[1].error
    assert failed is not None and failed.code == "invalidparameter"
    assert "alex" not in failed.reason.lower() and "new.starter" not in failed.reason
    assert all(fake.user(f"new.starter{n}") for n in (1, 3, 4)) and fake.user("new.starter2") is None
    created = {fake.user(f"new.starter{n}").id for n in (1, 3, 4)}  # type: ignore[union-attr]
    assert {int(r.ref.id) for r in results if r.ref} == created
    assert fake.user("new.starter1").password_mailed  # type: ignore[union-attr]


async def test_with_debugging_on_the_reason_names_the_cause(target: MoodleTarget, fake: FakeMoodle) -> None:
    fake.debugging = True
    [result] = await target.apply(creates(person(5, username="alex.example", external_id="H5")))
    # The username belongs to an account with another idnumber: reported, never guessed as the same person.
    assert result.outcome == "failed"
    [result] = await target.apply(creates(person(6, email="sam.sample@example.com")))
    assert result.error is not None and result.error.reason == "email address already exists"


async def test_re_applying_creates_gives_already_and_writes_nothing(target: MoodleTarget, fake: FakeMoodle) -> None:
    batch = creates(person(1), person(2))
    first = await target.apply(batch)
    users, writes = len(fake.state.users), len(fake.writes)
    second = await target.apply(batch)
    assert [r.outcome for r in second] == ["already", "already"]
    assert [r.ref for r in second] == [r.ref for r in first]
    assert (len(fake.state.users), len(fake.writes)) == (users, writes)


async def test_an_existing_lms_account_is_matched_by_username_or_idnumber(target: MoodleTarget) -> None:
    kim = person(9, username="KIM.placeholder", external_id="H9")  # Kim has no idnumber yet
    alex = person(8, username="alex.renamed", external_id="E1001")
    results = await target.apply(creates(kim, alex))
    assert [(r.outcome, r.ref.id if r.ref else None) for r in results] == [("already", "5"), ("already", "3")]


async def test_update_suspend_and_reactivate(target: MoodleTarget, fake: FakeMoodle) -> None:
    alex = fake.user("alex.example")
    assert alex is not None
    moved = person(
        0,
        username="alex.example",
        given_name="Alex",
        family_name="Example",
        external_id="E1001",
        email="alex.example@example.com",
        department="Finance",
    )
    ops: list[Op] = [
        UpdateUser(hr_id="E1001", account_id="3", fields=moved),
        DeactivateUser(hr_id="E1001", account_id="3"),
    ]
    assert [r.outcome for r in await target.apply(ops)] == ["done", "done"]
    assert (alex.department, alex.city, alex.suspended) == ("Finance", "", True)
    assert [r.outcome for r in await target.apply(ops)] == ["already", "already"]
    [back] = await target.apply([ReactivateUser(hr_id="E1001", account_id="3")])
    assert back.outcome == "done" and not alex.suspended


async def test_update_warnings_fail_only_their_user(target: MoodleTarget, fake: FakeMoodle) -> None:
    clash = person(
        0,
        username="sam.sample",
        given_name="Sam",
        family_name="Sample",
        external_id="E1002",
        email="alex.example@example.com",
    )
    kim = person(
        0, username="kim.placeholder", given_name="Kim", family_name="Renamed", email="kim.placeholder@example.com"
    )
    results = await target.apply(
        [UpdateUser(hr_id="E1002", account_id="4", fields=clash), UpdateUser(hr_id="K", account_id="5", fields=kim)]
    )
    assert [r.outcome for r in results] == ["failed", "done"]
    assert results[0].error is not None and results[0].error.code == "useremailduplicate"
    assert fake.user("kim.placeholder").lastname == "Renamed"  # type: ignore[union-attr]


async def test_sites_before_4_0_answer_update_with_null(target: MoodleTarget, fake: FakeMoodle) -> None:
    fake.options.legacy_update = True
    [result] = await target.apply([DeactivateUser(hr_id="E1002", account_id="4")])
    assert result.outcome == "done" and fake.user("sam.sample").suspended  # type: ignore[union-attr]


async def test_unknown_account_fails_without_a_write(target: MoodleTarget, fake: FakeMoodle) -> None:
    results = await target.apply(
        [DeactivateUser(hr_id="X", account_id="999"), DeactivateUser(hr_id="Y", account_id="x")]
    )
    assert [r.outcome for r in results] == ["failed", "failed"] and fake.writes == []


async def test_sso_sets_auth_and_the_subject_field(fake: FakeMoodle, config: MoodleConfig) -> None:
    by_username = config.model_copy(update={"sso_subject_field": "username"})
    async with build_client(by_username, transport=fake.transport()) as http:
        target = MoodleTarget(by_username, http)
        [result] = await target.apply([SetSsoIdentity(hr_id="E1001", account_id="3", auth="oidc", subject="AE@corp")])
        identities = {(i.account_id, i.auth, i.subject) for i in await collect(target.list_sso_identities())}
    assert result.outcome == "done"
    alex = fake.user("ae@corp")
    assert alex is not None and alex.auth == "oidc"
    assert identities == {("3", "oidc", "ae@corp"), ("4", "saml2", "sam.sample")}


async def test_a_503_on_apply_raises_transient_and_creates_nothing(target: MoodleTarget, fake: FakeMoodle) -> None:
    fake.fail_next(1, status=503, retry_after=30, when=fake.is_write)
    with pytest.raises(TransientError) as caught:
        await target.apply(creates(person(1)))
    assert caught.value.retry_after == 30 and fake.user("new.starter1") is None


async def test_a_transient_failure_after_an_effect_returns_retry_for_the_rest(
    target: MoodleTarget, fake: FakeMoodle
) -> None:
    fake.timeout_next(1, when=lambda r: b"enrol_manual_enrol_users" in r.content)
    results = await target.apply([*creates(person(1)), Enrol(hr_id="E1001", account_id="3", course_id="3")])
    assert [r.outcome for r in results] == ["done", "retry"]


async def test_bad_token_raises_auth_error_and_check_reports_it(fake: FakeMoodle, config: MoodleConfig) -> None:
    wrong = config.model_copy(update={"token": SecretStr("not-the-token")})
    async with build_client(wrong, transport=fake.transport()) as http:
        target = MoodleTarget(wrong, http)
        with pytest.raises(AuthError) as caught:
            await target.find_accounts(field="email", values=["a@example.com"])
        result = await target.check()
    assert error_code(caught.value) == "invalidtoken"
    assert not result.ok and "invalid token" in result.detail


async def test_check_names_missing_functions_and_role_conflicts(target: MoodleTarget, fake: FakeMoodle) -> None:
    assert (await target.check()).ok
    fake.service_functions -= {"core_role_assign_roles", "enrol_manual_enrol_users"}
    result = await target.check()
    assert not result.ok and result.detail.endswith("core_role_assign_roles, enrol_manual_enrol_users")
    fake.service_functions |= {"core_role_assign_roles", "enrol_manual_enrol_users"}
    fake.state.roles[5].shortname, fake.state.roles[4].shortname = "teacher", "student"  # ids swapped on this site
    result = await target.check()
    assert not result.ok and "role_ids contradict Moodle" in result.detail


async def test_check_names_the_progress_functions_a_token_lacks(target: MoodleTarget, fake: FakeMoodle) -> None:
    fake.service_functions.discard("core_completion_get_course_completion_status")

    result = await target.check()

    # Progress is read on every full run and on the pipeline's progress schedule: the check says so up front.
    assert not result.ok and "core_completion_get_course_completion_status" in result.detail
    assert result.facts["missing_functions"] == {"progress": ["core_completion_get_course_completion_status"]}


@pytest.mark.parametrize(
    ("payload", "kind", "code"),
    [
        ("invalidtoken", AuthError, "invalidtoken"),
        ("accessexception", AuthError, "accessexception"),
        ("invalidparameter", Invalid, "invalidparameter"),
        ("wsnoinstance", Invalid, "wsnoinstance"),
        ("invalidrecord", NotFound, "invalidrecord"),
        ("userdeleted", NotFound, "userdeleted"),  # 4.5+, namespaced exception class
        ("guestsarenotallowed", Invalid, "guestsarenotallowed"),
        ("nopermissions", AuthError, "nopermissions"),
    ],
)
def test_errors_in_200_answers_map_to_the_taxonomy(payload: str, kind: type[Exception], code: str) -> None:
    body = (PAYLOADS / "errors" / f"{payload}.json").read_bytes()
    error = classify(httpx.Response(200, content=body))
    assert isinstance(error, kind) and error_code(error) == code
    assert "someone@example.com" not in str(error)  # debuginfo names people: it never reaches a reason


def test_other_answers_map_too() -> None:
    assert classify(httpx.Response(200, content=b"null")) is None
    assert isinstance(classify(httpx.Response(200, content=b"<?xml version='1.0'?><RESPONSE/>")), PermanentError)
    assert isinstance(classify(httpx.Response(200, content=b'{"truncated": ')), TransientError)
    assert isinstance(classify(httpx.Response(429, headers={"Retry-After": "3"})), TransientError)
    maintenance = {"exception": "moodle_exception", "errorcode": "sitemaintenance", "message": "Site maintenance"}
    assert isinstance(classify(httpx.Response(200, json=maintenance)), TransientError)


def test_nested_arrays_use_php_bracket_notation() -> None:
    pairs = encode({"users": [{"username": "a", "suspended": True, "customfields": [{"type": "t", "value": "v"}]}]})
    assert pairs == [
        ("users[0][username]", "a"),
        ("users[0][suspended]", "1"),
        ("users[0][customfields][0][type]", "t"),
        ("users[0][customfields][0][value]", "v"),
    ]


async def test_the_fake_reads_the_brackets_back(target: MoodleTarget, fake: FakeMoodle) -> None:
    await target.apply(creates(person(1, job_title="Analyst")))
    [call] = fake.called("core_user_create_users")
    assert call["users"][0]["customfields"] == [{"type": "jobtitle", "value": "Analyst"}]
    assert fake.user("new.starter1").custom == {"jobtitle": "Analyst"}  # type: ignore[union-attr]


def test_without_json_format_moodle_answers_xml(fake: FakeMoodle) -> None:
    form = f"wstoken={TOKEN}&wsfunction=core_webservice_get_site_info"
    request = httpx.Request("POST", "https://moodle.example.test/webservice/rest/server.php", content=form.encode())
    response = fake.handler(request)
    assert response.headers["Content-Type"] == "application/xml" and b'<KEY name="sitename">' in response.content
    bad = httpx.Request("POST", request.url, content=b"wstoken=nope&wsfunction=core_webservice_get_site_info")
    assert b"<ERRORCODE>invalidtoken</ERRORCODE>" in fake.handler(bad).content


async def test_lists_equal_the_sites_state(target: MoodleTarget, fake: FakeMoodle) -> None:
    accounts = {a.account_id: a for a in await collect(target.list_accounts())}
    assert set(accounts) == {str(u.id) for u in fake.state.users.values() if u.username != "guest"}
    assert accounts["5"].active is False and accounts["4"].fields.job_title == "Trainer"
    enrolments = {(e.account_id, e.course_id, e.started) for e in await collect(target.list_enrolments())}
    assert enrolments == {("3", "2", True)}  # Sam is in course 2 as its teacher: a role, not an enrolment
    roles = {(r.account_id, r.role, r.scope.value, r.scope_id) for r in await collect(target.list_role_assignments())}
    assert roles == {("4", "instructor", "course", "2")}  # Alex's student role is the enrolment itself


async def test_find_accounts_tries_emails_lower_cased_and_cleans_usernames(target: MoodleTarget) -> None:
    by_email = await target.find_accounts(field="email", values=["Alex.Example@Example.com"])
    by_username = await target.find_accounts(field="username", values=["SAM.Sample", "not valid"])
    by_external = await target.find_accounts(field="external_id", values=["E1002", "nobody"])
    assert [a.account_id for a in (*by_email, *by_username, *by_external)] == ["3", "4", "4"]
    with pytest.raises(Invalid):
        await target.find_accounts(field="phone", values=["1"])


async def test_reads_are_retried_and_honour_retry_after(
    target: MoodleTarget, fake: FakeMoodle, clock: FakeClock
) -> None:
    fake.fail_next(1, status=502)
    fake.fail_next(1, status=429, retry_after=4)
    assert len(await collect(target.list_accounts())) == 4
    assert 4 in clock.sleeps
    assert all(TOKEN not in str(r.url) for r in fake.requests)  # the token travels in the body only
