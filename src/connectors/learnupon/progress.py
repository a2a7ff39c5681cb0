"""Enrolment progress read back from LearnUpon (issue 16): read only, never a write.

One paged list per course, `GET /enrollments/search?course_id=`, whose rows carry LearnUpon's own progress
(docs.learnupon.com/api, "Enrollment data attributes"):

- `status` `not_started` -> not started; `in_progress`, and `pending_review` (an assignment or exam awaiting an
  instructor) -> in progress; `completed` and `passed` -> completed; `failed` -> failed. An unknown status reads as
  in progress once the learner has opened the course (`date_started`), else not started.
- `date_completed` dates a completion or a failure; `date_lastaccessed` is the last activity;
  `percentage_complete` (modules completed) is the percent. `percentage` is the learner's score, not progress, and
  is not read.
- A row marked `unenrolled` is an ended enrolment and is not listed.

`since` is not sent: `date_from` / `date_to` are documented only as "start/end date filter", not as a filter on
when an enrolment changed, so an incremental read through them could miss a completion; every enrolment is listed.
A course LearnUpon does not know (it may answer 404) and an id that is not a LearnUpon id are skipped.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from datetime import datetime

from enrolsync.connectors.errors import NotFound
from enrolsync.connectors.kit.instants import require_instant
from enrolsync.connectors.learnupon.apply import numeric
from enrolsync.connectors.learnupon.client import LearnUponClient
from enrolsync.connectors.learnupon.models import LuEnrollment
from enrolsync.connectors.model import Progress, ProgressState

STATES = {
    "not_started": ProgressState.NOT_STARTED,
    "in_progress": ProgressState.IN_PROGRESS,
    "pending_review": ProgressState.IN_PROGRESS,
    "completed": ProgressState.COMPLETED,
    "passed": ProgressState.COMPLETED,
    "failed": ProgressState.FAILED,
}
_FINISHED = frozenset({ProgressState.COMPLETED, ProgressState.FAILED})


def _at(text: str | None) -> datetime | None:
    return require_instant(text, source="LearnUpon")


def to_progress(row: LuEnrollment) -> Progress:
    state = STATES.get(row.status)
    if state is None:
        state = ProgressState.IN_PROGRESS if row.date_started else ProgressState.NOT_STARTED
    percent = row.percentage_complete
    return Progress(
        account_id=str(row.user_id),
        course_id=str(row.course_id),
        state=state,
        completed_at=_at(row.date_completed) if state in _FINISHED else None,
        last_activity_at=_at(row.date_lastaccessed),
        percent=None if percent is None else min(max(percent, 0.0), 100.0),
    )


async def read_progress(client: LearnUponClient, course_ids: Collection[str]) -> AsyncIterator[Progress]:
    """Every enrolment's progress in `course_ids` (LearnUpon course ids; others skipped), course by course."""
    for course_id in sorted({n for c in course_ids if (n := numeric(c)) is not None}):
        try:
            rows = await client.enrollments(course_id=course_id)
        except NotFound:
            continue
        for row in rows:
            if not row.unenrolled:
                yield to_progress(row)
