"""Docebo progress read-back (issue 16): the course service's enrolment list, paged, read only."""

from __future__ import annotations

from datetime import UTC, datetime

from enrolsync.connectors.base import Capability, ProgressReader
from enrolsync.connectors.docebo import DoceboTarget
from enrolsync.connectors.docebo.fake import DoceboFake
from enrolsync.connectors.model import Progress, ProgressState
from enrolsync.connectors.testing.fakes import FakeClock
from tests.support.connectors import collect

OPENED = datetime(2026, 11, 18, 8, 0, tzinfo=UTC)
DONE = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
ENROLMENT_LIST = "/course/v1/courses/enrollments"


def by_key(items: list[Progress]) -> dict[tuple[str, str], Progress]:
    return {(p.account_id, p.course_id): p for p in items}


def enrol_both(fake: DoceboFake) -> tuple[int, int, int]:
    """Both seeded users enrolled as learners in the first course."""
    course = min(fake.platform.courses)
    jane, john = sorted(fake.platform.users)
    fake.platform.enrol(jane, course, "student")
    fake.platform.enrol(john, course, "student")
    return jane, john, course


def reads(fake: DoceboFake) -> list[str]:
    return [r.url.path for r in fake.requests if r.url.path == ENROLMENT_LIST]


async def test_docebo_declares_and_implements_progress(target: DoceboTarget) -> None:
    assert Capability.PROGRESS in DoceboTarget.info.capabilities
    assert isinstance(target, ProgressReader)


async def test_each_state_with_its_dates(target: DoceboTarget, fake: DoceboFake) -> None:
    jane, john, course = enrol_both(fake)
    second = sorted(fake.platform.courses)[1]
    fake.platform.enrol(jane, second, "student")
    fake.start(jane, course, at=OPENED)
    fake.complete(john, course, DONE, score=88)

    listed = by_key(await collect(target.list_progress(course_ids=[str(course), str(second)])))

    started, done, fresh = (
        listed[(str(jane), str(course))],
        listed[(str(john), str(course))],
        listed[(str(jane), str(second))],
    )
    assert (started.state, started.completed_at, started.last_activity_at) == (ProgressState.IN_PROGRESS, None, OPENED)
    assert (done.state, done.completed_at, done.last_activity_at) == (ProgressState.COMPLETED, DONE, DONE)
    # Enrolled, never opened: not started, and the enrolment's own creation is not taken for activity.
    assert (fresh.state, fresh.completed_at, fresh.last_activity_at) == (ProgressState.NOT_STARTED, None, None)
    assert fake.writes == []


async def test_only_learners_of_the_asked_courses_are_read(target: DoceboTarget, fake: DoceboFake) -> None:
    jane, _, course = enrol_both(fake)
    other = sorted(fake.platform.courses)[2]
    fake.platform.enrol(jane, other, "instructor")

    listed = await collect(target.list_progress(course_ids=[str(course), str(other), "424242", "SAFETY-101"]))

    assert {(p.course_id) for p in listed} == {str(course)}
    assert await collect(target.list_progress(course_ids=["SAFETY-101"])) == []
    assert len(reads(fake)) == 1  # the codes never reach Docebo, and no list was read for them alone


async def test_a_large_course_is_read_page_by_page(target: DoceboTarget, fake: DoceboFake) -> None:
    course = min(fake.platform.courses)
    for n in range(205):
        user = fake.add_user(f"learner{n}", "Given", f"Family{n}", f"learner{n}@example.com")
        fake.platform.enrol(user, course, "student")

    listed = await collect(target.list_progress(course_ids=[str(course)]))

    assert len(listed) == 205 and {p.state for p in listed} == {ProgressState.NOT_STARTED}
    pages = [r.url.params["page"] for r in fake.requests if r.url.path == ENROLMENT_LIST]
    assert pages == ["1", "2"]  # 200 a page, Docebo's most


async def test_a_progress_change_shows_on_the_next_read(target: DoceboTarget, fake: DoceboFake) -> None:
    jane, _, course = enrol_both(fake)
    key = (str(jane), str(course))
    before = by_key(await collect(target.list_progress(course_ids=[str(course)])))[key]
    fake.complete(jane, course, DONE)
    after = by_key(await collect(target.list_progress(course_ids=[str(course)])))[key]

    assert (before.state, after.state, after.completed_at) == (ProgressState.NOT_STARTED, ProgressState.COMPLETED, DONE)


async def test_a_429_is_waited_out_for_its_retry_after(
    target: DoceboTarget, fake: DoceboFake, clock: FakeClock
) -> None:
    jane, _, course = enrol_both(fake)
    fake.complete(jane, course, DONE)
    fake.fail_next(1, status=429, retry_after=12, when=lambda r: r.url.path == ENROLMENT_LIST)

    listed = by_key(await collect(target.list_progress(course_ids=[str(course)])))

    assert listed[(str(jane), str(course))].state is ProgressState.COMPLETED
    assert clock.sleeps == [12]
    assert len(reads(fake)) == 2 and fake.writes == []
