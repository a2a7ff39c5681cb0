"""core_completion_get_course_completion_status, after moodle/moodle `completion/classes/external.php`.

The course is read first (`invalidrecord` when missing), then the user (MUST_EXIST); completion_can_view_data()
refuses with `cannotviewreport` when completion is off on the site or in the course; a user the course does not
track (not enrolled with a role counted in completion reports: teachers are not) is `usernotenroled`; a course
without criteria is `nocriteriaset`. The fake's courses have one criterion, manual self completion (type 1).
"""

from __future__ import annotations

from typing import Any

from enrolsync.connectors.moodle.fake.params import missing_record, moodle_exception
from enrolsync.connectors.moodle.fake.site import SiteState
from enrolsync.connectors.moodle.fake.users import Options

SELF_COMPLETION = 1  # COMPLETION_CRITERIA_TYPE_SELF
TRACKED_ROLES = frozenset({"student"})  # roles with moodle/course:isincompletionreports on a fresh install


def get_course_completion_status(state: SiteState, params: dict[str, Any], options: Options) -> Any:
    course = state.courses.get(params["courseid"])
    if course is None:
        raise missing_record("course")
    user = state.users.get(params["userid"])
    if user is None:
        raise missing_record("user")
    if not (options.completion and course.completion):
        raise moodle_exception("cannotviewreport", "You cannot view this report")
    roles = {r.shortname for r in state.course_roles(user.id, course.id)}
    if (user.id, course.id) not in state.enrolments or not roles & TRACKED_ROLES:
        raise moodle_exception("usernotenroled", "User is not enrolled in this course")
    if not course.criteria:
        raise moodle_exception("nocriteriaset", "No completion criteria set for this course")
    done_at = state.completed.get((user.id, course.id))
    criterion = {
        "type": SELF_COMPLETION,
        "title": "Self completion",
        "status": "Yes" if done_at else "No",
        "complete": done_at is not None,
        "timecompleted": done_at,
        "details": {
            "type": "Self completion",
            "criteria": "",
            "requirement": "Marking yourself complete",
            "status": "",
        },
    }
    completion = {"completed": done_at is not None, "aggregation": 1, "completions": [criterion]}
    return {"completionstatus": completion, "warnings": []}
