"""Course rosters (who is enrolled, with which course roles) and the manual enrolment ops."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from enrolsync.connectors.errors import AuthError, ConnectorError, TransientError
from enrolsync.connectors.kit.batching import all_of
from enrolsync.connectors.model import ExternalRef
from enrolsync.connectors.moodle.client import MoodleClient
from enrolsync.connectors.moodle.errors import op_failure
from enrolsync.connectors.moodle.isolate import record_into, send_isolated
from enrolsync.connectors.moodle.mapping import numeric_id
from enrolsync.connectors.moodle.models import EnrolledUser
from enrolsync.connectors.moodle.rolebook import RoleBook
from enrolsync.connectors.moodle.users import not_live
from enrolsync.connectors.ops import Enrol, OpResult, Unenrol

Outcomes = dict[int, OpResult]
Roster = list[EnrolledUser] | ConnectorError
ROSTER_FIELDS = ("id", "roles", "lastcourseaccess")


async def read_rosters(client: MoodleClient, book: RoleBook, course_ids: Iterable[int]) -> dict[int, Roster]:
    """Each course's participants (any enrolment method, suspended ones included), or the error reading it.

    The courses are read at once, up to the client's concurrency. Every roster teaches `book` the role ids it
    shows. Auth and transient errors propagate.
    """
    ids = sorted(set(course_ids))
    rosters = dict(zip(ids, await all_of(_roster(client, course_id) for course_id in ids), strict=True))
    # Each role once, not once per participant holding it: a roster of thousands shows a handful of roles.
    roles = {
        (role.roleid, role.shortname): role
        for roster in rosters.values()
        if not isinstance(roster, ConnectorError)
        for participant in roster
        for role in participant.roles
    }
    book.learn(roles.values())
    return rosters


async def _roster(client: MoodleClient, course_id: int) -> Roster:
    try:
        return await client.enrolled_users(course_id, ROSTER_FIELDS)
    except (AuthError, TransientError):
        raise
    except ConnectorError as error:
        return error


def enrolment_ref(user_id: int, course_id: int) -> ExternalRef:
    """A reference to an enrolment: `<user id>:<course id>`."""
    return ExternalRef(kind="enrolment", id=f"{user_id}:{course_id}")


@dataclass
class Seat:
    """One participant of a course roster, as enrolment ops need it."""

    access: int  # lastcourseaccess: > 0 once the learner opened the course
    learner: bool  # holds the learner role (a learning enrolment, not only a teacher's place)
    others: bool  # holds other course roles too


def is_learner(participant: EnrolledUser, book: RoleBook) -> bool:
    """Whether a participant holds the learner role: the enrolments enrolsync lists and manages."""
    return any(role.shortname == book.learner for role in participant.roles)


class EnrolmentWriter:
    """Applies enrolment ops. For enrols, each course's roster is read once per writer (one apply step of a run)
    and kept current by our own writes: re-reading it for every batch made a large sync quadratic in course size.
    Unenrols always read their courses afresh (progress may have changed), and a write whose outcome is unknown
    (an error after sending) drops its courses' rosters.

    An enrolment is a participant holding the learner role. A teacher enrolled for a course role alone is not one:
    enrolling them adds the learner role (manual enrolment of someone enrolled is an upsert that assigns the role),
    and unenrolling someone who also holds other course roles takes only the learner role away."""

    def __init__(self, client: MoodleClient, book: RoleBook, created: Collection[int] = frozenset()) -> None:
        self._client = client
        self._book = book
        self._created = created  # accounts created in this apply step: known live (`UserWriter.created`)
        self._seats: dict[int, dict[int, Seat]] = {}  # course id -> {participant id: seat}
        # Batches of a wave run at once and mostly name the same courses: the first reads a roster, the others
        # wait for it instead of reading it too.
        self._reading = asyncio.Lock()

    async def _rosters(self, course_ids: Iterable[int]) -> dict[int, dict[int, Seat] | ConnectorError]:
        wanted = set(course_ids)
        async with self._reading:
            return await self._read_missing(wanted)

    async def _read_missing(self, wanted: set[int]) -> dict[int, dict[int, Seat] | ConnectorError]:
        fresh = await read_rosters(self._client, self._book, wanted - set(self._seats))
        failed: dict[int, dict[int, Seat] | ConnectorError] = {}
        for course_id, roster in fresh.items():
            if isinstance(roster, ConnectorError):
                failed[course_id] = roster  # not kept: the next batch tries again
            else:
                self._seats[course_id] = {p.id: self._seat(p) for p in roster}
        return {c: failed[c] if c in failed else self._seats[c] for c in wanted}

    def _seat(self, participant: EnrolledUser) -> Seat:
        learner = is_learner(participant, self._book)
        others = any(role.shortname != self._book.learner for role in participant.roles)
        return Seat(participant.lastcourseaccess, learner, others)

    async def apply(self, items: Sequence[tuple[int, Enrol | Unenrol]], out: Outcomes) -> None:
        """Enrol through the manual method with the learner role, or unenrol; a state already in place is `already`.

        Moodle treats re-enrolling as an update, so the course roster is read first to tell `done` from `already`;
        the same read shows `lastcourseaccess`, and a course the learner has opened is kept (`already`). Enrolling
        an account that is missing or deleted fails without a write.
        """
        targets: dict[int, tuple[int, int]] = {}
        items_by = dict(items)
        for index, op in items:
            user_id, course_id = numeric_id(op.account_id), numeric_id(op.course_id)
            if user_id is None or course_id is None:
                out[index] = OpResult.failed("account and course ids must be Moodle record ids")
            else:
                targets[index] = (user_id, course_id)
        # Only enrols need the account alive (an unenrol of someone gone finds them off the roster: `already`).
        enrolling = (u for i, (u, _) in targets.items() if isinstance(items_by[i], Enrol) and u not in self._created)
        gone = await not_live(self._client, enrolling, guest=False)
        for index, (user_id, _) in list(targets.items()):
            if isinstance(items_by[index], Enrol) and user_id in gone:
                out[index] = gone[user_id]
                del targets[index]
        # Progress decides an unenrol (a started course is kept), and a learner may have opened the course since
        # we last looked: those courses are read afresh. Enrols only need who is in, which our writes keep current.
        for index, (_, course_id) in targets.items():
            if isinstance(items_by[index], Unenrol):
                self._seats.pop(course_id, None)
        rosters = await self._rosters(c for _, c in targets.values())
        sends: dict[str, list[tuple[int, dict[str, Any]]]] = {"enrol": [], "unenrol": [], "unassign": []}
        for index, (user_id, course_id) in targets.items():
            roster = rosters[course_id]
            if isinstance(roster, ConnectorError):
                out[index] = op_failure(roster)
                continue
            seat = roster.get(user_id)
            entry = {"userid": user_id, "courseid": course_id}
            enrol = isinstance(items_by[index], Enrol)
            held = seat is not None and seat.learner
            if held == enrol or (not enrol and seat is not None and seat.access > 0):
                # A course the learner has opened is their training record: never removed (see `Unenrol`).
                out[index] = OpResult.already(enrolment_ref(user_id, course_id))
            elif (role_id := self._book.role_id(self._book.learner)) is None:
                out[index] = OpResult.failed(f"the id of role {self._book.learner!r} is unknown: set role_ids")
            elif enrol:
                sends["enrol"].append((index, {"roleid": role_id, **entry}))
            elif seat is not None and seat.others:
                unassign = {"roleid": role_id, "userid": user_id, "contextlevel": "course", "instanceid": course_id}
                sends["unassign"].append((index, unassign))
            else:
                sends["unenrol"].append((index, entry))
        await send_isolated(sends["enrol"], self._send_enrol, record_into(out))
        await send_isolated(sends["unenrol"], self._send_unenrol, record_into(out))
        await send_isolated(sends["unassign"], self._send_unassign, record_into(out))

    async def _send_enrol(self, batch: Sequence[tuple[int, dict[str, Any]]]) -> list[OpResult]:
        await self._sent(batch, self._client.enrol([entry for _, entry in batch]))
        for _, e in batch:
            seats = self._seats.get(e["courseid"], {})
            seat = seats.setdefault(e["userid"], Seat(0, True, False))
            seat.learner = True
        return [OpResult.done(enrolment_ref(e["userid"], e["courseid"])) for _, e in batch]

    async def _send_unenrol(self, batch: Sequence[tuple[int, dict[str, Any]]]) -> list[OpResult]:
        await self._sent(batch, self._client.unenrol([entry for _, entry in batch]))
        for _, e in batch:
            self._seats.get(e["courseid"], {}).pop(e["userid"], None)
        return [OpResult.done(enrolment_ref(e["userid"], e["courseid"])) for _, e in batch]

    async def _send_unassign(self, batch: Sequence[tuple[int, dict[str, Any]]]) -> list[OpResult]:
        """The learner role only: the participant keeps their other course roles, so keeps the enrolment."""
        sent = [(i, {"courseid": e["instanceid"], **e}) for i, e in batch]
        await self._sent(sent, self._client.unassign_roles([entry for _, entry in batch]))
        for _, e in batch:
            self._seats.pop(e["instanceid"], None)
        return [OpResult.done(enrolment_ref(e["userid"], e["instanceid"])) for _, e in batch]

    async def _sent(self, batch: Sequence[tuple[int, dict[str, Any]]], call: Awaitable[object]) -> None:
        try:
            await call
        except BaseException:
            for _, e in batch:  # the write may or may not have landed: read these courses afresh next time
                self._seats.pop(e["courseid"], None)
            raise
