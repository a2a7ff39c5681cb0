"""Course enrolments by type or custom role: enrol, end (conclude or deactivate, never delete), list with progress.

Canvas keeps one enrolment per user, section and role: enrolling someone whose enrolment was concluded makes that
same record active again (`Course#enroll_user`), and a deactivated one is reactivated, so grades and submissions
carry over a re-enrolment. Courses may be named by id or `sis_course_id:<id>`; each is looked up once per connector.

A concluded enrolment the learner had been active in is a finished course (a teacher concluded it; enrolsync
concludes only unstarted ones unless `conclude_started`): it is listed as held and an enrol answers `already`, so a
full run never reopens it, and its completion stays readable as progress. A concluded enrolment without activity is
an ended one, revived by the next enrol.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection

from enrolsync.connectors.canvas.client import CanvasClient
from enrolsync.connectors.canvas.config import CanvasConfig
from enrolsync.connectors.canvas.mapping import Form
from enrolsync.connectors.canvas.models import Course, Enrollment
from enrolsync.connectors.errors import NotFound
from enrolsync.connectors.model import Enrolment, ExternalRef
from enrolsync.connectors.ops import OpResult

LIVE = ("active", "invited")
ANY_STATE = ("active", "invited", "inactive", "completed")


def finished(enrollment: Enrollment) -> bool:
    """Concluded after the learner was active in the course: their training record, kept as it is."""
    return enrollment.enrollment_state == "completed" and enrollment.started


_TASKS = {"conclude": "conclude", "deactivate": "deactivate"}


def enrolment_ref(user_id: int | str, course: str) -> ExternalRef:
    return ExternalRef(kind="enrolment", id=f"{user_id}:{course}")


def course_path(course: str) -> str | None:
    """`courses/<ref>` for a course id or SIS course id reference, or None for anything else."""
    if course.isdigit() or (course.startswith("sis_course_id:") and len(course) > len("sis_course_id:")):
        return course
    return None


class Enrolments:
    def __init__(self, client: CanvasClient, config: CanvasConfig) -> None:
        self._client = client
        self._config = config
        self._courses: dict[str, Course | None] = {}

    async def course(self, ref: str) -> Course | None:
        """The course `ref` names, or None when Canvas has none (or it is deleted)."""
        if ref not in self._courses:
            path = course_path(ref)
            try:
                found = await self._client.one(Course, f"courses/{path}") if path else None
            except NotFound:
                found = None
            self._courses[ref] = found if found is None or found.workflow_state != "deleted" else None
        return self._courses[ref]

    def matches(self, enrollment: Enrollment, role: str) -> bool:
        """Whether an enrolment has the Canvas role `role` (a base type, or a custom role id)."""
        if role.isdigit():
            return enrollment.role_id == int(role)
        return enrollment.type == role and enrollment.role == role and enrollment.associated_user_id is None

    async def held(self, user_id: int, course: Course, role: str) -> list[Enrollment]:
        params: Form = [("user_id", user_id), *(("state[]", s) for s in ANY_STATE)]
        found = await self._client.every(Enrollment, f"courses/{course.id}/enrollments", params)
        return [e for e in found if self.matches(e, role)]

    async def ensure(self, user: str | None, course_ref: str, role: str) -> OpResult:
        """The user holds `role` in the course: `already` if active or invited, else reactivated or enrolled."""
        user_id, course = await self._resolve(user, course_ref)
        if isinstance(course, OpResult) or user_id is None:
            return course if isinstance(course, OpResult) else OpResult.failed("account ids are Canvas user ids")
        held = await self.held(user_id, course, role)
        ref = enrolment_ref(user_id, course_ref)
        if any(e.enrollment_state in LIVE or finished(e) for e in held):
            return OpResult.already(ref)
        inactive = [e for e in held if e.enrollment_state == "inactive"]
        if inactive:
            await self._client.write("PUT", f"courses/{course.id}/enrollments/{inactive[0].id}/reactivate")
            return OpResult.done(ref)
        kind = ("enrollment[role_id]", role) if role.isdigit() else ("enrollment[type]", role)
        form: Form = [("enrollment[user_id]", user_id), kind, ("enrollment[enrollment_state]", "active"),
                ("enrollment[notify]", False)]  # fmt: skip
        await self._client.write("POST", f"courses/{course.id}/enrollments", form)
        return OpResult.done(ref)

    async def end(self, user: str | None, course_ref: str, role: str, *, keep_started: bool) -> OpResult:
        """End the user's live enrolments with `role` (conclude or deactivate, per config); `already` when there
        is none, or when the learner has been active in the course and `keep_started` (their training record)."""
        user_id, course = await self._resolve(user, course_ref)
        if isinstance(course, OpResult) or user_id is None:
            return course if isinstance(course, OpResult) else OpResult.failed("account ids are Canvas user ids")
        live = [e for e in await self.held(user_id, course, role) if e.enrollment_state in LIVE]
        ref = enrolment_ref(user_id, course_ref)
        if not live or (keep_started and any(e.started for e in live)):
            return OpResult.already(ref)
        task = _TASKS[self._config.unenrol_task]
        for enrollment in live:
            await self._client.write(
                "DELETE", f"courses/{course.id}/enrollments/{enrollment.id}", params=[("task", task)]
            )
        return OpResult.done(ref)

    async def _resolve(self, user: str | None, course_ref: str) -> tuple[int | None, Course | OpResult]:
        user_id = int(user) if user and user.isdigit() else None
        course = await self.course(course_ref)
        if course is None:
            return user_id, OpResult.failed("course not found", status=404)
        return user_id, course

    async def live(self, course: Course, role: str, *, with_finished: bool = False) -> list[Enrollment]:
        """The course's active and invited enrolments with `role` (and finished ones, when asked)."""
        states = (*LIVE, "completed") if with_finished else LIVE
        params: Form = [*(("state[]", s) for s in states)]
        if not role.isdigit():
            params.append(("type[]", role))
        found = await self._client.every(Enrollment, f"courses/{course.id}/enrollments", params)
        return [e for e in found if self.matches(e, role) and (e.enrollment_state in LIVE or finished(e))]

    async def listed(self, course_refs: Collection[str] | None, account_id: str) -> AsyncIterator[Enrolment]:
        """Learner enrolments with progress, in the named courses (unknown ones skipped) or all of the account's:
        live ones and finished ones (concluded after activity), one per learner."""
        if course_refs is None:
            courses = await self._client.every(Course, f"accounts/{account_id}/courses")
            pairs = [(str(c.id), c) for c in courses]
        else:
            pairs = [(ref, c) for ref in sorted(set(course_refs)) if (c := await self.course(ref)) is not None]
        learner = self._config.course_roles["learner"]
        for ref, course in pairs:
            held = {e.user_id: e for e in await self.live(course, learner, with_finished=True)}
            for e in held.values():
                yield Enrolment(account_id=str(e.user_id), course_id=ref, started=e.started)
