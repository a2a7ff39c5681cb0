"""Moodle progress read-back (issue 16): course completion and last access, per course, read only."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs

import pytest

from enrolsync.connectors.base import Capability, ProgressReader
from enrolsync.connectors.errors import ConnectorError
from enrolsync.connectors.kit.client import build_client
from enrolsync.connectors.kit.retry import ReadRetry
from enrolsync.connectors.model import Progress, ProgressState
from enrolsync.connectors.moodle import MoodleTarget
from enrolsync.connectors.moodle.config import MoodleConfig
from enrolsync.connectors.moodle.fake.server import FakeMoodle
from enrolsync.connectors.testing.fakes import FakeClock
from tests.support.connectors import collect

DONE_AT = 1_717_200_000
LAST = 1_717_000_000  # user 3's lastcourseaccess in course 2 (payloads/enrolled_users.json)


def asked_completion(fake: FakeMoodle) -> list[tuple[str, str]]:
    """(course id, user id) of every completion call sent, answered or refused."""
    sent = [parse_qs(r.content.decode()) for r in fake.requests]
    wanted = "core_completion_get_course_completion_status"
    return [(f["courseid"][0], f["userid"][0]) for f in sent if f.get("wsfunction") == [wanted]]


def states(items: list[Progress]) -> dict[tuple[str, str], ProgressState]:
    return {(p.account_id, p.course_id): p.state for p in items}


async def test_moodle_declares_and_implements_progress(target: MoodleTarget) -> None:
    assert Capability.PROGRESS in MoodleTarget.info.capabilities
    assert isinstance(target, ProgressReader)


async def test_a_completed_course_is_read_with_its_date(target: MoodleTarget, fake: FakeMoodle) -> None:
    fake.complete(3, 2, DONE_AT)

    listed = await collect(target.list_progress(course_ids=["2"]))

    by_key = {(p.account_id, p.course_id): p for p in listed}
    done = by_key[("3", "2")]
    assert done.state is ProgressState.COMPLETED
    assert done.completed_at == datetime.fromtimestamp(DONE_AT, UTC)
    assert done.last_activity_at == datetime.fromtimestamp(LAST, UTC)
    # The teacher never opened the course: not started, without a completion call (only who opened it is asked).
    assert by_key[("4", "2")].state is ProgressState.NOT_STARTED and by_key[("4", "2")].last_activity_at is None
    assert asked_completion(fake) == [("2", "3")]
    assert fake.writes == []  # read only


async def test_an_opened_course_not_completed_is_in_progress(target: MoodleTarget, fake: FakeMoodle) -> None:
    listed = await collect(target.list_progress(course_ids=["2"]))

    assert states(listed)[("3", "2")] is ProgressState.IN_PROGRESS
    assert next(p for p in listed if p.account_id == "3").completed_at is None


async def test_completion_off_or_without_criteria_reads_last_access_only(
    target: MoodleTarget, fake: FakeMoodle
) -> None:
    fake.enrol(5, 3, lastaccess=LAST)
    fake.state.courses[3].criteria = False  # ONBOARD: completion on, no criteria set
    fake.state.courses[2].completion = False
    fake.complete(3, 2, DONE_AT)  # not reported while course 2 tracks no completion
    fake.complete(5, 3, DONE_AT)

    listed = await collect(target.list_progress(course_ids=["2", "3"]))

    assert states(listed) == {
        ("3", "2"): ProgressState.IN_PROGRESS,
        ("4", "2"): ProgressState.NOT_STARTED,
        ("5", "3"): ProgressState.IN_PROGRESS,
    }
    # Course 2 tracks no completion, so only course 3 was asked (and answered nocriteriaset).
    assert asked_completion(fake) == [("3", "5")]


async def test_a_full_read_finds_a_completion_marked_for_someone_who_never_opened_the_course_when_asked_to(
    config: MoodleConfig, fake: FakeMoodle, clock: FakeClock
) -> None:
    fake.enrol(5, 2)  # a learner who never opened course 2; a teacher marks it complete for them
    fake.complete(5, 2, DONE_AT)
    opted_in = config.model_copy(update={"completion_of_unopened": True, "max_concurrency": 2})
    async with build_client(opted_in, transport=fake.transport()) as http:
        target = MoodleTarget(opted_in, http, retry=ReadRetry(attempts=3, clock=clock))

        listed = {(p.account_id, p.course_id): p for p in await collect(target.list_progress(course_ids=["2"]))}

    assert listed[("5", "2")].state is ProgressState.COMPLETED
    assert listed[("5", "2")].last_activity_at is None
    assert sorted(asked_completion(fake)) == [("2", "3"), ("2", "4"), ("2", "5")]  # the teacher (4) too


async def test_by_default_a_full_read_asks_no_completion_of_who_never_opened_the_course(
    target: MoodleTarget, fake: FakeMoodle
) -> None:
    fake.enrol(5, 2)  # never opened course 2: not started, at no call's cost (a 5,000-person company's worth)
    fake.complete(5, 2, DONE_AT)

    listed = {(p.account_id, p.course_id): p for p in await collect(target.list_progress(course_ids=["2"]))}

    assert listed[("5", "2")].state is ProgressState.NOT_STARTED
    assert ("2", "5") not in asked_completion(fake)


async def test_an_incremental_read_asks_only_who_opened_the_course_since(
    target: MoodleTarget, fake: FakeMoodle
) -> None:
    fake.enrol(5, 2, lastaccess=LAST + 3_600)  # opened an hour after user 3 last did
    fake.enrol(6, 2)  # never opened it
    fake.complete(5, 2, DONE_AT)
    fake.complete(6, 2, DONE_AT)  # marked complete by a teacher: only a full read sees it
    since = datetime.fromtimestamp(LAST + 60, UTC)

    listed = await collect(target.list_progress(course_ids=["2"], since=since))

    # User 3 (last access before `since`), the teacher and user 6 (never) are not listed: the stored state stands.
    assert states(listed) == {("5", "2"): ProgressState.COMPLETED}
    assert asked_completion(fake) == [("2", "5")]
    assert len(fake.called("core_enrol_get_enrolled_users")) == 1  # one roster call per course, as a full read
    # A visit exactly at `since` counts as changed since.
    at_since = await collect(target.list_progress(course_ids=["2"], since=datetime.fromtimestamp(LAST, UTC)))
    assert set(states(at_since)) == {("3", "2"), ("5", "2")}
    assert fake.writes == []


async def test_unknown_and_non_moodle_course_ids_are_skipped(target: MoodleTarget, fake: FakeMoodle) -> None:
    assert await collect(target.list_progress(course_ids=["999", "SAFETY101"])) == []
    assert await collect(target.list_progress(course_ids=[])) == []
    assert fake.called("core_enrol_get_enrolled_users") == []


async def test_a_progress_change_shows_on_the_next_read(target: MoodleTarget, fake: FakeMoodle) -> None:
    before = states(await collect(target.list_progress(course_ids=["2"])))
    fake.complete(3, 2, DONE_AT)
    after = states(await collect(target.list_progress(course_ids=["2"])))

    assert (before[("3", "2")], after[("3", "2")]) == (ProgressState.IN_PROGRESS, ProgressState.COMPLETED)


async def test_a_transient_failure_is_retried(target: MoodleTarget, fake: FakeMoodle) -> None:
    fake.complete(3, 2, DONE_AT)
    fake.fail_next(1, status=503)

    listed = await collect(target.list_progress(course_ids=["2"]))

    assert states(listed)[("3", "2")] is ProgressState.COMPLETED


async def test_a_service_without_the_completion_function_fails_the_read(target: MoodleTarget, fake: FakeMoodle) -> None:
    fake.service_functions.discard("core_completion_get_course_completion_status")

    with pytest.raises(ConnectorError, match="may not call this function"):
        await collect(target.list_progress(course_ids=["2"]))
