"""Enrolment and branch ops as Docebo calls: the batch enrolment, unenrolment of courses not started, and
branch (org chart) membership.

Docebo answers the batch enrolment row by row: a row for an enrolment that exists fails with "already enrolled",
which is `already` here; any other refused row fails that op only. A batch refused whole is split in halves.
"""

from __future__ import annotations

from collections.abc import Sequence

from enrolsync.connectors.docebo import mapping
from enrolsync.connectors.docebo.client import DoceboClient
from enrolsync.connectors.docebo.models import EnrollmentItem, Row, UserItem
from enrolsync.connectors.docebo.users import USERS, Users, account_id
from enrolsync.connectors.errors import Invalid, NotFound
from enrolsync.connectors.model import ExternalRef
from enrolsync.connectors.ops import AddToGroup, AssignRole, Enrol, OpResult, RemoveFromGroup, RevokeRole, Unenrol

ENROLLMENTS = "learn/v1/enrollments"
STUDENT = "student"  # Docebo's enrolment level for learners
ALREADY_ENROLLED = "already enrolled"  # Docebo's row message for an enrolment that exists


def _ref(user_id: int, course_id: int) -> ExternalRef:
    return ExternalRef(kind="enrolment", id=f"{user_id}:{course_id}")


class Enrolments:
    def __init__(self, client: DoceboClient, users: Users) -> None:
        self._client = client
        self._users = users

    async def enrol(self, ops: Sequence[Enrol]) -> list[OpResult]:
        """One `POST /learn/v1/enrollment/batch` for every op naming a course id Docebo could hold."""
        results: list[OpResult | None] = [None] * len(ops)
        rows: list[tuple[int, int, int, str]] = []  # (op index, user, course, level)
        for index, op in enumerate(ops):
            course = mapping.numeric(op.course_id)
            user = mapping.numeric(op.account_id)
            if course is None or user is None:
                results[index] = OpResult.failed(f"no Docebo course {op.course_id!r} or user {op.account_id!r}")
            else:
                rows.append((index, user, course, STUDENT))
        for (index, *_), result in zip(rows, await self._batch(rows), strict=True):
            results[index] = result
        return [r if r is not None else OpResult.failed("not applied") for r in results]

    async def _batch(self, rows: list[tuple[int, int, int, str]]) -> list[OpResult]:
        if not rows:
            return []
        items = [{"user_id": user, "course_id": course, "level": level} for _, user, course, level in rows]
        try:
            answer = [
                Row.model_validate(r)
                for r in await self._client.write("POST", "learn/v1/enrollment/batch", {"items": items})
            ]
        except Invalid as refusal:
            if len(rows) == 1:
                return [OpResult.failed(refusal.reason, status=refusal.status)]
            half = len(rows) // 2
            return [*await self._batch(rows[:half]), *await self._batch(rows[half:])]
        by_row = {row.row_index: row for row in answer}
        results: list[OpResult] = []
        for position, (_, user, course, _) in enumerate(rows):
            row = by_row.get(position)
            if row is None:
                results.append(OpResult.retry("Docebo's batch answered no row for this enrolment"))
            elif row.success:
                results.append(OpResult.done(_ref(user, course)))
            elif ALREADY_ENROLLED in row.reason.casefold():
                results.append(OpResult.already(_ref(user, course)))
            else:
                results.append(OpResult.failed(row.reason, status=400))
        return results

    async def _held(self, user: int, course: int) -> list[EnrollmentItem]:
        search = {"id_user[]": user, "id_course[]": course}
        return [
            e
            async for page in self._client.pages(ENROLLMENTS, EnrollmentItem, **search)
            for e in page
            if e.user_id == user and e.id == course
        ]

    async def unenrol(self, op: Unenrol) -> OpResult:
        """`DELETE /learn/v1/enrollments/{course}/{user}` unless the learner started the course (kept)."""
        user, course = account_id(op.account_id), mapping.numeric(op.course_id)
        if course is None:
            return OpResult.already()  # no such course: nobody is enrolled in it
        ref = _ref(user, course)
        held = await self._held(user, course)
        if not held or any(e.started for e in held):
            return OpResult.already(ref)
        try:
            await self._client.write("DELETE", f"{ENROLLMENTS}/{course}/{user}", None)
        except NotFound:
            return OpResult.already(ref)
        return OpResult.done(ref)

    async def course_role(self, op: AssignRole | RevokeRole, level: str) -> OpResult:
        """A course role is the enrolment's level: assigning enrols at that level (or changes the level of an
        enrolment that exists); revoking sets `student` again while the enrolment still has the role's level."""
        user, course = account_id(op.account_id), mapping.numeric(op.scope_id)
        if course is None:
            return OpResult.failed(f"no Docebo course {op.scope_id!r}")
        ref = ExternalRef(kind="role", id=f"{user}:{course}:{op.role}")
        held = await self._held(user, course)
        assigning = isinstance(op, AssignRole)
        if not held:
            if not assigning:
                return OpResult.already(ref)
            [result] = await self._batch([(0, user, course, level)])
            return result.model_copy(update={"ref": ref}) if result.outcome in ("done", "already") else result
        current = held[0].level
        wanted = level if assigning else STUDENT
        if current == wanted or (not assigning and current != level):
            return OpResult.already(ref)
        await self._client.write("PUT", f"{ENROLLMENTS}/{course}/{user}", {"level": wanted})
        return OpResult.done(ref)

    async def branch(self, op: AddToGroup | RemoveFromGroup) -> OpResult:
        """A group is an org chart branch (by id): the user is assigned to it or taken out of it."""
        user = account_id(op.account_id)
        branch = mapping.numeric(op.group_id)
        if branch is None:
            return OpResult.failed(f"no Docebo branch id {op.group_id!r}")
        ref = ExternalRef(kind="group", id=f"{branch}:{user}")
        # The branch's members among those matching the user's username: one short read, whatever the branch size.
        username = (await self._users.user(user)).username
        search = {"branch_id": branch, "search_text": username}
        members = {u.user_id async for page in self._client.pages(USERS, UserItem, **search) for u in page}
        joining = isinstance(op, AddToGroup)
        if (str(user) in members) == joining:
            return OpResult.already(ref)
        await self._client.write(
            "POST" if joining else "DELETE", f"manage/v1/orgchart/{branch}/users", {"user_ids": [user]}
        )
        return OpResult.done(ref)
