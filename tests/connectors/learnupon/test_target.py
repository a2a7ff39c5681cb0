"""LearnUpon target behaviour a user relies on, beyond the shared contract."""

from __future__ import annotations

from enrolsync.connectors.kit.client import build_client
from enrolsync.connectors.kit.retry import ReadRetry
from enrolsync.connectors.learnupon import LearnUponTarget
from enrolsync.connectors.learnupon.config import LearnUponConfig
from enrolsync.connectors.learnupon.fake import FakeLearnUpon
from enrolsync.connectors.model import AccountFields, RoleScope
from enrolsync.connectors.ops import AssignRole, CreateUser, DeactivateUser, Enrol, Op, RevokeRole, Unenrol
from enrolsync.connectors.testing.contract import collect
from enrolsync.connectors.testing.fakes import FakeClock
from tests.support.connectors import LU_KEY, LU_SECRET


def person(n: int, **extra: str) -> AccountFields:
    values = {
        "username": f"person.{n:03d}",
        "given_name": "Per",
        "family_name": f"Son {n}",
        "email": f"person.{n}@example.com",
        "external_id": f"E{n}",
        **extra,
    }
    return AccountFields(**values)  # type: ignore[arg-type]


async def create(target: LearnUponTarget, n: int) -> int:
    [result] = await target.apply([CreateUser(hr_id=f"E{n}", fields=person(n))])
    assert result.outcome == "done" and result.ref is not None
    return int(result.ref.id)


async def test_one_refused_person_fails_alone(target: LearnUponTarget, fake: FakeLearnUpon) -> None:
    taken = fake.add_user("Some", "One", "some.one@example.com")
    fake.portal.users[taken]["username"] = "person.002"
    ops = [CreateUser(hr_id=f"E{n}", fields=person(n)) for n in (1, 2, 3)]

    results = await target.apply(ops)

    assert [r.outcome for r in results] == ["done", "failed", "done"]
    assert results[1].error is not None and results[1].error.status == 422
    assert "in use" in results[1].error.reason and "person.002" not in results[1].error.reason
    assert fake.user_by_email("person.2@example.com") is None
    assert fake.user_by_email("person.3@example.com") is not None


async def test_an_email_held_under_another_hr_id_is_not_taken_over(
    target: LearnUponTarget, fake: FakeLearnUpon
) -> None:
    fake.add_user("Other", "Person", "person.5@example.com", employee_id="X99")
    [result] = await target.apply([CreateUser(hr_id="E5", fields=person(5))])
    assert result.outcome == "failed" and result.error is not None and "another HR id" in result.error.reason


async def test_created_learners_carry_the_hr_id_and_a_password_nobody_sees(
    target: LearnUponTarget, fake: FakeLearnUpon
) -> None:
    user_id = await create(target, 7)
    user = fake.portal.users[user_id]
    assert (user["user_type"], user["enabled"], user["CustomData"]["employee_id"]) == ("learner", True, "E7")
    assert "password" not in user, "the fake keeps no password; the connector sent one because LearnUpon needs it"
    [found] = await target.find_accounts(field="external_id", values=["e7"])
    assert found.account_id == str(user_id) and found.fields.username == "person.007"


async def test_a_large_batch_is_one_bulk_job_and_a_bad_item_fails_alone(
    target: LearnUponTarget, fake: FakeLearnUpon, clock: FakeClock
) -> None:
    users = [fake.add_user("Bulk", f"User {n}", f"bulk.{n}@example.com") for n in range(60)]
    course = sorted(fake.portal.courses)[0]
    ops: list[Op] = [Enrol(hr_id=f"B{n}", account_id=str(u), course_id=str(course)) for n, u in enumerate(users)]
    ops.insert(10, Enrol(hr_id="GONE", account_id="999999", course_id=str(course)))

    results = await target.apply(ops)

    assert [r.outcome for r in results].count("done") == 60
    assert results[10].outcome == "failed" and results[10].error is not None and results[10].error.status == 404
    posts = [r.url.path for r in fake.writes]
    assert posts.count("/api/v1/bulk-operations/submit/bulk-enrollment") == 1
    assert posts.count("/api/v1/enrollments") == 1, "only the item the job left out went out on its own"
    assert fake.courses_of(users[0]) == {course} and clock.sleeps == [5.0]
    again = await target.apply(ops)
    assert [r.outcome for r in again].count("already") == 60


async def test_a_leaver_is_disabled_and_keeps_their_training(target: LearnUponTarget, fake: FakeLearnUpon) -> None:
    user_id = await create(target, 8)
    course = sorted(fake.portal.courses)[0]
    await target.apply([Enrol(hr_id="E8", account_id=str(user_id), course_id=str(course))])
    fake.set_status(user_id, course, "completed")

    results = await target.apply(
        [
            DeactivateUser(hr_id="E8", account_id=str(user_id)),
            Unenrol(hr_id="E8", account_id=str(user_id), course_id=str(course)),
        ]
    )

    assert [r.outcome for r in results] == ["done", "already"]
    assert fake.portal.users[user_id]["enabled"] is False and fake.courses_of(user_id) == {course}
    [account] = [a for a in await collect(target.list_accounts()) if a.account_id == str(user_id)]
    assert account.active is False


def over(manager: int, report: int, *, revoke: bool = False) -> AssignRole | RevokeRole:
    kind = RevokeRole if revoke else AssignRole
    return kind(
        hr_id=f"M{manager}", account_id=str(manager), role="manager", scope=RoleScope.USER, scope_id=str(report),
        scope_hr_id=f"R{report}",
    )  # fmt: skip


async def test_manager_scope_is_a_team_group_that_follows_a_move(target: LearnUponTarget, fake: FakeLearnUpon) -> None:
    boss_a, boss_b, ann, bo = [await create(target, n) for n in (20, 21, 22, 23)]

    first = await target.apply([over(boss_a, ann), over(boss_a, bo), over(boss_b, ann, revoke=True)])

    assert [r.outcome for r in first] == ["done", "done", "already"]
    team_a = fake.group_titled(f"enrolsync team {boss_a}")
    assert team_a is not None
    assert fake.members(team_a["id"], 4) == {boss_a} and fake.members(team_a["id"], 1) == {ann, bo}
    assert fake.portal.users[boss_a]["user_type"] == "manager", "only managers may manage a group"

    moved = await target.apply([over(boss_a, ann, revoke=True), over(boss_b, ann)])

    assert [r.outcome for r in moved] == ["done", "done"]
    team_b = fake.group_titled(f"enrolsync team {boss_b}")
    assert team_b is not None and fake.members(team_b["id"], 1) == {ann}
    assert fake.members(team_a["id"], 1) == {bo}
    held = {
        (r.account_id, r.scope_id) for r in await collect(target.list_role_assignments()) if r.scope is RoleScope.USER
    }
    assert held == {(str(boss_a), str(bo)), (str(boss_b), str(ann))}
    assert await collect(target.list_group_memberships()) == [], "team groups are not the pipeline's groups"


async def test_a_spent_budget_is_waited_out_without_a_retry_storm(config: LearnUponConfig, clock: FakeClock) -> None:
    fake = FakeLearnUpon.seeded(key=LU_KEY, secret=LU_SECRET, per_minute=5, clock=clock.monotonic, page_size=2)
    for n in range(30):
        fake.add_user("Many", f"User {n}", f"many.{n}@example.com")
    async with build_client(config, transport=fake.transport()) as http:
        target = LearnUponTarget(config, http, retry=ReadRetry(attempts=5, max_seconds=3600, clock=clock))
        accounts = await collect(target.list_accounts())

    assert len(accounts) == 34
    pages = 17
    assert fake.throttled == 0, "the portal's remaining-budget header paces the reads: no request is refused"
    assert clock.sleeps == [60.0] * (pages // 5)
    assert len(fake.requests) == pages


async def test_a_429_is_waited_out_once_when_the_budget_header_was_missed(
    config: LearnUponConfig, clock: FakeClock
) -> None:
    fake = FakeLearnUpon.seeded(key=LU_KEY, secret=LU_SECRET, clock=clock.monotonic)
    fake.fail_next(1, status=429, headers={"X-LU-Rate-Limit-Remaining-Minute": "0"})
    async with build_client(config, transport=fake.transport()) as http:
        target = LearnUponTarget(config, http, retry=ReadRetry(attempts=3, clock=clock))
        accounts = await collect(target.list_accounts())

    assert len(accounts) == 4
    assert clock.sleeps == [60.0], "no Retry-After from LearnUpon: the minute is waited out, once"
