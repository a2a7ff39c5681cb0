"""Enrolment ops: one `POST /enrollments` each, or one asynchronous bulk-enrollment job for a large batch.

A bulk job reports counts, not which items failed, so after it finishes the courses are read again: enrolments
that landed are `done`, and the rest are sent one by one, which lands the good ones and gives each bad one
LearnUpon's own error. A job LearnUpon refuses or fails whole is split the same way. Unenrolling never removes an
enrolment with progress (any status but `not_started`): it answers `already` and the training record stays.

Due dates (`Capability.DUE_DATES`): LearnUpon's enrolment `due_date` is advisory, the learner keeps access after it
(its `expires_at` is the one that locks the course, and is never sent). An enrolment with a due date is made with
one `POST /enrollments` carrying it (the bulk job takes only course and user); a held enrolment whose due date
differs gets `PATCH /enrollments/{id}`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

from enrolsync.connectors.base import ReadRetryPolicy
from enrolsync.connectors.errors import AuthError, ConnectorError, TransientError
from enrolsync.connectors.learnupon.apply import Outcomes, each, numeric
from enrolsync.connectors.learnupon.client import LearnUponClient
from enrolsync.connectors.learnupon.config import LearnUponConfig
from enrolsync.connectors.learnupon.errors import is_already
from enrolsync.connectors.learnupon.models import LuEnrollment
from enrolsync.connectors.model import ExternalRef
from enrolsync.connectors.ops import Enrol, OpResult, SetDueDate, Unenrol

Roster = dict[int, LuEnrollment]  # user id -> enrolment, in one course
FINISHED = frozenset({"completed", "failed", "aborted", "timeout"})


def started(enrollment: LuEnrollment) -> bool:
    return enrollment.status != "not_started"


def enrolment_ref(user_id: int, course_id: int) -> ExternalRef:
    return ExternalRef(kind="enrolment", id=f"{course_id}:{user_id}")


def due_on(enrollment: LuEnrollment) -> date | None:
    """The enrolment's due date: the date part of LearnUpon's UTC date/time (None when unset or unreadable)."""
    try:
        return date.fromisoformat(enrollment.due_date[:10]) if enrollment.due_date else None
    except ValueError:
        return None


class EnrolmentWriter:
    def __init__(
        self, client: LearnUponClient, config: LearnUponConfig, retry: ReadRetryPolicy, concurrency: int
    ) -> None:
        self._client = client
        self._config = config
        self._retry = retry
        self._concurrency = concurrency

    async def rosters(self, course_ids: Iterable[int]) -> dict[int, Roster]:
        return {c: {e.user_id: e for e in await self._client.enrollments(course_id=c)} for c in sorted(set(course_ids))}

    async def apply(self, items: Sequence[tuple[int, Enrol | Unenrol | SetDueDate]], out: Outcomes) -> None:
        pairs: dict[int, tuple[int, int]] = {}
        for index, op in items:
            user, course = numeric(op.account_id), numeric(op.course_id)
            if user is None or course is None:
                out[index] = OpResult.failed("account and course ids must be LearnUpon record ids", status=404)
            else:
                pairs[index] = (user, course)
        rosters = await self.rosters(course for _, course in pairs.values())
        to_enrol: list[tuple[int, tuple[int, int]]] = []
        dated: list[tuple[int, tuple[int, int, date]]] = []  # new enrolments with a due date: one POST each
        to_date: list[tuple[int, tuple[LuEnrollment, date]]] = []
        to_remove: list[tuple[int, LuEnrollment]] = []
        for index, op in items:
            if index not in pairs:
                continue
            user, course = pairs[index]
            held = rosters[course].get(user)
            wanted = op.due_on if isinstance(op, Enrol | SetDueDate) else None
            if isinstance(op, SetDueDate) and held is None:
                out[index] = OpResult.failed("the account holds no enrolment in this course", status=404)
            elif isinstance(op, Enrol | SetDueDate) and held is not None:
                if wanted is not None and due_on(held) != wanted:
                    to_date.append((index, (held, wanted)))
                else:
                    out[index] = OpResult.already(enrolment_ref(user, course))
            elif isinstance(op, Enrol):
                if wanted is not None:
                    dated.append((index, (user, course, wanted)))
                else:
                    to_enrol.append((index, (user, course)))
            elif held is None or started(held):
                out[index] = OpResult.already(enrolment_ref(user, course))
            else:
                to_remove.append((index, held))
        if len(to_enrol) >= self._config.bulk_enrol_threshold:
            await self._bulk(to_enrol, out)
        else:
            await each(to_enrol, self._enrol_one, out, concurrency=self._concurrency)
        await each(dated, self._enrol_dated, out, concurrency=self._concurrency)
        await each(to_date, self._set_due, out, concurrency=self._concurrency)
        await each(to_remove, self._remove_one, out, concurrency=self._concurrency)

    async def _enrol_one(self, pair: tuple[int, int]) -> OpResult:
        user, course = pair
        try:
            await self._client.enrol(user, course)
        except ConnectorError as error:
            if is_already(error):
                return OpResult.already(enrolment_ref(user, course))
            raise
        return OpResult.done(enrolment_ref(user, course))

    async def _enrol_dated(self, item: tuple[int, int, date]) -> OpResult:
        user, course, when = item
        try:
            await self._client.enrol(user, course, when)
        except ConnectorError as error:
            if is_already(error):  # enrolled since the roster was read: its due date is set at the next run
                return OpResult.already(enrolment_ref(user, course))
            raise
        return OpResult.done(enrolment_ref(user, course))

    async def _set_due(self, item: tuple[LuEnrollment, date]) -> OpResult:
        held, when = item
        await self._client.set_due_date(held.id, when)
        return OpResult.done(enrolment_ref(held.user_id, held.course_id))

    async def _remove_one(self, held: LuEnrollment) -> OpResult:
        await self._client.unenrol(held.id)
        return OpResult.done(enrolment_ref(held.user_id, held.course_id))

    async def _bulk(self, items: list[tuple[int, tuple[int, int]]], out: Outcomes) -> None:
        """One bulk job for the batch; what it did not land goes out one by one."""
        try:
            job_id = await self._client.submit_bulk_enrolment([pair for _, pair in items])
            status = await self._wait(job_id)
        except (AuthError, TransientError):
            raise
        except ConnectorError:
            status = "failed"  # refused whole: every item goes out on its own
        if status not in FINISHED:
            for index, _ in items:
                out[index] = OpResult.retry("LearnUpon's bulk enrolment job is still running")
            return
        rosters = await self.rosters(course for _, (_, course) in items)
        rest = []
        for index, (user, course) in items:
            if user in rosters[course]:
                out[index] = OpResult.done(enrolment_ref(user, course))
            else:
                rest.append((index, (user, course)))
        await each(rest, self._enrol_one, out, concurrency=self._concurrency)

    async def _wait(self, job_id: str) -> str:
        status = "in_progress"
        for poll in range(self._config.bulk_polls):
            if poll:
                await self._retry.clock.sleep(self._config.bulk_poll_seconds)
            status = (await self._client.bulk_job(job_id)).status
            if status in FINISHED:
                break
        return status
