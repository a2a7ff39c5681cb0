"""TalentLMS progress read-back (issue 16): each managed course's learners, their completion and its date, read
only, one course read each."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from enrolsync.connectors.base import Capability, ProgressReader
from enrolsync.connectors.model import Progress, ProgressState
from enrolsync.connectors.talentlms import TalentLMSTarget
from enrolsync.connectors.talentlms.fake import TalentLMSFake
from enrolsync.connectors.talentlms.models import CourseUser
from enrolsync.connectors.talentlms.progress import to_progress
from enrolsync.connectors.testing.fakes import FakeClock
from tests.support.connectors import collect

DONE = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


def by_key(items: list[Progress]) -> dict[tuple[str, str], Progress]:
    return {(p.account_id, p.course_id): p for p in items}


def enrol_learners(fake: TalentLMSFake) -> tuple[int, int, int, int]:
    """Jane (the seed's instructor of the first course) and John as learners in the second course."""
    first, second = sorted(fake.portal.courses)[:2]
    jane, john = sorted(fake.portal.users)
    fake.portal.enrol(jane, second, "learner")
    fake.portal.enrol(john, second, "learner")
    return jane, john, first, second


async def test_talentlms_declares_and_implements_progress(target: TalentLMSTarget) -> None:
    assert Capability.PROGRESS in TalentLMSTarget.info.capabilities
    assert isinstance(target, ProgressReader)


async def test_not_started_in_progress_and_completed_with_its_date(
    target: TalentLMSTarget, fake: TalentLMSFake
) -> None:
    jane, john, first, second = enrol_learners(fake)
    fake.start(jane, second, percent=40)
    fake.complete(john, second, DONE)

    listed = by_key(await collect(target.list_progress(course_ids=[str(first), str(second)])))

    jane_p, john_p = listed[(str(jane), str(second))], listed[(str(john), str(second))]
    assert (jane_p.state, jane_p.percent, jane_p.completed_at) == (ProgressState.IN_PROGRESS, 40.0, None)
    assert (john_p.state, john_p.percent, john_p.completed_at) == (ProgressState.COMPLETED, 100.0, DONE)
    # The roster carries no last access: none is invented.
    assert jane_p.last_activity_at is None and john_p.last_activity_at is None
    # Jane teaches the first course: an instructor's role is not learning, so it is not reported.
    assert (str(jane), str(first)) not in listed
    assert fake.writes == []


async def test_a_fresh_enrolment_is_not_started(target: TalentLMSTarget, fake: TalentLMSFake) -> None:
    jane, _, _, second = enrol_learners(fake)

    [mine] = [p for p in await collect(target.list_progress(course_ids=[str(second)])) if p.account_id == str(jane)]

    assert (mine.state, mine.percent, mine.completed_at) == (ProgressState.NOT_STARTED, 0.0, None)


async def test_one_read_per_course_and_unknown_courses_are_skipped(
    target: TalentLMSTarget, fake: TalentLMSFake
) -> None:
    _, _, _, second = enrol_learners(fake)

    listed = await collect(target.list_progress(course_ids=[str(second), "999999", "SAFETY-101", "0"]))

    assert {p.course_id for p in listed} == {str(second)}
    paths = [r.url.path for r in fake.requests]
    assert paths == [f"/api/v2/courses/{second}", "/api/v2/courses/999999"]  # codes and 0 are never sent
    assert await collect(target.list_progress(course_ids=[])) == []


async def test_a_progress_change_shows_on_the_next_read(target: TalentLMSTarget, fake: TalentLMSFake) -> None:
    jane, _, _, second = enrol_learners(fake)
    before = by_key(await collect(target.list_progress(course_ids=[str(second)])))
    fake.complete(jane, second, DONE)
    after = by_key(await collect(target.list_progress(course_ids=[str(second)])))

    key = (str(jane), str(second))
    assert (before[key].state, after[key].state) == (ProgressState.NOT_STARTED, ProgressState.COMPLETED)


async def test_a_429_is_waited_out_for_its_retry_after(
    target: TalentLMSTarget, fake: TalentLMSFake, clock: FakeClock
) -> None:
    jane, _, _, second = enrol_learners(fake)
    fake.complete(jane, second, DONE)
    fake.fail_next(1, status=429, retry_after=7)

    listed = by_key(await collect(target.list_progress(course_ids=[str(second)])))

    assert listed[(str(jane), str(second))].state is ProgressState.COMPLETED
    assert clock.sleeps == [7]
    assert fake.writes == []


@pytest.mark.parametrize(
    ("entry", "state", "completed"),
    [
        ({"completion_status": "Completed", "completion_percentage": "100", "completed_on_timestamp": "1779269400"},
         ProgressState.COMPLETED, datetime.fromtimestamp(1_779_269_400, UTC)),
        ({"completion_status": "completed", "completion_percentage": 100, "completed_on": "2026-11-20T09:30:00+00:00"},
         ProgressState.COMPLETED, DONE),
        # v1's "dd/mm/YYYY, HH:MM:SS" is in the portal's own time zone: completed, with no date rather than a wrong one.
        ({"completion_status": "completed", "completion_percentage": 100, "completed_on": "20/11/2026, 09:30:00"},
         ProgressState.COMPLETED, None),
        ({"completion_status": "incomplete", "completion_percentage": "0"}, ProgressState.IN_PROGRESS, None),
        ({"completion_status": None, "completion_percentage": 12}, ProgressState.IN_PROGRESS, None),
        ({"completion_status": "not_attempted", "completion_percentage": 0}, ProgressState.NOT_STARTED, None),
    ],
)  # fmt: skip
def test_roster_entries_map_to_states(entry: dict[str, object], state: ProgressState, completed: object) -> None:
    read = to_progress(CourseUser.model_validate({"id": 7, "role": "learner", **entry}), 3)

    assert (read.account_id, read.course_id, read.state, read.completed_at) == ("7", "3", state, completed)
