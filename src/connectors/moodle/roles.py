"""Role ops: core_role_assign_roles / core_role_unassign_roles in the system, a course or a report's user context.

Course-context roles are read back from course rosters, which list enrolled users only: a course role for someone
not enrolled is given through a manual enrolment with that role, so it shows on the roster and a re-run writes
nothing (issue 11). Nothing in core reads system- or user-context role
assignments, so when `role_mirror_field` is set each such assignment is recorded in that custom profile field
(system roles on the holder, user-context roles on the report, see `mapping.parse_mirror`) and read from there.

The record is written first, as an intent: "pending: role R over user U" (for an assignment and a revocation alike);
then the role is assigned or unassigned; then the record is settled (held, or gone). A pending token means "may be
held", so whatever fails in between, no role is ever held that no record shows, and no record says "held" of a
role that is not: a later assignment finding it pending assigns again (role_assign() of a held role changes
nothing) and settles it; a later revocation unassigns (role_unassign() of a role not held deletes no row, see
moodle/moodle lib/accesslib.php role_unassign_all) and removes it. A revocation never skips a pending token.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from enrolsync.connectors.errors import AuthError, ConnectorError
from enrolsync.connectors.model import ExternalRef, RoleScope
from enrolsync.connectors.moodle import mapping
from enrolsync.connectors.moodle.client import MoodleClient
from enrolsync.connectors.moodle.config import MoodleConfig
from enrolsync.connectors.moodle.enrolments import Roster, read_rosters
from enrolsync.connectors.moodle.errors import op_failure
from enrolsync.connectors.moodle.isolate import send_isolated
from enrolsync.connectors.moodle.models import MoodleUser, is_deleted
from enrolsync.connectors.moodle.rolebook import RoleBook
from enrolsync.connectors.moodle.users import dead
from enrolsync.connectors.ops import AssignRole, ErrorInfo, OpResult, RevokeRole

Outcomes = dict[int, OpResult]
_LEVEL = {RoleScope.SYSTEM: "system", RoleScope.COURSE: "course", RoleScope.USER: "user"}


@dataclass(frozen=True)
class _Grant:
    index: int
    assign: bool
    user_id: int
    shortname: str
    scope: RoleScope
    instance: int  # course id, report user id, or 0 for the system context

    @property
    def mirror_user(self) -> int:
        return self.user_id if self.scope is RoleScope.SYSTEM else self.instance

    @property
    def token(self) -> str:
        return mapping.mirror_token(self.shortname, self.scope, self.user_id)

    @property
    def ref(self) -> ExternalRef:
        return ExternalRef(kind="role", id=f"{self.shortname}@{_LEVEL[self.scope]}:{self.instance}:{self.user_id}")


def _parties(grant: _Grant) -> tuple[int, int]:
    """The accounts an assignment needs live: the holder, and the report of a user-context role (0: none)."""
    return grant.user_id, grant.instance if grant.scope is RoleScope.USER else 0


# A course's participants by id, each with the ids of the course roles they hold, or the error reading it: one
# look-up per grant (scanning the roster per grant cost the square of a course's size).
Seats = dict[int, frozenset[int]] | ConnectorError


def _seats(rosters: dict[int, Roster]) -> dict[int, Seats]:
    return {
        course_id: roster
        if isinstance(roster, ConnectorError)
        else {p.id: frozenset(r.roleid for r in p.roles) for p in roster}
        for course_id, roster in rosters.items()
    }


def _on_roster(grant: _Grant, seats: dict[int, Seats]) -> bool:
    course = seats[grant.instance]
    return not isinstance(course, ConnectorError) and grant.user_id in course


class RoleWriter:
    def __init__(self, client: MoodleClient, config: MoodleConfig, book: RoleBook) -> None:
        self._client = client
        self._field = config.role_mirror_field
        self._book = book
        # A mirror field is read, changed and written whole: batches sent at once (the executor's waves) would
        # each write back what they read and lose the other's tokens, so role batches take turns.
        self._turn = asyncio.Lock()

    async def apply(self, items: Sequence[tuple[int, AssignRole | RevokeRole]], out: Outcomes) -> None:
        """Assign or revoke roles; `already` when a roster or the mirror shows the state is in place."""
        async with self._turn:
            await self._apply(items, out)

    async def _apply(self, items: Sequence[tuple[int, AssignRole | RevokeRole]], out: Outcomes) -> None:
        grants = [g for index, op in items if (g := self._grant(index, op, out)) is not None]
        # One read by id serves both questions: are the accounts live, and what do their mirror fields hold.
        users = await self._read_users(grants)
        grants = self._alive(grants, users, out)
        courses = [g.instance for g in grants if g.scope is RoleScope.COURSE]
        rosters = _seats(await read_rosters(self._client, self._book, courses))
        mirrors = self._mirrors(users)
        entries: dict[str, list[tuple[_Grant, dict[str, Any]]]] = {"assign": [], "unassign": [], "enrol": []}
        for grant in grants:
            held = self._held(grant, rosters, mirrors, out)
            role_id = self._book.role_id(grant.shortname)
            if grant.index in out:
                continue
            if held is grant.assign:
                out[grant.index] = OpResult.already(grant.ref)
            elif role_id is None:
                out[grant.index] = OpResult.failed(f"the id of role {grant.shortname!r} is unknown: set role_ids")
            elif grant.assign and grant.scope is RoleScope.COURSE and not _on_roster(grant, rosters):
                # A course role of someone not enrolled is never listed by core_enrol_get_enrolled_users, so it
                # could not be read back (every re-run would write it again): enrol them with that role instead.
                enrol: dict[str, Any] = {"roleid": role_id, "userid": grant.user_id, "courseid": grant.instance}
                entries["enrol"].append((grant, enrol))
            else:
                entry: dict[str, Any] = {
                    "roleid": role_id,
                    "userid": grant.user_id,
                    "contextlevel": _LEVEL[grant.scope],
                }
                entries["assign" if grant.assign else "unassign"].append(
                    (grant, {**entry, "instanceid": grant.instance})
                )
        # The intent goes on record before any role changes; a grant whose intent could not be saved is not sent.
        intended = await self._intend([g for key in ("assign", "unassign") for g, _ in entries[key]], mirrors, out)
        applied: list[_Grant] = []

        def record(item: tuple[_Grant, dict[str, Any]], answer: OpResult | ConnectorError) -> None:
            if isinstance(answer, ConnectorError):
                out[item[0].index] = op_failure(answer)  # a pending intent stays: "may be held" is still true
            else:
                out[item[0].index] = OpResult.done(item[0].ref)
                applied.append(item[0])

        await send_isolated(entries["enrol"], self._send_enrol, record)
        await send_isolated([e for e in entries["assign"] if e[0] in intended], self._send_assign, record)
        await send_isolated([e for e in entries["unassign"] if e[0] in intended], self._send_unassign, record)
        await self._settle(applied, mirrors)

    def _grant(self, index: int, op: AssignRole | RevokeRole, out: Outcomes) -> _Grant | None:
        user_id = mapping.numeric_id(op.account_id)
        instance = 0 if op.scope is RoleScope.SYSTEM else mapping.numeric_id(op.scope_id)
        if user_id is None or instance is None:
            out[index] = OpResult.failed("account and scope ids must be Moodle record ids")
            return None
        shortname = self._book.shortname(op.role, op.scope)
        return _Grant(index, isinstance(op, AssignRole), user_id, shortname, op.scope, instance)

    async def _read_users(self, grants: Sequence[_Grant]) -> dict[int, MoodleUser]:
        """The accounts `_alive` asks about and those whose mirror field the grants read, in one read by id."""
        wanted = {u for g in grants if g.assign for u in _parties(g)}
        if self._field is not None:
            wanted |= {g.mirror_user for g in grants if g.scope is not RoleScope.COURSE}
        ids = [str(i) for i in sorted(wanted - {0})]
        return {u.id: u for u in await self._client.users_by_field("id", ids)} if ids else {}

    def _mirrors(self, users: dict[int, MoodleUser]) -> dict[int, set[str]]:
        if self._field is None:
            return {}
        # A deleted account is still found by id; delete_user() emptied its profile fields and removed its roles.
        return {u.id: set() if is_deleted(u) else mapping.parse_mirror(u.custom(self._field)) for u in users.values()}

    def _held(
        self, grant: _Grant, rosters: dict[int, Seats], mirrors: dict[int, set[str]], out: Outcomes
    ) -> bool | None:
        """Whether the role is held now; None when it may be (a pending record: written either way). Unknown (no
        mirror) counts as the opposite of what the op wants."""
        if grant.scope is RoleScope.COURSE:
            roster = rosters[grant.instance]
            if isinstance(roster, ConnectorError):
                out[grant.index] = op_failure(roster)
                return False
            role_id = self._book.role_id(grant.shortname)
            return role_id in roster.get(grant.user_id, ())
        if self._field is None:
            return not grant.assign
        if grant.mirror_user not in mirrors:
            out[grant.index] = OpResult.failed("account not found", code="invaliduserid")
            return False
        tokens = mirrors[grant.mirror_user]
        if mapping.pending_token(grant.token) in tokens:
            return None
        return grant.token in tokens

    def _alive(self, grants: list[_Grant], users: dict[int, MoodleUser], out: Outcomes) -> list[_Grant]:
        """The grants whose accounts are live. Assigning to (or over) a missing or deleted account fails without a
        write; revoking needs no check, since delete_user() removed every role the account held."""
        gone = dead({u for g in grants if g.assign for u in _parties(g)} - {0}, users)
        kept: list[_Grant] = []
        for grant in grants:
            failure = gone.get(grant.user_id) or (gone.get(grant.instance) if grant.scope is RoleScope.USER else None)
            if grant.assign and failure is not None:
                out[grant.index] = failure
            else:
                kept.append(grant)
        return kept

    async def _send_enrol(self, batch: Sequence[tuple[_Grant, dict[str, Any]]]) -> list[OpResult]:
        await self._client.enrol([entry for _, entry in batch])
        return [OpResult.done(grant.ref) for grant, _ in batch]

    async def _send_assign(self, batch: Sequence[tuple[_Grant, dict[str, Any]]]) -> list[OpResult]:
        await self._client.assign_roles([entry for _, entry in batch])
        return [OpResult.done(grant.ref) for grant, _ in batch]

    async def _send_unassign(self, batch: Sequence[tuple[_Grant, dict[str, Any]]]) -> list[OpResult]:
        await self._client.unassign_roles([entry for _, entry in batch])
        return [OpResult.done(grant.ref) for grant, _ in batch]

    def _mirrored(self, grant: _Grant) -> bool:
        return self._field is not None and grant.scope is not RoleScope.COURSE

    async def _intend(self, grants: list[_Grant], mirrors: dict[int, set[str]], out: Outcomes) -> set[_Grant]:
        """Record each mirrored grant as pending before its role changes; returns the grants free to be sent (the
        unmirrored ones, and those whose intent is on record). The others get their outcome here."""
        changed: dict[int, set[str]] = {}
        for grant in filter(self._mirrored, grants):
            tokens = changed.setdefault(grant.mirror_user, set(mirrors[grant.mirror_user]))
            tokens.discard(grant.token)
            tokens.add(mapping.pending_token(grant.token))
        changed = {user_id: tokens for user_id, tokens in changed.items() if tokens != mirrors[user_id]}
        unsaved, error = await self._write_mirrors(changed)
        mirrors.update({user_id: tokens for user_id, tokens in changed.items() if user_id not in unsaved})
        free: set[_Grant] = set()
        for grant in grants:
            if self._mirrored(grant) and grant.mirror_user in unsaved:
                # Nothing was changed. An intent that landed unseen only says "may be held": harmless.
                out[grant.index] = self._unrecorded(error)
            else:
                free.add(grant)
        return free

    async def _settle(self, applied: list[_Grant], mirrors: dict[int, set[str]]) -> None:
        """Turn the pending records of the roles just assigned or unassigned into held ones, or remove them. When
        this write fails the records stay pending, which later reads take as "may be held": the ops are done."""
        changed: dict[int, set[str]] = {}
        for grant in filter(self._mirrored, applied):
            tokens = changed.setdefault(grant.mirror_user, set(mirrors[grant.mirror_user]))
            tokens.discard(mapping.pending_token(grant.token))
            if grant.assign:
                tokens.add(grant.token)
        await self._write_mirrors(changed)

    def _unrecorded(self, error: ConnectorError | None) -> OpResult:
        """The outcome of a grant not sent because its intent could not be recorded (`error`: why; None: Moodle
        skipped the user, as it does the guest and deleted accounts, for good)."""
        prefix = f"role not changed: its record in {self._field} could not be saved first"
        if error is None:
            return OpResult.failed(f"{prefix} (Moodle skipped the update)")
        failure = op_failure(error)
        info = failure.error or ErrorInfo(reason=error.reason)
        return failure.model_copy(update={"error": info.model_copy(update={"reason": f"{prefix}: {info.reason}"})})

    async def _write_mirrors(self, changed: dict[int, set[str]]) -> tuple[set[int], ConnectorError | None]:
        """Write the mirror field of each user in `changed`; returns the users not saved (or not known to be) and
        the error, if the call failed. Auth errors raise."""
        field = self._field
        if not changed or field is None:
            return set(), None
        users = [
            {"id": user_id, "customfields": [{"type": field, "value": mapping.format_mirror(tokens)}]}
            for user_id, tokens in changed.items()
        ]
        try:
            warnings = await self._client.update_users(users)
        except AuthError:
            raise
        except ConnectorError as error:
            return set(changed), error
        return {w.itemid for w in warnings if w.item == "user"}, None
