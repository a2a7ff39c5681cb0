"""Course completion for the fake, after moodle/moodle `completion/classes/external.php`
(`core_completion_external::get_course_completion_status`) and `lib/completionlib.php`.

A course tracks completion only when `enablecompletion` is on (`FakeCourse.enablecompletion`, as the course
settings page sets it) and completes when all of its criteria are (aggregation 1, "all", the default). Each
criterion here is an activity (criteria type 4, `COMPLETION_CRITERIA_TYPE_ACTIVITY`). The function answers as
Moodle does, in order: an unknown course or user is `invalidrecord`; completion off for the course is
`cannotviewreport` (`completion_can_view_data` checks it); a user not tracked in the course (not enrolled, an
enrolment suspended, or no gradebook role such as student) is `usernotenroled`; a course without criteria is
`nocriteriaset`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from enrolsync.connectors.moodle.fake.params import Single, Value, missing_record, moodle_exception

if TYPE_CHECKING:
    from enrolsync.connectors.moodle.fake.site import SiteState

ACTIVITY_CRITERION = 4  # COMPLETION_CRITERIA_TYPE_ACTIVITY (completion/criteria/completion_criteria.php)
AGGREGATION_ALL = 1  # COMPLETION_AGGREGATION_ALL
GRADEBOOK_ROLES = frozenset({"student"})  # $CFG->gradebookroles on a fresh install: the tracked learners


@dataclass
class CompletionBook:
    """Each course's completion criteria (activity names) and when each user completed each one."""

    criteria: dict[int, list[str]] = field(default_factory=dict)
    done: dict[tuple[int, int], dict[str, int]] = field(default_factory=dict)  # (user, course) -> name -> time

    def set_criteria(self, course_id: int, *activities: str) -> None:
        self.criteria[course_id] = list(activities)

    def mark(self, user_id: int, course_id: int, activity: str, at: int) -> None:
        """The learner completed one activity at unix time `at` (what cron records from activity completion)."""
        self.done.setdefault((user_id, course_id), {})[activity] = at

    def complete(self, user_id: int, course_id: int, at: int) -> None:
        """The learner completed every criterion of the course at `at`."""
        for activity in self.criteria.get(course_id, []):
            self.mark(user_id, course_id, activity, at)


PARAMETERS = Single({"courseid": Value("int"), "userid": Value("int")})


def _tracked(state: SiteState, user_id: int, course_id: int) -> bool:
    """`completion_info::is_tracked_user`: an active enrolment and a gradebook role in the course."""
    enrolment = state.enrolments.get((user_id, course_id))
    if enrolment is None or enrolment.get("status", 0) != 0:
        return False
    return any(role.shortname in GRADEBOOK_ROLES for role in state.course_roles(user_id, course_id))


def _row(activity: str, at: int | None) -> dict[str, Any]:
    return {
        "type": ACTIVITY_CRITERION,
        "title": "Activity completion",
        "status": "Yes" if at else "No",
        "complete": at is not None,
        "timecompleted": at,
        "details": {
            "type": "Activity completion",
            "criteria": activity,
            "requirement": "Marking yourself complete",
            "status": "",
        },
    }


def get_course_completion_status(state: SiteState, params: dict[str, Any], options: object) -> Any:
    course = state.courses.get(params["courseid"])
    if course is None:
        raise missing_record("course")
    if state.live_user(params["userid"]) is None:
        raise missing_record("user")
    if not course.enablecompletion:
        raise moodle_exception("cannotviewreport", "You cannot view this report")
    if not _tracked(state, params["userid"], course.id):
        raise moodle_exception("usernotenroled", "User is not enrolled in this course")
    activities = state.completion.criteria.get(course.id, [])
    if not activities:
        raise moodle_exception("nocriteriaset", "No completion criteria set for this course")
    done = state.completion.done.get((params["userid"], course.id), {})
    rows = [_row(activity, done.get(activity)) for activity in activities]
    return {
        "completionstatus": {
            "completed": all(row["complete"] for row in rows),
            "aggregation": AGGREGATION_ALL,
            "completions": rows,
        },
        "warnings": [],
    }
