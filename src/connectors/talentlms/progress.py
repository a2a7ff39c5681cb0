"""Enrolment progress read back from TalentLMS (issue 16): read only, one call per managed course.

`GET /api/v2/courses/{id}` answers the course with its `users[]`, each with the completion status, the completion
percentage and, once completed, when (`completed_on` / `completed_on_timestamp`): the same read `list_enrolments`
makes, so a full run's progress costs one call per course (not per learner) within the 2,000-an-hour budget.
Only learners are reported (an instructor's role in a course is not learning).

Mapping: `completed` -> completed (with its date); `incomplete` -> in progress; `not_attempted` -> not started;
another or missing status falls back on the percentage (above 0: in progress). The roster has no last access
and no "did not pass" status (TalentLMS records a failed course only as a timeline event), so neither is
reported: `last_activity_at` stays empty and a learner who failed shows as in progress. `since` is ignored:
the course read has no time filter.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from datetime import UTC, datetime

from enrolsync.connectors.errors import NotFound
from enrolsync.connectors.model import Progress, ProgressState
from enrolsync.connectors.talentlms import mapping
from enrolsync.connectors.talentlms.client import TalentLMSClient
from enrolsync.connectors.talentlms.models import CourseDetail, CourseUser

_STATES = {
    "completed": ProgressState.COMPLETED,
    "incomplete": ProgressState.IN_PROGRESS,
    "not_attempted": ProgressState.NOT_STARTED,
}


def completed_at(user: CourseUser) -> datetime | None:
    """When the course was completed: the timestamp (seconds) when given, else the ISO date-time."""
    stamp = user.completed_on_timestamp
    if isinstance(stamp, int) or (isinstance(stamp, str) and stamp.isdigit()):
        return datetime.fromtimestamp(int(stamp), UTC)
    if user.completed_on:
        try:
            parsed = datetime.fromisoformat(user.completed_on)
        except ValueError:
            return None  # v1's "dd/mm/YYYY, HH:MM:SS" in the portal's time zone: not a moment we can place
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def to_progress(user: CourseUser, course_id: int) -> Progress:
    status = (user.completion_status or "").strip().casefold()
    percent = min(max(user.completion_percentage, 0), 100)
    state = _STATES.get(status) or (ProgressState.IN_PROGRESS if percent > 0 else ProgressState.NOT_STARTED)
    return Progress(
        account_id=str(user.id),
        course_id=str(course_id),
        state=state,
        completed_at=completed_at(user) if state is ProgressState.COMPLETED else None,
        percent=percent,
    )


async def read_progress(client: TalentLMSClient, course_ids: Collection[str]) -> AsyncIterator[Progress]:
    """Every learner's progress in `course_ids` (TalentLMS course ids; others and unknown ones are skipped)."""
    for course_id in sorted({n for c in course_ids if (n := mapping.numeric(c)) is not None}):
        try:
            course = await client.get(f"api/v2/courses/{course_id}", CourseDetail)
        except NotFound:  # deleted, or never there
            continue
        for user in course.users:
            if user.role == "learner":
                yield to_progress(user, course.id)
