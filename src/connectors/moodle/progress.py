"""Enrolment progress read back from Moodle (issue 16): read only, never a write.

Per course: `core_course_get_courses` says whether completion tracking is on (`enablecompletion`, one call for
all courses), `core_enrol_get_enrolled_users` lists the participants with `lastcourseaccess` (their last
activity), and for each participant who has opened the course `core_completion_get_course_completion_status`
says whether they completed it; the completion date is the latest criterion's `timecompleted` (the function
returns no course-level date). A learner who never opened the course is `not_started` without a completion call,
which keeps a large roster to one call per active learner; a completion a teacher marks for someone who never
opened the course is missed until they do. Moodle's course completion has no "failed" state, so none is reported.

Completion answers that mean "nothing to report" are not errors here: `cannotviewreport` (tracking off),
`usernotenroled` (not a tracked learner: a suspended enrolment or a non-student role) and `nocriteriaset` (no
criteria) leave the learner in progress by their last access. Auth and transient errors propagate.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from enrolsync.connectors.errors import AuthError, ConnectorError, NotFound, PermanentError, TransientError
from enrolsync.connectors.model import Progress, ProgressState
from enrolsync.connectors.moodle.client import MoodleClient
from enrolsync.connectors.moodle.errors import error_code
from enrolsync.connectors.moodle.mapping import numeric_id

NOTHING_TO_REPORT = frozenset({"cannotviewreport", "usernotenroled", "nocriteriaset"})
# Beyond the functions a sync needs: without it in the token's service, a progress read fails (check() says so).
PROGRESS_FUNCTIONS = frozenset({"core_completion_get_course_completion_status"})


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Course(_Wire):
    id: int
    enablecompletion: int = 0


class _Criterion(_Wire):
    complete: bool = False
    timecompleted: int | None = None


class _Status(_Wire):
    completed: bool = False
    completions: tuple[_Criterion, ...] = ()


class _Answer(_Wire):
    completionstatus: _Status


class _Participant(_Wire):
    id: int
    lastcourseaccess: int = 0


_COURSES = TypeAdapter(list[_Course])
_PARTICIPANTS = TypeAdapter(list[_Participant])


def _at(timestamp: int | None) -> datetime | None:
    return datetime.fromtimestamp(timestamp, UTC) if timestamp else None


async def _completion(client: MoodleClient, course_id: int, user_id: int) -> _Status | None:
    """The learner's completion status, or None when Moodle has none to report for them."""
    try:
        body = await client.read(
            "core_completion_get_course_completion_status", {"courseid": course_id, "userid": user_id}
        )
    except (AuthError, TransientError):
        raise
    except ConnectorError as error:
        if error_code(error) in NOTHING_TO_REPORT or isinstance(error, NotFound):
            return None
        raise
    try:
        return _Answer.model_validate(body).completionstatus
    except ValidationError as error:
        raise PermanentError("unexpected answer shape from core_completion_get_course_completion_status") from error


def _progress(user_id: int, course_id: int, last: int, status: _Status | None) -> Progress:
    state = ProgressState.IN_PROGRESS if last else ProgressState.NOT_STARTED
    completed_at = None
    if status is not None and status.completed:
        state = ProgressState.COMPLETED
        completed_at = _at(max((c.timecompleted or 0 for c in status.completions), default=0))
    elif status is not None and any(c.complete for c in status.completions):
        state = ProgressState.IN_PROGRESS
    return Progress(
        account_id=str(user_id),
        course_id=str(course_id),
        state=state,
        completed_at=completed_at,
        last_activity_at=_at(last),
    )


async def read_progress(client: MoodleClient, course_ids: Collection[str]) -> AsyncIterator[Progress]:
    """Every participant's progress in `course_ids` (Moodle course ids; others are skipped), course by course."""
    wanted = sorted({n for c in course_ids if (n := numeric_id(c)) is not None})
    if not wanted:
        return
    body = await client.read("core_course_get_courses", {"options": {"ids": wanted}})
    try:
        courses = _COURSES.validate_python(body)
    except ValidationError as error:
        raise PermanentError("unexpected answer shape from core_course_get_courses") from error
    for course in courses:
        if course.id not in wanted:
            continue
        try:
            roster = _PARTICIPANTS.validate_python(
                await client.read(
                    "core_enrol_get_enrolled_users",
                    {"courseid": course.id, "options": [{"name": "userfields", "value": "id,lastcourseaccess"}]},
                )
            )
        except NotFound:
            continue  # deleted since the course list was read
        except ValidationError as error:
            raise PermanentError("unexpected answer shape from core_enrol_get_enrolled_users") from error
        for participant in roster:
            last = participant.lastcourseaccess
            tracked = course.enablecompletion and last
            status = await _completion(client, course.id, participant.id) if tracked else None
            yield _progress(participant.id, course.id, last, status)
