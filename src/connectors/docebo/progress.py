"""Enrolment progress read back from Docebo (issue 16): read only, a few paged reads for all managed courses.

`GET /course/v1/courses/enrollments?course_id[]=...` (the course service's enrolment list, 200 a page, `page` /
`page_size` / `has_more_data` like every Docebo list) answers each enrolment with `enrollment_status`,
`enrollment_completion_date` and `enrollment_date_last_updated` (and a score, which enrolsync does not keep); dates are
`YYYY-MM-DD HH:MM:SS` in UTC. Courses are asked for `COURSES_PER_READ` at a time, so the query string stays short.

Mapping: `completed` -> completed (its completion date); `in_progress` -> in progress; anything else
(`enrolled`, `subscribed`, `waiting`, `suspended`, ...) -> not started. Docebo's course enrolments have no
failed state (pass or fail belongs to a course's training materials), so none is reported. The last activity is
the enrolment's last update, for started enrolments only (Docebo's list carries no last-access time of its
own). Only learners (`student`) are reported. `since` is ignored: no time filter of this list is documented.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from datetime import UTC, datetime

from enrolsync.connectors.docebo import mapping
from enrolsync.connectors.docebo.client import DoceboClient
from enrolsync.connectors.docebo.models import CourseEnrollment
from enrolsync.connectors.model import Progress, ProgressState

COURSE_ENROLLMENTS = "course/v1/courses/enrollments"
COURSES_PER_READ = 50
STUDENT = "student"
_STATES = {"completed": ProgressState.COMPLETED, "in_progress": ProgressState.IN_PROGRESS}


def moment(text: str | None) -> datetime | None:
    """Docebo's `YYYY-MM-DD HH:MM:SS` (UTC) as a tz-aware time; None for an empty or unreadable value."""
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def to_progress(item: CourseEnrollment) -> Progress:
    state = _STATES.get((item.enrollment_status or "").strip().casefold(), ProgressState.NOT_STARTED)
    started = state is not ProgressState.NOT_STARTED
    return Progress(
        account_id=str(item.user_id),
        course_id=str(item.course_id),
        state=state,
        completed_at=moment(item.enrollment_completion_date) if state is ProgressState.COMPLETED else None,
        last_activity_at=moment(item.enrollment_date_last_updated) if started else None,
    )


async def read_progress(client: DoceboClient, course_ids: Collection[str]) -> AsyncIterator[Progress]:
    """Every learner's progress in `course_ids` (Docebo course ids; others and unknown ones are skipped)."""
    wanted = sorted({n for c in course_ids if (n := mapping.numeric(c)) is not None})
    for start in range(0, len(wanted), COURSES_PER_READ):
        chunk = wanted[start : start + COURSES_PER_READ]
        async for page in client.pages(COURSE_ENROLLMENTS, CourseEnrollment, **{"course_id[]": chunk}):
            for item in page:
                if item.course_id in chunk and (item.enrollment_level or STUDENT) == STUDENT:
                    yield to_progress(item)
