"""Enrolment progress read back from Moodle (issue 16): read only, never a write.

Per course: `core_course_get_courses` says whether completion tracking is on (`enablecompletion`, one call for
all courses), `core_enrol_get_enrolled_users` lists the participants with `lastcourseaccess` (their last
activity), and `core_completion_get_course_completion_status` says whether a participant completed the course
(`completion.read_completion`; its date is the latest criterion's `timecompleted`, as the function returns no
course-level date). Moodle's course completion has no "failed" state, so none is reported.

A full read (`since=None`) asks the completion of every participant of a course that tracks completion who
opened it; one who never did is `not_started` without a call, unless the connection sets
`completion_of_unopened` (a teacher may mark a course complete for someone who never opened it, as for offline
training; that costs one call per such enrolment on every full read, which on a 5,000-person company at a
site's request budget adds minutes to each full run, so it is the admin's choice). An incremental read
(`since` set) costs one roster call per course and a completion call only for the participants who opened the
course at or after `since`; the others are not listed at all, so the engine keeps what it stored for them
(listing them without asking would report a stored completion as not started). What an incremental read
misses, the next full read catches: a completion marked by a teacher, or by Moodle's completion task, for a
learner who has not opened the course since (one who never opened it only with `completion_of_unopened`); a new
participant who has never opened the course; a reset. Completion calls go out a few at a time (the client's
concurrency), course by course.
Moodle offers no "completions since" query (its completion functions take one learner and one course), and
`lastcourseaccess` is what Moodle itself updates on every visit, so it is the filter that saves calls.

Completion answers that mean "not tracked" (`cannotviewreport`, `usernotenroled`, `nocriteriaset`; see
`completion.py`) leave the learner in progress by their last access (not started without one). Other errors
propagate.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, TypeAdapter

from enrolsync.connectors.errors import NotFound
from enrolsync.connectors.kit.batching import all_of
from enrolsync.connectors.model import Progress, ProgressState
from enrolsync.connectors.moodle.client import MoodleClient
from enrolsync.connectors.moodle.completion import Completion, read_completion
from enrolsync.connectors.moodle.mapping import numeric_id


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Course(_Wire):
    id: int
    enablecompletion: int = 0


class _Participant(_Wire):
    id: int
    lastcourseaccess: int = 0


_COURSES = TypeAdapter(list[_Course])
_PARTICIPANTS = TypeAdapter(list[_Participant])


def _at(timestamp: int | None) -> datetime | None:
    return datetime.fromtimestamp(timestamp, UTC) if timestamp else None


def _progress(user_id: int, course_id: int, last: int, completion: Completion | None) -> Progress:
    completed = completion is not None and completion.completed
    state = ProgressState.COMPLETED if completed else ProgressState.IN_PROGRESS if last else ProgressState.NOT_STARTED
    return Progress(
        account_id=str(user_id),
        course_id=str(course_id),
        state=state,
        completed_at=completion.completed_at if completion is not None and completed else None,
        last_activity_at=_at(last),
    )


async def read_progress(
    client: MoodleClient, course_ids: Collection[str], since: datetime | None = None, *, unopened: bool = False
) -> AsyncIterator[Progress]:
    """Every participant's progress in `course_ids` (Moodle course ids; others are skipped), course by course;
    with `since`, only the participants who opened the course at or after it. `unopened`: a full read asks the
    completion of participants who never opened the course too."""
    after = int(since.timestamp()) if since is not None else None
    wanted = sorted({n for c in course_ids if (n := numeric_id(c)) is not None})
    if not wanted:
        return
    courses = await client.read_list(_COURSES, "core_course_get_courses", {"options": {"ids": wanted}})
    for course in courses:
        if course.id not in wanted:
            continue
        options = [{"name": "userfields", "value": "id,lastcourseaccess"}]
        try:
            roster = await client.read_list(
                _PARTICIPANTS, "core_enrol_get_enrolled_users", {"courseid": course.id, "options": options}
            )
        except NotFound:
            continue  # deleted since the course list was read
        if after is not None:  # not seen in the course since the last read: what is stored for them stands
            roster = [p for p in roster if p.lastcourseaccess >= after]
        asked = [p for p in roster if course.enablecompletion and (p.lastcourseaccess or unopened)]
        completions: dict[int, Completion | None] = {}
        step = client.concurrency
        for start in range(0, len(asked), step):
            wave = asked[start : start + step]
            answers = await all_of(read_completion(client, p.id, course.id) for p in wave)
            completions.update(zip((p.id for p in wave), answers, strict=True))
        for participant in roster:
            yield _progress(participant.id, course.id, participant.lastcourseaccess, completions.get(participant.id))
