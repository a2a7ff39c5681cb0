"""Course rosters (who is enrolled, with which course roles) and the manual enrolment ops."""

from __future__ import annotations

from collections.abc import Awaitable, Iterable, Sequence
from typing import Any

from enrolsync.connectors.errors import AuthError, ConnectorError, TransientError
from enrolsync.connectors.model import ExternalRef
from enrolsync.connectors.moodle.client import MoodleClient
from enrolsync.connectors.moodle.errors import op_failure
from enrolsync.connectors.moodle.isolate import record_into, send_isolated
from enrolsync.connectors.moodle.mapping import numeric_id
from enrolsync.connectors.moodle.models import EnrolledUser
from enrolsync.connectors.moodle.rolebook import RoleBook
from enrolsync.connectors.ops import Enrol, OpResult, Unenrol

Outcomes = dict[int, OpResult]
Roster = list[EnrolledUser] | ConnectorError
ROSTER_FIELDS = ("id", "roles", "lastcourseaccess")


async def read_rosters(client: MoodleClient, book: RoleBook, course_ids: Iterable[int]) -> dict[int, Roster]:
    """Each course's participants (any enrolment method, suspended ones included), or the error reading it.

    Every roster teaches `book` the role ids it shows. Auth and transient errors propagate.
    """
    rosters: dict[int, Roster] = {}
    for course_id in sorted(set(course_ids)):
        try:
            roster = await client.enrolled_users(course_id, ROSTER_FIELDS)
        except (AuthError, TransientError):
            raise
        except ConnectorError as error:
            rosters[course_id] = error
            continue
        for participant in roster:
            book.learn(participant.roles)
        rosters[course_id] = roster
    return rosters


def enrolment_ref(user_id: int, course_id: int) -> ExternalRef:
    """A reference to an enrolment: `<user id>:<course id>`."""
    return ExternalRef(kind="enrolment", id=f"{user_id}:{course_id}")


class EnrolmentWriter:
    """Applies enrolment ops. For enrols, each course's roster is read once per writer (one apply step of a run)
    and kept current by our own writes: re-reading it for every batch made a large sync quadratic in course size.
    Unenrols always read their courses afresh (progress may have changed), and a write whose outcome is unknown
    (an error after sending) drops its courses' rosters."""

    def __init__(self, client: MoodleClient, book: RoleBook) -> None:
        self._client = client
        self._book = book
        self._access: dict[int, dict[int, int]] = {}  # course id -> {enrolled user id: lastcourseaccess}

    async def _rosters(self, course_ids: Iterable[int]) -> dict[int, dict[int, int] | ConnectorError]:
        wanted = set(course_ids)
        fresh = await read_rosters(self._client, self._book, wanted - set(self._access))
        failed: dict[int, dict[int, int] | ConnectorError] = {}
        for course_id, roster in fresh.items():
            if isinstance(roster, ConnectorError):
                failed[course_id] = roster  # not kept: the next batch tries again
            else:
                self._access[course_id] = {p.id: p.lastcourseaccess for p in roster}
        return {c: failed[c] if c in failed else self._access[c] for c in wanted}

    async def apply(self, items: Sequence[tuple[int, Enrol | Unenrol]], out: Outcomes) -> None:
        """Enrol through the manual method with the learner role, or unenrol; a state already in place is `already`.

        Moodle treats re-enrolling as an update, so the course roster is read first to tell `done` from `already`;
        the same read shows `lastcourseaccess`, and a course the learner has opened is kept (`already`).
        """
        targets: dict[int, tuple[int, int]] = {}
        for index, op in items:
            user_id, course_id = numeric_id(op.account_id), numeric_id(op.course_id)
            if user_id is None or course_id is None:
                out[index] = OpResult.failed("account and course ids must be Moodle record ids")
            else:
                targets[index] = (user_id, course_id)
        # Progress decides an unenrol (a started course is kept), and a learner may have opened the course since
        # we last looked: those courses are read afresh. Enrols only need who is in, which our writes keep current.
        for index, op in items:
            if isinstance(op, Unenrol) and index in targets:
                self._access.pop(targets[index][1], None)
        rosters = await self._rosters(c for _, c in targets.values())
        enrols: list[tuple[int, dict[str, Any]]] = []
        unenrols: list[tuple[int, dict[str, Any]]] = []
        for index, op in items:
            if index not in targets:
                continue
            user_id, course_id = targets[index]
            roster = rosters[course_id]
            if isinstance(roster, ConnectorError):
                out[index] = op_failure(roster)
                continue
            access = roster.get(user_id)
            entry = {"userid": user_id, "courseid": course_id}
            started = access is not None and access > 0
            if (access is not None) == isinstance(op, Enrol) or (isinstance(op, Unenrol) and started):
                # A course the learner has opened is their training record: never removed (see `Unenrol`).
                out[index] = OpResult.already(enrolment_ref(user_id, course_id))
            elif isinstance(op, Unenrol):
                unenrols.append((index, entry))
            elif (role_id := self._book.role_id(self._book.learner)) is None:
                out[index] = OpResult.failed(f"the id of role {self._book.learner!r} is unknown: set role_ids")
            else:
                enrols.append((index, {"roleid": role_id, **entry}))
        await send_isolated(enrols, self._send_enrol, record_into(out))
        await send_isolated(unenrols, self._send_unenrol, record_into(out))

    async def _send_enrol(self, batch: Sequence[tuple[int, dict[str, Any]]]) -> list[OpResult]:
        await self._sent(batch, self._client.enrol([entry for _, entry in batch]))
        for _, e in batch:
            self._access.get(e["courseid"], {}).setdefault(e["userid"], 0)
        return [OpResult.done(enrolment_ref(e["userid"], e["courseid"])) for _, e in batch]

    async def _send_unenrol(self, batch: Sequence[tuple[int, dict[str, Any]]]) -> list[OpResult]:
        await self._sent(batch, self._client.unenrol([entry for _, entry in batch]))
        for _, e in batch:
            self._access.get(e["courseid"], {}).pop(e["userid"], None)
        return [OpResult.done(enrolment_ref(e["userid"], e["courseid"])) for _, e in batch]

    async def _sent(self, batch: Sequence[tuple[int, dict[str, Any]]], call: Awaitable[object]) -> None:
        try:
            await call
        except BaseException:
            for _, e in batch:  # the write may or may not have landed: read these courses afresh next time
                self._access.pop(e["courseid"], None)
            raise
