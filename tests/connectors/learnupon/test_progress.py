"""LearnUpon progress read-back (issue 16): enrolment status, dates and module percentage per course, read only."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from enrolsync.connectors.base import Capability, ProgressReader
from enrolsync.connectors.errors import AuthError
from enrolsync.connectors.kit.client import build_client
from enrolsync.connectors.kit.retry import ReadRetry
from enrolsync.connectors.learnupon import LearnUponTarget
from enrolsync.connectors.learnupon.config import LearnUponConfig
from enrolsync.connectors.learnupon.fake import FakeLearnUpon
from enrolsync.connectors.model import Progress, ProgressState
from enrolsync.connectors.testing.fakes import FakeClock
from tests.support.connectors import collect

VISITED = "2026-10-01T08:00:00Z"
DONE = "2026-10-12T16:26:08Z"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def by_account(items: list[Progress]) -> dict[str, Progress]:
    return {p.account_id: p for p in items}


def searches(fake: FakeLearnUpon) -> list[str]:
    return [str(r.url.params.get("course_id")) for r in fake.requests if r.url.path.endswith("/enrollments/search")]


def seeded(fake: FakeLearnUpon) -> tuple[list[int], int, int]:
    """Every seeded learner enrolled in the first course; the second course holds nobody."""
    users = sorted(fake.portal.users)
    first, second, *_ = sorted(fake.portal.courses)
    for user in users:
        fake.portal.enrol(user, first)
    return users, first, second


async def test_learnupon_declares_and_implements_progress(target: LearnUponTarget) -> None:
    assert Capability.PROGRESS in LearnUponTarget.info.capabilities
    assert isinstance(target, ProgressReader)


async def test_each_status_maps_to_its_state_with_dates(target: LearnUponTarget, fake: FakeLearnUpon) -> None:
    (fresh, working, passed, failed), course, _ = seeded(fake)
    fake.learn(working, course, status="in_progress", at=VISITED, modules=40)
    fake.learn(passed, course, status="passed", at=DONE, modules=100, score=85)
    fake.learn(failed, course, status="failed", at=DONE, modules=100, score=30)
    writes = len(fake.writes)

    listed = by_account(await collect(target.list_progress(course_ids=[str(course)])))

    assert (listed[str(fresh)].state, listed[str(fresh)].last_activity_at) == (ProgressState.NOT_STARTED, None)
    assert listed[str(fresh)].percent == 0.0
    mid = listed[str(working)]
    assert (mid.state, mid.percent, mid.last_activity_at, mid.completed_at) == (
        ProgressState.IN_PROGRESS, 40.0, at(VISITED), None
    )  # fmt: skip
    assert (listed[str(passed)].state, listed[str(passed)].completed_at) == (ProgressState.COMPLETED, at(DONE))
    assert listed[str(passed)].percent == 100.0  # modules done, not the score
    assert (listed[str(failed)].state, listed[str(failed)].completed_at) == (ProgressState.FAILED, at(DONE))
    assert {p.course_id for p in listed.values()} == {str(course)}
    assert len(fake.writes) == writes  # read only


@pytest.mark.parametrize(
    ("status", "state"),
    [("completed", ProgressState.COMPLETED), ("pending_review", ProgressState.IN_PROGRESS)],
)
async def test_completed_and_pending_review(
    target: LearnUponTarget, fake: FakeLearnUpon, status: str, state: ProgressState
) -> None:
    (learner, *_), course, _ = seeded(fake)
    fake.learn(learner, course, status=status, at=DONE)

    listed = by_account(await collect(target.list_progress(course_ids=[str(course)])))

    assert listed[str(learner)].state is state
    assert listed[str(learner)].completed_at == (at(DONE) if state is ProgressState.COMPLETED else None)


async def test_an_unenrolled_row_is_not_listed(target: LearnUponTarget, fake: FakeLearnUpon) -> None:
    (learner, *others), course, _ = seeded(fake)
    fake.enrollment(learner, course)["unenrolled"] = True

    listed = await collect(target.list_progress(course_ids=[str(course)]))

    assert sorted(int(p.account_id) for p in listed) == others


async def test_pages_through_every_enrolment(target: LearnUponTarget, fake: FakeLearnUpon) -> None:
    """The fixture's portal pages by 3 (LearnUpon pages by 500): 4 + 5 enrolments take two and two pages."""
    users, course, other = seeded(fake)
    for n in range(5):
        fake.portal.enrol(fake.add_user("Page", f"Learner{n}", f"page{n}@example.com"), other)

    listed = await collect(target.list_progress(course_ids=[str(other), str(course)]))

    assert len(listed) == 9 and {p.course_id for p in listed} == {str(course), str(other)}
    pages = [r.url.params.get("page", "1") for r in fake.requests if r.url.path.endswith("/enrollments/search")]
    assert pages == ["1", "2", "1", "2"]
    assert searches(fake) == [str(course), str(course), str(other), str(other)]


async def test_unknown_and_non_learnupon_course_ids_are_skipped(target: LearnUponTarget, fake: FakeLearnUpon) -> None:
    _, course, _ = seeded(fake)

    assert await collect(target.list_progress(course_ids=["987654", "SAFETY 101", "0"])) == []
    assert searches(fake) == ["987654"]


async def test_a_course_learnupon_answers_404_for_is_skipped(target: LearnUponTarget, fake: FakeLearnUpon) -> None:
    _, course, other = seeded(fake)
    fake.fail_next(1, status=404, body=b'{"message":"Course not found"}', when=lambda r: str(other) in str(r.url))

    listed = await collect(target.list_progress(course_ids=[str(course), str(other)]))

    assert {p.course_id for p in listed} == {str(course)} and len(listed) == 4


async def test_since_is_not_sent_and_everything_is_listed(target: LearnUponTarget, fake: FakeLearnUpon) -> None:
    _, course, _ = seeded(fake)

    listed = await collect(target.list_progress(course_ids=[str(course)], since=datetime(2030, 1, 1, tzinfo=UTC)))

    assert len(listed) == 4
    assert all("date_from" not in r.url.params for r in fake.requests)


async def test_a_progress_change_shows_on_the_next_read(target: LearnUponTarget, fake: FakeLearnUpon) -> None:
    (learner, *_), course, _ = seeded(fake)
    before = by_account(await collect(target.list_progress(course_ids=[str(course)])))
    fake.learn(learner, course, status="completed", at=DONE, modules=100)
    after = by_account(await collect(target.list_progress(course_ids=[str(course)])))

    assert (before[str(learner)].state, after[str(learner)].state) == (
        ProgressState.NOT_STARTED,
        ProgressState.COMPLETED,
    )


async def test_a_429_is_waited_out_for_its_retry_after(
    target: LearnUponTarget, fake: FakeLearnUpon, clock: FakeClock
) -> None:
    (learner, *_), course, _ = seeded(fake)
    fake.learn(learner, course, status="in_progress", at=VISITED)
    fake.fail_next(1, status=429, retry_after=7, body=b'{"message":"rate_limit_exceeded"}')

    listed = by_account(await collect(target.list_progress(course_ids=[str(course)])))

    assert listed[str(learner)].state is ProgressState.IN_PROGRESS and len(listed) == 4
    assert clock.sleeps == [7.0]


async def test_a_spent_minute_budget_is_waited_out(config: LearnUponConfig, clock: FakeClock) -> None:
    """The portal's own budget: LearnUpon answers 429 without Retry-After once a minute's requests are spent; the
    read waits for the next minute (on the clock) and goes on."""
    fake = FakeLearnUpon.seeded(key=config.api_username, secret=config.api_password.get_secret_value(),
                                clock=clock.monotonic, page_size=1, per_minute=2)  # fmt: skip
    _, course, _ = seeded(fake)
    async with build_client(config, transport=fake.transport()) as http:
        target = LearnUponTarget(config, http, retry=ReadRetry(attempts=4, clock=clock))
        listed = await collect(target.list_progress(course_ids=[str(course)]))

    assert len(listed) == 4
    assert clock.sleeps and all(s >= 59 for s in clock.sleeps)


async def test_refused_keys_fail_the_read(bad_config: LearnUponConfig, fake: FakeLearnUpon, clock: FakeClock) -> None:
    _, course, _ = seeded(fake)
    async with build_client(bad_config, transport=fake.transport()) as http:
        target = LearnUponTarget(bad_config, http, retry=ReadRetry(attempts=2, clock=clock))
        with pytest.raises(AuthError):
            await collect(target.list_progress(course_ids=[str(course)]))
