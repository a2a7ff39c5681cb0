"""How many requests the Moodle target sends per batch and per full read (issue 19), counted on the fake; and the
cheaper wire mechanics (form body, list answers) answering exactly as the general ones do."""

from __future__ import annotations

from urllib.parse import urlencode

import httpx
import pytest

from enrolsync.connectors.errors import PermanentError, TransientError
from enrolsync.connectors.kit.client import build_client
from enrolsync.connectors.kit.retry import ReadRetry
from enrolsync.connectors.model import RoleScope
from enrolsync.connectors.moodle import MoodleTarget
from enrolsync.connectors.moodle.client import encode, form
from enrolsync.connectors.moodle.config import MoodleConfig
from enrolsync.connectors.moodle.fake.server import FakeMoodle
from enrolsync.connectors.moodle.users import UPDATE_CHUNK
from enrolsync.connectors.ops import AssignRole, Enrol, OpKind, RevokeRole, SetSsoIdentity
from enrolsync.connectors.testing.fakes import FakeClock
from tests.support.connectors import MIRROR_FIELD, collect
from tests.support.moodle import creates, person


def functions(fake: FakeMoodle, since: int = 0) -> list[str]:
    return [name for name, _ in fake.calls[since:]]


def over(manager: str, report: str) -> AssignRole:
    return AssignRole(hr_id=manager, account_id=manager, role="manager", scope=RoleScope.USER, scope_id=report)


async def test_a_role_batch_reads_accounts_and_records_once_then_intends_assigns_and_settles(
    target: MoodleTarget, fake: FakeMoodle
) -> None:
    reports = [fake.add_user(f"report{n}", "R", f"Report {n}", f"report{n}@example.com") for n in range(3)]
    before = len(fake.calls)

    results = await target.apply([over("4", str(r)) for r in reports])

    assert [r.outcome for r in results] == ["done"] * 3
    assert functions(fake, before) == [
        "core_user_get_users_by_field",  # liveness of managers and reports, and the reports' records, at once
        "core_user_update_users",  # the intent
        "core_role_assign_roles",
        "core_user_update_users",  # settled
    ]
    [read] = fake.called("core_user_get_users_by_field")[-1:]
    assert sorted(read["values"], key=int) == ["4", *(str(r) for r in reports)]
    assert all(fake.state.users[r].custom[MIRROR_FIELD] == "parent@4" for r in reports)


async def test_the_one_read_still_refuses_a_deleted_report_and_reads_a_revocations_record(
    target: MoodleTarget, fake: FakeMoodle
) -> None:
    gone = fake.add_user("gone", "G", "Gone", "gone@example.com")
    kept = fake.add_user("kept", "K", "Kept", "kept@example.com")
    await target.apply([over("4", str(kept))])
    fake.delete(gone)
    before = len(fake.calls)
    revoke = RevokeRole(hr_id="4", account_id="4", role="manager", scope=RoleScope.USER, scope_id=str(kept))

    results = await target.apply([over("4", str(gone)), revoke])

    assert [r.outcome for r in results] == ["failed", "done"]
    assert results[0].error is not None and results[0].error.code == "userdeleted"
    assert functions(fake, before).count("core_user_get_users_by_field") == 1
    assert fake.state.users[kept].custom[MIRROR_FIELD] == "" and ("parent", "user", kept) not in fake.roles_of(4)


async def test_accounts_just_created_are_enrolled_without_asking_whether_they_live(
    target: MoodleTarget, fake: FakeMoodle
) -> None:
    created = await target.apply(creates(person(1), person(2)))
    ids = [r.ref.id for r in created if r.ref]
    before = len(fake.calls)

    results = await target.apply([Enrol(hr_id="H", account_id=i, course_id="3") for n, i in enumerate(ids)])

    assert [r.outcome for r in results] == ["done", "done"]
    assert "core_user_get_users_by_field" not in functions(fake, before)
    # An account this target did not create is still asked about first.
    before = len(fake.calls)
    assert [r.outcome for r in await target.apply([Enrol(hr_id="K", account_id="5", course_id="3")])] == ["done"]
    assert functions(fake, before).count("core_user_get_users_by_field") == 1


async def test_a_create_batch_looks_its_keys_up_once_and_creates_in_calls_of_the_configured_size(
    target: MoodleTarget, fake: FakeMoodle
) -> None:
    limit = MoodleTarget.info.batch_limits[OpKind.CREATE_USER]
    before = len(fake.calls)

    results = await target.apply(creates(*(person(n) for n in range(limit))))

    assert [r.outcome for r in results] == ["done"] * limit
    calls = functions(fake, before)
    assert calls.count("core_user_get_users_by_field") == 2  # ID numbers, usernames
    assert calls.count("core_user_create_users") == -(-limit // target.config.create_batch_size) > 1


async def test_a_full_runs_role_read_reuses_the_records_read_with_the_accounts(
    target: MoodleTarget, fake: FakeMoodle
) -> None:
    report = fake.add_user("report", "R", "Report", "report@example.com")
    await target.apply([over("4", str(report))])
    fake.state.users[3].custom[MIRROR_FIELD] = "pending:manager"  # a system role that may be held
    ids = ["3", "4", "5", str(report)]
    before = len(fake.calls)

    accounts = [r.account.account_id async for r in target.read_accounts(ids)]
    roles = await collect(target.list_roles_of(accounts, course_ids=[]))

    assert functions(fake, before) == ["core_user_get_users_by_field"]
    listed = {(r.account_id, r.role, r.scope, r.scope_id, r.confirmed) for r in roles}
    assert listed == {
        ("4", "manager", RoleScope.USER, str(report), True),
        ("3", "manager", RoleScope.SYSTEM, None, False),
    }
    # Read once: asked again, or after a write, the records are read afresh.
    again = await collect(target.list_roles_of(accounts, course_ids=[]))
    assert {(r.account_id, r.confirmed) for r in again} == {("4", True), ("3", False)}
    assert functions(fake, before).count("core_user_get_users_by_field") == 2


async def test_records_read_with_the_accounts_are_not_used_after_a_write(
    target: MoodleTarget, fake: FakeMoodle
) -> None:
    report = fake.add_user("report", "R", "Report", "report@example.com")
    accounts = [r.account.account_id async for r in target.read_accounts(["4", str(report)])]

    await target.apply([over("4", str(report))])
    roles = await collect(target.list_roles_of(accounts, course_ids=[]))

    assert {(r.account_id, r.scope_id) for r in roles} == {("4", str(report))}


PAYLOAD = {
    "users": [
        {
            "username": "zoë o'brien",
            "firstname": "A & B",
            "email": "a+b@example.com",
            "createpassword": True,
            "suspended": False,
            "department": None,
            "customfields": [{"type": "jobtitle", "value": "Head of ~stuff/ [x] 100%"}],
        }
    ],
    "values": ("1", 2, 3.5),
    "empty": "",
    "a key/with [brackets]": ["tab\there\nnew line", "\x7f", True, [0, "ß"]],
}


def test_the_form_body_is_what_urlencode_makes_of_the_bracket_pairs() -> None:
    assert form(PAYLOAD) == urlencode(encode(PAYLOAD))


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b'[{"id": 3, "username": "x"', TransientError),  # cut short
        (b'[{"username": "no id"}]', PermanentError),  # another shape
        (b'{"exception": "moodle_exception", "errorcode": "sitemaintenance", "message": "m"}', TransientError),
    ],
)
async def test_a_list_answer_that_is_not_one_raises_what_the_general_path_does(
    config: MoodleConfig, body: bytes, error: type[Exception]
) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=body))
    async with build_client(config, transport=transport) as http:
        target = MoodleTarget(config, http, retry=ReadRetry(attempts=1, clock=FakeClock()))
        with pytest.raises(error):
            await collect(target.read_accounts(["3"]))


async def test_an_update_batch_reads_its_accounts_once_and_updates_in_calls_of_fifty(
    target: MoodleTarget, fake: FakeMoodle
) -> None:
    limit = MoodleTarget.info.batch_limits[OpKind.SET_SSO_IDENTITY]
    assert limit > UPDATE_CHUNK, "a batch spans several update calls, with one read"
    ids = [fake.add_user(f"sso{n}", "S", f"Sso {n}", f"sso{n}@example.com") for n in range(limit)]
    before = len(fake.calls)

    results = await target.apply(
        [
            SetSsoIdentity(hr_id=str(i), account_id=str(i), auth="saml2", subject=f"sso{n}@example.com")
            for n, i in enumerate(ids)
        ]
    )

    assert [r.outcome for r in results] == ["done"] * limit
    calls = functions(fake, before)
    assert calls.count("core_user_get_users_by_field") == 1
    assert [len(c["users"]) for c in fake.called("core_user_update_users") if c["users"][0]["id"]] == [
        UPDATE_CHUNK
    ] * -(-limit // UPDATE_CHUNK)
    assert all(fake.state.users[i].auth == "saml2" for i in ids)
