"""Moodle as an LMS target, through its REST web service and core functions only."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

import httpx

from enrolsync.connectors.base import (
    AccountLookup,
    Capability,
    ConnectorInfo,
    PreflightTarget,
    ProgressReader,
    Rate,
    ReadRetryPolicy,
    RoleScopesListed,
    RolesOfAccounts,
    TargetClass,
)
from enrolsync.connectors.errors import ConnectorError, Invalid, TransientError
from enrolsync.connectors.kit.batching import all_of
from enrolsync.connectors.kit.retry import ReadRetry
from enrolsync.connectors.model import (
    Account,
    AccountRecord,
    CheckResult,
    Enrolment,
    GroupMembership,
    Progress,
    RoleAssignment,
    RoleScope,
    SsoIdentity,
)
from enrolsync.connectors.model import (
    Course as CourseRef,
)
from enrolsync.connectors.moodle import mapping
from enrolsync.connectors.moodle.checks import check_site
from enrolsync.connectors.moodle.client import LOOKUP_CHUNK, MoodleClient
from enrolsync.connectors.moodle.completion import Completion, read_completion
from enrolsync.connectors.moodle.completion import ids as completion_ids
from enrolsync.connectors.moodle.config import MAX_CONCURRENCY, MoodleConfig
from enrolsync.connectors.moodle.enrolments import EnrolmentWriter, is_learner, read_rosters
from enrolsync.connectors.moodle.errors import op_failure
from enrolsync.connectors.moodle.models import Course, EnrolledUser, MoodleUser, is_deleted
from enrolsync.connectors.moodle.progress import read_progress
from enrolsync.connectors.moodle.rolebook import RoleBook
from enrolsync.connectors.moodle.roles import RoleWriter
from enrolsync.connectors.moodle.site import SiteFacts, absent_reason
from enrolsync.connectors.moodle.users import UserWriter
from enrolsync.connectors.ops import CreateUser, Op, OpKind, OpResult, SetSsoIdentity, UpdateUser

_LOOKUP_FIELDS = {"external_id": "idnumber", "email": "email", "username": "username"}
CHECK_COURSE_SAMPLE = 20  # course rosters check() reads at most, to learn role ids
# A search that finds nobody costs a site about what returning this many accounts does (a PHP request's start-up
# against ~3 ms per user returned, measured on a 4.3 site): above that many accounts per email to search for, the
# searches cost more than one read of every account, which is taken instead (`_site_holds_fewer_than`).
SEARCH_COST_IN_ACCOUNTS = 10
PROBE_SPAN = 5  # consecutive user ids probed: one id missing (a rolled-back create used it) does not mislead

Handler = Callable[[Sequence[tuple[int, Any]], dict[int, OpResult]], Awaitable[None]]


@dataclass
class _Mirrors:
    """The mirror records of the accounts `read_accounts` asked for, by user id (`asked`: an id absent from
    `records` has none). Only non-empty records are kept: a whole run's accounts, most of which hold none."""

    asked: set[int]
    records: dict[int, str] = field(default_factory=dict)


class MoodleTarget:
    """Accounts, manual enrolments, roles (course, system, and over a report's user context) and SSO auth."""

    info: ClassVar[ConnectorInfo] = ConnectorInfo(
        key="moodle",
        kind="lms",
        title="Moodle",
        config_model=MoodleConfig,
        capabilities=frozenset(
            {
                Capability.ACCOUNTS,
                Capability.ENROLMENTS,
                Capability.ROLES,
                Capability.SSO,
                Capability.MANAGER_SCOPE,
                Capability.COURSES,
                Capability.PROGRESS,
                Capability.ROLES_LISTED,
            }
        ),
        batch_limits={
            # A create batch first looks its usernames and ID numbers up (two reads of up to 200 values), then
            # creates `create_batch_size` accounts a call: 100 a batch makes those reads a quarter as many.
            OpKind.CREATE_USER: 100,
            # One read of the accounts (200 ids a call) serves the batch; updates go in calls of `UPDATE_CHUNK`.
            OpKind.UPDATE_USER: LOOKUP_CHUNK,
            OpKind.DEACTIVATE_USER: LOOKUP_CHUNK,
            OpKind.REACTIVATE_USER: LOOKUP_CHUNK,
            OpKind.SET_SSO_IDENTITY: LOOKUP_CHUNK,
            OpKind.ENROL: 100,
            OpKind.UNENROL: 100,
            # A role batch costs four requests whatever its size (read, intent, assign, settle), and role batches
            # take turns: 100 halves them; each call stays under max_input_vars (4 fields per assignment).
            OpKind.ASSIGN_ROLE: 100,
            OpKind.REVOKE_ROLE: 100,
        },
        # Core Moodle does not throttle; its PHP workers are the bottleneck, so stay gentle.
        default_rate=Rate(calls=600, per_seconds=60),
        # The ceiling a connection may ask for; its own `max_concurrency` (default 4) is what the client keeps to.
        max_concurrency=MAX_CONCURRENCY,
    )

    def __init__(self, config: MoodleConfig, http: httpx.AsyncClient, *, retry: ReadRetryPolicy | None = None) -> None:
        self.config = config
        self._client = MoodleClient(http, config.token, retry or ReadRetry(), concurrency=config.max_concurrency)
        self._book = RoleBook(config)
        self._facts = SiteFacts(self._client)
        users = UserWriter(self._client, config, self._facts)
        enrolments = EnrolmentWriter(self._client, self._book, users.created)
        roles = RoleWriter(self._client, config, self._book)
        self._seen: _Mirrors | None = None  # the mirror records `read_accounts` saw, for `list_roles_of`
        # The course roles the rosters `list_enrolments` just read showed, by the courses asked: `list_roles_of`
        # the same courses (a full run's snapshot asks both in turn) takes them instead of reading every roster again.
        self._roster_roles: tuple[frozenset[int], list[RoleAssignment]] | None = None
        self._handlers: dict[OpKind, Handler] = {
            OpKind.CREATE_USER: users.create,
            OpKind.UPDATE_USER: users.change,
            OpKind.DEACTIVATE_USER: users.change,
            OpKind.REACTIVATE_USER: users.change,
            OpKind.SET_SSO_IDENTITY: users.change,
            OpKind.ENROL: enrolments.apply,
            OpKind.UNENROL: enrolments.apply,
            OpKind.ASSIGN_ROLE: roles.apply,
            OpKind.REVOKE_ROLE: roles.apply,
        }

    async def check(self) -> CheckResult:
        """Prove the token, then name in one answer everything that would make writes fail: functions missing
        from the token's service, capabilities its user lacks, auth plugins the site has not installed
        (`default_auth` and `auth_plugins`), and role ids (see `checks.py`). Never raises for a bad token."""
        return await check_site(self._client, self.config, self._book, self._facts, self._learn_roles)

    async def _learn_roles(self) -> None:
        courses = await self._courses()
        for start in range(0, min(len(courses), CHECK_COURSE_SAMPLE), 5):
            if not self._book.unresolved() and start:
                return
            await read_rosters(self._client, self._book, (c.id for c in courses[start : start + 5]))

    async def _courses(self) -> list[Course]:
        return [c for c in await self._client.courses() if c.format != "site"]

    async def _users(self) -> list[MoodleUser]:
        # `%` matches every email (core_user_get_users allows LIKE wildcards there); guest is Moodle's own account.
        users = await self._client.search_users([("email", "%")])
        return [u for u in users if u.username != mapping.GUEST_USERNAME]

    async def _rosters(
        self, course_ids: Collection[str] | None = None
    ) -> AsyncIterator[tuple[int, list[EnrolledUser]]]:
        if course_ids is None:
            ids = [course.id for course in await self._courses()]
        else:
            ids = sorted({n for c in course_ids if (n := mapping.numeric_id(c)) is not None})
        # A few courses at a time, read at once: the site's workers busy, and only that many rosters in memory.
        step = self._client.concurrency
        for start in range(0, len(ids), step):
            rosters = await read_rosters(self._client, self._book, ids[start : start + step])
            for course_id, roster in sorted(rosters.items()):
                if not isinstance(roster, ConnectorError):  # a course deleted meanwhile, or one we may not read
                    yield course_id, roster

    async def list_accounts(self) -> AsyncIterator[Account]:
        """Every account except Moodle's guest. Raises `AuthError`, or `TransientError` once retries run out."""
        for user in await self._users():
            yield mapping.to_account(user, job_title_field=self.config.job_title_field)

    async def read_accounts(self, account_ids: Collection[str]) -> AsyncIterator[AccountRecord]:
        """The accounts with these ids (core_user_get_users_by_field `field=id`, 200 ids a call, a few calls at
        once), each with its SSO identity. Deleted accounts (which that function still returns, renamed), the
        guest and ids that are no Moodle record id are absent. Raises like `list_accounts`."""
        ids = sorted({n for a in account_ids if (n := mapping.numeric_id(a)) is not None})
        mirror = self.config.role_mirror_field
        seen = _Mirrors(set(ids)) if mirror is not None else None
        self._seen = None  # a read cut short leaves nothing half-known behind
        async for users in self._client.users_by_field_pages("id", [str(i) for i in ids]):
            for user in users:
                if is_deleted(user):
                    continue
                if seen is not None and mirror is not None and (record := user.custom(mirror)):
                    seen.records[user.id] = record
                if user.username != mapping.GUEST_USERNAME:
                    account = mapping.to_account(user, job_title_field=self.config.job_title_field)
                    yield AccountRecord.model_construct(account=account, sso=self._sso(user))
        self._seen = seen

    def _sso(self, user: MoodleUser) -> SsoIdentity | None:
        """The account's SSO identity: its auth plugin when not an internal one, with the subject field's value."""
        if user.auth in mapping.INTERNAL_AUTHS:
            return None
        # Unvalidated, like `mapping.to_account`: strings of a `MoodleUser` validated as read.
        return SsoIdentity.model_construct(
            account_id=str(user.id), auth=user.auth, subject=str(getattr(user, self.config.sso_subject_field))
        )

    async def list_courses(self) -> AsyncIterator[CourseRef]:
        """Every course but the front page, known by its shortname (unique on a site) and ID number (when set)."""
        for course in await self._courses():
            keys = {"shortname": course.shortname, "idnumber": course.idnumber}
            yield CourseRef(course_id=str(course.id), name=course.fullname, keys={k: v for k, v in keys.items() if v})

    def list_progress(self, *, course_ids: Collection[str], since: datetime | None = None) -> AsyncIterator[Progress]:
        """Enrolment progress by course completion and last access (`progress.py`); read only. With `since`, only
        the participants who opened a course at or after it are listed (the others' progress is kept as stored)."""
        return read_progress(self._client, course_ids, since, unopened=self.config.completion_of_unopened)

    async def list_enrolments(self, *, course_ids: Collection[str] | None = None) -> AsyncIterator[Enrolment]:
        """Course participants holding the learner role, by any enrolment method, of every course or only
        `course_ids` (one roster read each); `started` = the learner opened the course at least once
        (`lastcourseaccess`). Participants there only for another course role are listed as role assignments."""
        self._roster_roles = None  # a read cut short leaves nothing half-known behind
        roles: list[RoleAssignment] = []
        async for course_id, roster in self._rosters(course_ids):
            for p in roster:
                if is_learner(p, self._book):  # a teacher's place in the course is their role, not an enrolment
                    yield Enrolment(account_id=str(p.id), course_id=str(course_id), started=p.lastcourseaccess > 0)
            roles.extend(self._roster_assignments(course_id, roster))
        if course_ids is not None:
            self._roster_roles = (self._course_numbers(course_ids), roles)

    def listed_role_scopes(self) -> frozenset[RoleScope]:
        """Course roles always (rosters); system and user-context roles only from the role mirror field."""
        mirrored = {RoleScope.SYSTEM, RoleScope.USER} if self.config.role_mirror_field else set()
        return frozenset({RoleScope.COURSE, *mirrored})

    async def list_role_assignments(self) -> AsyncIterator[RoleAssignment]:
        """Course roles from rosters (the learner role is reported as the enrolment it comes with) and, when
        `role_mirror_field` is set, system and user-context roles from that field: enrolsync's own record of what
        it assigned, not a read of Moodle (a role removed by hand in Moodle is still listed). A pending record is
        listed with `confirmed=False`: the role may or may not be held. Reads every course and every user."""
        async for assignment in self._course_roles(None):
            yield assignment
        if self.config.role_mirror_field is not None:  # else no whole-site read
            for assignment in self._mirrored(self._records(await self._users())):
                yield assignment

    async def list_roles_of(
        self, account_ids: Collection[str], *, course_ids: Collection[str]
    ) -> AsyncIterator[RoleAssignment]:
        """What `list_role_assignments` lists of these accounts' roles, read without the whole site: the rosters of
        `course_ids` only, and the mirror field of these accounts only (`core_user_get_users_by_field`, by id). A
        user-context record lives on the account it is held over, so it is listed when that account is asked for."""
        seen, self._seen = self._seen, None  # read once: what follows may be written meanwhile
        read, self._roster_roles = self._roster_roles, None
        if read is not None and read[0] == self._course_numbers(course_ids):
            for assignment in read[1]:  # the rosters `list_enrolments` just read
                yield assignment
        else:
            async for assignment in self._course_roles(course_ids):
                yield assignment
        if self.config.role_mirror_field is None:
            return
        ids = sorted({n for a in account_ids if (n := mapping.numeric_id(a)) is not None})
        if seen is not None:
            # The full run's `read_accounts` just read these accounts, mirror field included: not asked again.
            for assignment in self._mirrored((i, seen.records[i]) for i in ids if i in seen.records):
                yield assignment
            ids = [i for i in ids if i not in seen.asked]
        async for users in self._client.users_by_field_pages("id", [str(i) for i in ids]):
            for assignment in self._mirrored(self._records(u for u in users if not is_deleted(u))):
                yield assignment

    async def _course_roles(self, course_ids: Collection[str] | None) -> AsyncIterator[RoleAssignment]:
        async for course_id, roster in self._rosters(course_ids):
            for assignment in self._roster_assignments(course_id, roster):
                yield assignment

    def _roster_assignments(self, course_id: int, roster: Iterable[EnrolledUser]) -> list[RoleAssignment]:
        """The course roles a roster shows, but the learner role (listed as the enrolment it comes with)."""
        return [
            RoleAssignment(
                account_id=str(participant.id),
                role=self._book.logical(role.shortname, RoleScope.COURSE),
                scope=RoleScope.COURSE,
                scope_id=str(course_id),
            )
            for participant in roster
            for role in participant.roles
            if role.shortname != self._book.learner
        ]

    @staticmethod
    def _course_numbers(course_ids: Collection[str]) -> frozenset[int]:
        return frozenset(n for c in course_ids if (n := mapping.numeric_id(c)) is not None)

    def _records(self, users: Iterable[MoodleUser]) -> Iterator[tuple[int, str]]:
        """(user id, mirror record) of each user."""
        if (mirror := self.config.role_mirror_field) is not None:
            yield from ((user.id, user.custom(mirror)) for user in users)

    def _mirrored(self, records: Iterable[tuple[int, str]]) -> list[RoleAssignment]:
        """The role assignments the mirror records (user id, field value) say are held or pending."""
        return [
            RoleAssignment(
                account_id=str(holder),
                role=self._book.logical(shortname, scope),
                scope=scope,
                scope_id=None if over is None else str(over),
                confirmed=confirmed,
            )
            for user_id, record in records
            for holder, shortname, scope, over, confirmed in mapping.mirror_assignments(user_id, record)
        ]

    def list_group_memberships(self) -> AsyncIterator[GroupMembership]:
        raise NotImplementedError("the Moodle connector declares no GROUPS capability")

    async def list_sso_identities(self) -> AsyncIterator[SsoIdentity]:
        """Accounts whose auth plugin is not an internal one, with the subject field's value."""
        for user in await self._users():
            if (identity := self._sso(user)) is not None:
                yield identity

    async def find_accounts(self, *, field: str, values: Sequence[str]) -> Sequence[Account]:
        """Look accounts up by `external_id` (idnumber), `email` or `username`; usernames are lower-cased.

        core_user_get_users_by_field compares exactly, which on PostgreSQL means case-sensitively, and Moodle
        keeps emails as typed; so emails not found as given or lower-cased are looked for with
        core_user_get_users, whose email criterion is a case-insensitive LIKE: one call each, a few at once, or
        one call for every account when the site is small enough for that to cost less. Either way the cost is
        bounded by the number of emails, never by the accounts the site holds besides. Callers compare what they
        get back themselves.
        """
        if field not in _LOOKUP_FIELDS:
            raise Invalid(f"cannot look accounts up by {field!r}")
        if field == "username":
            values = [u for v in values if (u := mapping.normal_username(v))]
        elif field == "email":
            values = [w for v in values for w in (v.strip(), v.strip().lower())]
        users = await self._client.users_by_field(_LOOKUP_FIELDS[field], values) if values else []
        if field == "email":
            users += await self._emails_by_case(values, users)
        unique = {u.id: u for u in users}
        return [mapping.to_account(u, job_title_field=self.config.job_title_field) for u in unique.values()]

    async def _emails_by_case(self, values: Sequence[str], found: Sequence[MoodleUser]) -> list[MoodleUser]:
        known = {u.email.strip().casefold() for u in found}
        missing = {v.strip().casefold() for v in values if v.strip() and v.strip().casefold() not in known}
        if not missing:
            return []
        few = len(missing) <= self._client.concurrency  # one round of searches: cheaper than asking first
        if not few and await self._site_holds_fewer_than(len(missing) * SEARCH_COST_IN_ACCOUNTS):
            return [u for u in await self._users() if u.email.strip().casefold() in missing]
        ordered = sorted(missing)
        searches = await all_of(self._client.search_users([("email", email)]) for email in ordered)
        # `_` and `%` are LIKE wildcards: a search may also return near misses, dropped here.
        return [
            u
            for email, found in zip(ordered, searches, strict=True)
            for u in found
            if u.email.strip().casefold() == email
        ]

    async def _site_holds_fewer_than(self, accounts: int) -> bool:
        """Whether the site has fewer than `accounts` user records, asked in one small read: Moodle numbers users
        from 1 without reusing ids, and deleting one keeps its record (found by id, renamed), so no user among the
        ids from `accounts` on means fewer records than that. A guess wrong either way costs time, not results."""
        probe = [str(accounts + offset) for offset in range(PROBE_SPAN)]
        return not await self._client.users_by_field("id", probe)

    async def read_completion(self, account_id: str, course_id: str) -> Completion:
        """Whether the learner completed the course, and when; `tracked=False` when the course does not track
        them (completion off, no criteria, not enrolled as a learner). A read: retried, raises `ConnectorError`."""
        return await read_completion(self._client, *completion_ids(account_id, course_id))

    async def preflight(self, ops: Sequence[Op]) -> Sequence[str | None]:
        """Why Moodle would refuse each op outright, learnt before anything is written (None: no objection).

        An auth plugin the site has not installed (a create's or update's `auth`, an SSO op's) fails the whole
        Moodle call it is in. Asked with calls that change nothing (`site.SiteFacts`). Raises like a read."""
        auths = {i: auth for i, op in enumerate(ops) if (auth := self._auth_of(op))}
        absent = set(await self._facts.absent("auth", set(auths.values()))) if auths else set()
        return [absent_reason("auth", auths[i]) if auths.get(i) in absent else None for i in range(len(ops))]

    def _auth_of(self, op: Op) -> str | None:
        if isinstance(op, CreateUser):
            return op.fields.auth or self.config.default_auth
        if isinstance(op, UpdateUser):
            return op.fields.auth
        return op.auth if isinstance(op, SetSsoIdentity) else None

    async def apply(self, ops: Sequence[Op]) -> Sequence[OpResult]:
        """Apply ops, grouped per Moodle function in plan order; one result per op, in order.

        Idempotent: effects already in place are `already`. Records Moodle refuses are `failed` with its errorcode.
        A transient failure raises `TransientError` unless some op already took effect, in which case the ops not
        yet applied come back `retry`. Auth errors raise. Writes are never retried here.
        """
        self._seen = self._roster_roles = None  # writes follow: what was read before them is no answer after
        out: dict[int, OpResult] = {}
        groups: dict[Handler, list[tuple[int, Any]]] = {}
        for index, op in enumerate(ops):
            handler = self._handlers.get(op.kind)
            if handler is None:
                out[index] = OpResult.failed(f"{op.kind} is not supported by Moodle core web services")
            else:
                groups.setdefault(handler, []).append((index, op))
        try:
            for handler, items in groups.items():
                await handler(items, out)
        except TransientError as error:
            if not any(result.outcome == "done" for result in out.values()):
                raise
            return [out.get(index) or op_failure(error) for index in range(len(ops))]
        return [out[index] for index in range(len(ops))]


# The contract, checked: mypy fails here when a method or the constructor drifts from `TargetConnector`.
_contract: TargetClass = MoodleTarget
_preflight: type[PreflightTarget] = MoodleTarget
_progress: type[ProgressReader] = MoodleTarget  # reads enrolment progress back (issue 16)
_scopes: type[RoleScopesListed] = MoodleTarget  # lists system and user roles only through the role mirror
_roles_of: type[RolesOfAccounts] = MoodleTarget  # reads the linked accounts' roles alone
_lookup: type[AccountLookup] = MoodleTarget  # reads the linked accounts by id (issue 19)
