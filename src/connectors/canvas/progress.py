"""Enrolment progress read back from Canvas (issue 16): read only, never a write.

Per course, two paged lists (`Link` headers): the learner enrolments (`GET /courses/:id/enrollments` with
`type[]=StudentEnrollment` and every `state[]` a learner can be in) give Canvas's own activity record
(`last_activity_at`, `total_activity_time`) and the enrolment's state; `GET /courses/:id/bulk_user_progress` gives
each student's module progress (completion requirements met, and `completed_at` once all are), which is what Canvas
itself calls completing a course. How they combine:

- module progress with `completed_at`: completed, on that date (percent = requirements met / requirements);
- enrolment concluded (`enrollment_state: completed`) after the learner was active: completed, dated by the
  enrolment's `updated_at` (the API gives no other date for a conclusion);
- enrolment concluded, or deactivated (`inactive`), before any activity: not listed; an ended enrolment, not a
  finished course (enrolsync's own unenrolment concludes unstarted ones);
- activity recorded (`last_activity_at`, `total_activity_time`) or a module requirement met: in progress;
- nothing yet: not started.

Canvas has no "failed": grades (`grades.current_score`, `final_score`) have no pass mark in the API, so none is
inferred from them. A course's own conclusion (`workflow_state: completed`) ends it for everyone and says nothing
about one learner, so it is not read as completion either. Canvas cannot filter enrolments by modification time,
so `since` is ignored and every enrolment is listed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Iterable
from datetime import datetime

from pydantic import ValidationError

from enrolsync.connectors.canvas.client import CanvasClient, parse
from enrolsync.connectors.canvas.enrolments import Enrolments
from enrolsync.connectors.canvas.models import Course, CourseProgress, Enrollment, UserProgress
from enrolsync.connectors.errors import NotFound, PermanentError
from enrolsync.connectors.kit.instants import require_instant
from enrolsync.connectors.model import Progress, ProgressState

STATES = ("active", "invited", "completed", "inactive")
ENDED = frozenset({"completed", "inactive"})
_PREFERENCE = {"active": 0, "invited": 0, "completed": 1, "inactive": 2}


def _at(text: str | None) -> datetime | None:
    return require_instant(text, source="Canvas")


def _modules(row: UserProgress) -> CourseProgress | None:
    """A student's module progress, or None where Canvas answers an error (no modules with requirements)."""
    if not row.progress or "error" in row.progress:
        return None
    try:
        return CourseProgress.model_validate(row.progress)
    except ValidationError as error:
        raise PermanentError("unexpected answer shape from bulk_user_progress") from error


def to_progress(enrollment: Enrollment, course_id: str, modules: CourseProgress | None) -> Progress | None:
    """One learner enrolment's progress, or None for an enrolment that ended before the learner began."""
    met = modules.requirement_completed_count if modules else 0
    percent = 100 * met / modules.requirement_count if modules and modules.requirement_count else None
    began = enrollment.started or met > 0
    done_at = _at(modules.completed_at) if modules else None
    if done_at is not None:
        state = ProgressState.COMPLETED
    elif enrollment.enrollment_state in ENDED and not began:
        return None
    elif enrollment.enrollment_state == "completed":
        state, done_at = ProgressState.COMPLETED, _at(enrollment.updated_at)
    else:
        state = ProgressState.IN_PROGRESS if began else ProgressState.NOT_STARTED
    return Progress(
        account_id=str(enrollment.user_id),
        course_id=course_id,
        state=state,
        completed_at=done_at,
        last_activity_at=_at(enrollment.last_activity_at),
        percent=min(percent, 100.0) if percent is not None else None,
    )


def _one_per_learner(found: Iterable[Enrollment]) -> list[Enrollment]:
    """One enrolment per learner (Canvas keeps one per section, so a learner in two sections has two): a live one
    before a concluded one before a deactivated one, in Canvas's id order."""
    best: dict[int, Enrollment] = {}
    for e in sorted(found, key=lambda e: (_PREFERENCE.get(e.enrollment_state, 3), e.id)):
        best.setdefault(e.user_id, e)
    return sorted(best.values(), key=lambda e: e.id)


async def module_progress(client: CanvasClient, course: Course) -> dict[int, CourseProgress]:
    """Each student's module progress in `course`; empty where Canvas has none to give (an instance without the
    endpoint answers 404, a course that is not module based may answer 400)."""
    path = f"courses/{course.id}/bulk_user_progress"
    found: dict[int, CourseProgress] = {}
    try:
        async for page in client.pages(path):
            for item in page:
                row = parse(UserProgress, item, path)
                if (modules := _modules(row)) is not None:
                    found[row.id] = modules
    except NotFound:
        return {}
    except PermanentError as error:
        if error.status == 400:
            return {}
        raise
    return found


async def read_progress(
    client: CanvasClient, enrolments: Enrolments, course_refs: Collection[str], learner: str
) -> AsyncIterator[Progress]:
    """Every learner enrolment's progress in the named courses (unknown ones skipped), course by course."""
    for ref in sorted(set(course_refs)):
        course = await enrolments.course(ref)
        if course is None:
            continue
        params: list[tuple[str, str | int | bool | None]] = [("state[]", s) for s in STATES]
        if not learner.isdigit():
            params.append(("type[]", learner))
        path = f"courses/{course.id}/enrollments"
        held = _one_per_learner(
            e for e in await client.every(Enrollment, path, params) if enrolments.matches(e, learner)
        )
        if not held:
            continue
        modules = await module_progress(client, course)
        for enrollment in held:
            progress = to_progress(enrollment, ref, modules.get(enrollment.user_id))
            if progress is not None:
                yield progress
