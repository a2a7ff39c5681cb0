"""Canvas progress read-back (issue 16): enrolment states, activity and module completion, per course, read only."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from enrolsync.connectors.base import Capability, ProgressReader
from enrolsync.connectors.canvas import CanvasTarget
from enrolsync.connectors.canvas.config import CanvasConfig
from enrolsync.connectors.canvas.fake import FakeCanvas
from enrolsync.connectors.canvas.fake.state import BASE_ROLES
from enrolsync.connectors.errors import AuthError
from enrolsync.connectors.kit.client import build_client
from enrolsync.connectors.kit.retry import ReadRetry
from enrolsync.connectors.model import Progress, ProgressState
from enrolsync.connectors.ops import Enrol
from enrolsync.connectors.testing.fakes import FakeClock
from tests.support.connectors import collect

VISITED = "2026-10-01T08:00:00Z"
DONE = "2026-10-12T16:26:08Z"


def enrol(fake: FakeCanvas, user_id: int, course_id: int, *, kind: str = "StudentEnrollment") -> None:
    fake.state.enroll(fake.state.courses[course_id], user_id, fake.state.roles[BASE_ROLES[kind]], "active")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def by_account(items: list[Progress]) -> dict[str, Progress]:
    return {p.account_id: p for p in items}


def requests_to(fake: FakeCanvas, suffix: str) -> list[str]:
    return [r.url.path for r in fake.requests if r.url.path.endswith(suffix)]


def seeded(fake: FakeCanvas) -> tuple[list[int], int, int]:
    users = [u.id for u in fake.state.live_users()]
    safety, coding = sorted(fake.state.courses)
    for user in users:
        enrol(fake, user, safety)
    return users, safety, coding


async def test_canvas_declares_and_implements_progress(target: CanvasTarget) -> None:
    assert Capability.PROGRESS in CanvasTarget.info.capabilities
    assert isinstance(target, ProgressReader)


async def test_states_from_activity_module_completion_and_conclusion(target: CanvasTarget, fake: FakeCanvas) -> None:
    (fresh, working, done, *_), safety, _ = seeded(fake)
    fake.require(safety, 4)
    fake.visit(working, safety, VISITED)
    fake.meet(working, safety, 1, VISITED)
    fake.visit(done, safety, VISITED)
    fake.meet(done, safety, 4, DONE)
    fake.grade(done, safety, current=35.0, final=6.67)  # a low score is not "failed": Canvas has no pass mark
    writes = len(fake.writes)

    listed = by_account(await collect(target.list_progress(course_ids=[str(safety)])))

    assert listed[str(fresh)].state is ProgressState.NOT_STARTED and listed[str(fresh)].last_activity_at is None
    assert listed[str(fresh)].percent == 0.0
    assert (listed[str(working)].state, listed[str(working)].percent) == (ProgressState.IN_PROGRESS, 25.0)
    assert listed[str(working)].last_activity_at == at(VISITED) and listed[str(working)].completed_at is None
    assert (listed[str(done)].state, listed[str(done)].completed_at) == (ProgressState.COMPLETED, at(DONE))
    assert listed[str(done)].percent == 100.0
    assert {p.course_id for p in listed.values()} == {str(safety)}
    assert len(fake.writes) == writes  # read only


async def test_a_concluded_enrolment_is_completed_only_after_activity(target: CanvasTarget, fake: FakeCanvas) -> None:
    (learner, unstarted, _), safety, _ = seeded(fake)
    fake.visit(learner, safety, VISITED)
    fake.conclude(learner, safety, DONE)
    fake.conclude(unstarted, safety, DONE)  # ended before it began: an unenrolment, not a finished course

    listed = by_account(await collect(target.list_progress(course_ids=[str(safety)])))

    assert (listed[str(learner)].state, listed[str(learner)].completed_at) == (ProgressState.COMPLETED, at(DONE))
    assert listed[str(learner)].percent is None  # the course has no module requirements
    assert str(unstarted) not in listed


async def test_a_course_without_modules_reads_activity_only(target: CanvasTarget, fake: FakeCanvas) -> None:
    (fresh, working, _), safety, _ = seeded(fake)
    fake.visit(working, safety, VISITED)

    listed = by_account(await collect(target.list_progress(course_ids=[str(safety)])))

    assert listed[str(fresh)].state is ProgressState.NOT_STARTED
    assert listed[str(working)].state is ProgressState.IN_PROGRESS
    assert all(p.percent is None for p in listed.values())


async def test_only_learners_and_one_row_per_learner(target: CanvasTarget, fake: FakeCanvas) -> None:
    (learner, teacher, observer), _, coding = seeded(fake)
    enrol(fake, learner, coding)
    enrol(fake, teacher, coding, kind="TeacherEnrollment")
    fake.state.link_observer(observer, learner)  # an ObserverEnrollment in every course the learner studies

    listed = await collect(target.list_progress(course_ids=[str(coding)]))

    assert [(p.account_id, p.course_id) for p in listed] == [(str(learner), str(coding))]


async def test_unknown_and_non_canvas_course_ids_are_skipped(target: CanvasTarget, fake: FakeCanvas) -> None:
    _, safety, _ = seeded(fake)

    assert await collect(target.list_progress(course_ids=["424242", "SAFETY 101 (old)"])) == []
    listed = await collect(target.list_progress(course_ids=["sis_course_id:SAFETY-101", "999999"]))

    assert {p.course_id for p in listed} == {"sis_course_id:SAFETY-101"} and len(listed) == 3
    assert requests_to(fake, "/enrollments") == [f"/api/v1/courses/{safety}/enrollments"]


async def test_since_is_ignored_so_every_enrolment_is_listed(target: CanvasTarget, fake: FakeCanvas) -> None:
    _, safety, _ = seeded(fake)

    listed = await collect(target.list_progress(course_ids=[str(safety)], since=datetime(2030, 1, 1, tzinfo=UTC)))

    assert len(listed) == 3


async def test_both_lists_page_through_link_headers(config: CanvasConfig, fake: FakeCanvas, clock: FakeClock) -> None:
    _, safety, _ = seeded(fake)
    fake.require(safety, 2)
    for n in range(20):
        user = fake.add_user("Paged", f"Learner {n:02}", f"paged{n}", sis_user_id=f"P-{n}")
        enrol(fake, user, safety)
        fake.meet(user, safety, 2 if n % 2 else 0, DONE)
    config = config.model_copy(update={"per_page": 10})

    async with build_client(config, transport=fake.transport()) as http:
        target = CanvasTarget(config, http, retry=ReadRetry(attempts=2, clock=clock))
        listed = await collect(target.list_progress(course_ids=[str(safety)]))

    assert len(listed) == 23 and len({p.account_id for p in listed}) == 23
    assert sum(p.state is ProgressState.COMPLETED for p in listed) == 10
    assert len(requests_to(fake, "/enrollments")) == 3 and len(requests_to(fake, "/bulk_user_progress")) == 3


async def test_a_progress_change_shows_on_the_next_read(target: CanvasTarget, fake: FakeCanvas) -> None:
    (learner, *_), safety, _ = seeded(fake)
    before = by_account(await collect(target.list_progress(course_ids=[str(safety)])))
    fake.visit(learner, safety, VISITED)
    after = by_account(await collect(target.list_progress(course_ids=[str(safety)])))

    assert (before[str(learner)].state, after[str(learner)].state) == (
        ProgressState.NOT_STARTED,
        ProgressState.IN_PROGRESS,
    )


async def test_a_throttled_read_waits_and_completes(target: CanvasTarget, fake: FakeCanvas, clock: FakeClock) -> None:
    """Canvas throttles with 403 `Rate Limit Exceeded` and no Retry-After: the read backs off and goes on."""
    (learner, *_), safety, _ = seeded(fake)
    fake.visit(learner, safety, VISITED)
    fake.fail_next(1, status=403, body=b"403 Forbidden (Rate Limit Exceeded)\n")
    fake.fail_next(
        1, status=403, body=b"403 Forbidden (Rate Limit Exceeded)\n", when=lambda r: "progress" in str(r.url)
    )

    listed = by_account(await collect(target.list_progress(course_ids=[str(safety)])))

    assert listed[str(learner)].state is ProgressState.IN_PROGRESS and len(listed) == 3
    assert fake.faults_served == 2 and len(clock.sleeps) == 2


async def test_a_refused_token_fails_the_read(bad_config: CanvasConfig, fake: FakeCanvas, clock: FakeClock) -> None:
    _, safety, _ = seeded(fake)
    async with build_client(bad_config, transport=fake.transport()) as http:
        target = CanvasTarget(bad_config, http, retry=ReadRetry(attempts=2, clock=clock))
        with pytest.raises(AuthError):
            await collect(target.list_progress(course_ids=[str(safety)]))


async def test_a_concluded_learner_keeps_completed_though_module_progress_omits_them(
    target: CanvasTarget, fake: FakeCanvas
) -> None:
    (learner, other, _), safety, _ = seeded(fake)
    fake.require(safety, 2)
    fake.visit(learner, safety, VISITED)
    fake.meet(learner, safety, 1, VISITED)
    fake.conclude(learner, safety, DONE)  # concluded halfway: bulk_user_progress lists active students only
    fake.meet(other, safety, 2, VISITED)

    listed = by_account(await collect(target.list_progress(course_ids=[str(safety)])))

    assert (listed[str(learner)].state, listed[str(learner)].completed_at) == (ProgressState.COMPLETED, at(DONE))
    assert listed[str(learner)].percent is None
    assert (listed[str(other)].state, listed[str(other)].completed_at) == (ProgressState.COMPLETED, at(VISITED))


async def test_a_finished_enrolment_is_held_and_never_reopened(target: CanvasTarget, fake: FakeCanvas) -> None:
    """A teacher concluded it after the learner worked in the course: listed as held (so a full run plans no enrol),
    an enrol answers `already` without a write, and it still reads completed."""
    (learner, unstarted, _), safety, _ = seeded(fake)
    fake.visit(learner, safety, VISITED)
    fake.conclude(learner, safety, DONE)
    fake.conclude(unstarted, safety, DONE)
    writes = len(fake.writes)

    held = {e.account_id: e.started for e in await collect(target.list_enrolments(course_ids=[str(safety)]))}
    [kept] = await target.apply([Enrol(hr_id="L", account_id=str(learner), course_id=str(safety))])

    assert held[str(learner)] is True and str(unstarted) not in held
    assert kept.outcome == "already" and len(fake.writes) == writes
    assert fake.student_enrollment(learner, safety).enrollment_state == "completed"
    [revived] = await target.apply([Enrol(hr_id="U", account_id=str(unstarted), course_id=str(safety))])
    assert revived.outcome == "done" and fake.student_enrollment(unstarted, safety).enrollment_state == "active"
    listed = by_account(await collect(target.list_progress(course_ids=[str(safety)])))
    assert listed[str(learner)].state is ProgressState.COMPLETED


@pytest.mark.parametrize("status", [400, 404])
async def test_no_module_progress_endpoint_reads_activity_only(
    target: CanvasTarget, fake: FakeCanvas, status: int
) -> None:
    """An instance without `bulk_user_progress` (404) or refusing it for a course that is not module based (400)."""
    (fresh, working, _), safety, _ = seeded(fake)
    fake.visit(working, safety, VISITED)
    body = b'{"errors":[{"message":"not module based"}]}'
    fake.fail_next(1, status=status, body=body, when=lambda r: r.url.path.endswith("/bulk_user_progress"))

    listed = by_account(await collect(target.list_progress(course_ids=[str(safety)])))

    assert (listed[str(fresh)].state, listed[str(working)].state) == (
        ProgressState.NOT_STARTED,
        ProgressState.IN_PROGRESS,
    )
    assert fake.faults_served == 1
