"""Course completion read back through core_completion_get_course_completion_status (one learner, one course).

Moodle answers with an error, not a status, when it does not track the learner's completion: `cannotviewreport`
when completion is off on the site or in the course, `usernotenroled` for someone the course does not track (not
enrolled, or enrolled only as a teacher), `nocriteriaset` for a course without completion criteria
(moodle/moodle `completion/classes/external.php`). Those read as "not tracked"; other errors raise.

Not yet a declared capability: progress read-back (issue 16) will call `read_completion` per enrolment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from enrolsync.connectors.errors import ConnectorError, Invalid
from enrolsync.connectors.moodle.client import MoodleClient, parse
from enrolsync.connectors.moodle.errors import error_code
from enrolsync.connectors.moodle.models import CompletionAnswer

FUNCTION = "core_completion_get_course_completion_status"
NOT_TRACKED = frozenset({"cannotviewreport", "usernotenroled", "nocriteriaset"})


@dataclass(frozen=True)
class Completion:
    tracked: bool  # the course tracks this learner's completion (completion on, criteria set, enrolled as learner)
    completed: bool = False
    completed_at: datetime | None = None


async def read_completion(client: MoodleClient, user_id: int, course_id: int) -> Completion:
    """The learner's completion of the course. Raises `ConnectorError` for anything but "not tracked"."""
    try:
        body = await client.read(FUNCTION, {"courseid": course_id, "userid": user_id})
    except ConnectorError as error:
        if error_code(error) in NOT_TRACKED:
            return Completion(tracked=False)
        raise
    status = parse(CompletionAnswer, body, FUNCTION).completionstatus
    if not status.completed:
        return Completion(tracked=True)
    # Course completion is stamped by a cron task; the criteria carry the times until it runs.
    times = [c.timecompleted for c in status.completions if c.complete and c.timecompleted]
    when = datetime.fromtimestamp(max(times), tz=UTC) if times else None
    return Completion(tracked=True, completed=True, completed_at=when)


def ids(account_id: str, course_id: str) -> tuple[int, int]:
    """Moodle record ids for an account and a course. Raises `Invalid` for anything else."""
    if not (account_id.isdigit() and course_id.isdigit()):
        raise Invalid("account and course ids must be Moodle record ids")
    return int(account_id), int(course_id)
