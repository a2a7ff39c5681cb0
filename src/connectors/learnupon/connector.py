"""LearnUpon as an LMS target, through its REST API v1 (docs.learnupon.com/api)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from datetime import datetime
from typing import Any, ClassVar

import httpx

from enrolsync.connectors.base import Capability, ConnectorInfo, ProgressReader, ReadRetryPolicy, TargetClass
from enrolsync.connectors.errors import ConnectorError, Invalid, TransientError
from enrolsync.connectors.kit.retry import ReadRetry
from enrolsync.connectors.learnupon import mapping
from enrolsync.connectors.learnupon.apply import Outcomes, each, numeric
from enrolsync.connectors.learnupon.client import LearnUponClient
from enrolsync.connectors.learnupon.config import LearnUponConfig
from enrolsync.connectors.learnupon.enrolments import EnrolmentWriter, started
from enrolsync.connectors.learnupon.errors import op_failure
from enrolsync.connectors.learnupon.progress import read_progress
from enrolsync.connectors.learnupon.teams import GroupWriter, RoleWriter, TeamBook
from enrolsync.connectors.learnupon.users import UserWriter
from enrolsync.connectors.model import (
    Account,
    CheckResult,
    Course,
    Enrolment,
    GroupMembership,
    Progress,
    RoleAssignment,
    RoleScope,
    SsoIdentity,
)
from enrolsync.connectors.ops import Op, OpKind, OpResult

Handler = Callable[[Sequence[tuple[int, Any]], Outcomes], Awaitable[None]]
CONCURRENCY = 2
_LOOKUP = ("external_id", "email", "username")


class LearnUponTarget:
    """Learners (created enabled, disabled as leavers), enrolments with progress, user types, groups, a team
    group per manager for manager scope, and the SSO identity the portal's SAML matches on."""

    info: ClassVar[ConnectorInfo] = ConnectorInfo(
        key="learnupon",
        kind="lms",
        title="LearnUpon",
        config_model=LearnUponConfig,
        capabilities=frozenset(
            {
                Capability.ACCOUNTS,
                Capability.ENROLMENTS,
                Capability.ROLES,
                Capability.GROUPS,
                Capability.SSO,
                Capability.MANAGER_SCOPE,
                Capability.COURSES,
                Capability.PROGRESS,
                Capability.DUE_DATES,
            }
        ),
        # Users have no batch endpoint (one request each; the executor runs them concurrently within the budget).
        batch_limits={
            OpKind.ENROL: 500,  # one bulk-enrollment job from `bulk_enrol_threshold` on
            OpKind.UNENROL: 100,
            OpKind.SET_DUE_DATE: 100,
            OpKind.ASSIGN_ROLE: 50,
            OpKind.REVOKE_ROLE: 50,
            OpKind.ADD_TO_GROUP: 50,
            OpKind.REMOVE_FROM_GROUP: 50,
        },
        # LearnUpon publishes no numbers, so no fixed rate is guessed here: the client paces itself by the
        # portal's own `X-LU-Rate-Limit-Remaining-Minute` header (`client.Budget`) and waits out a 429.
        default_rate=None,
        max_concurrency=CONCURRENCY,
    )

    def __init__(
        self, config: LearnUponConfig, http: httpx.AsyncClient, *, retry: ReadRetryPolicy | None = None
    ) -> None:
        self.config = config
        policy = retry or ReadRetry()
        self._client = LearnUponClient(http, config, policy)
        self._users = UserWriter(self._client, config)
        self._enrolments = EnrolmentWriter(self._client, config, policy, CONCURRENCY)
        roles, groups = RoleWriter(self._client, config), GroupWriter(self._client, config)
        self._handlers: dict[OpKind, Handler] = {
            OpKind.CREATE_USER: self._each(self._users.create),
            OpKind.UPDATE_USER: self._each(self._users.change),
            OpKind.DEACTIVATE_USER: self._each(self._users.change),
            OpKind.REACTIVATE_USER: self._each(self._users.change),
            OpKind.SET_SSO_IDENTITY: self._each(self._users.change),
            OpKind.ENROL: self._enrolments.apply,
            OpKind.UNENROL: self._enrolments.apply,
            OpKind.SET_DUE_DATE: self._enrolments.apply,
            OpKind.ASSIGN_ROLE: roles.apply,
            OpKind.REVOKE_ROLE: roles.apply,
            OpKind.ADD_TO_GROUP: groups.apply,
            OpKind.REMOVE_FROM_GROUP: groups.apply,
        }

    @staticmethod
    def _each(apply_one: Callable[[Any], Awaitable[OpResult]]) -> Handler:
        async def handler(items: Sequence[tuple[int, Any]], out: Outcomes) -> None:
            await each(items, apply_one, out, concurrency=CONCURRENCY)

        return handler

    async def check(self) -> CheckResult:
        """Prove the key pair by reading one page of courses. Never raises for bad keys."""
        try:
            courses = await self._client.courses()
        except ConnectorError as error:
            return CheckResult(ok=False, detail=f"LearnUpon refused: {error.reason}")
        return CheckResult(ok=True, detail="ok", facts={"courses": len(courses)})

    async def list_accounts(self) -> AsyncIterator[Account]:
        """Every user of the portal, enabled or not. Raises `AuthError`, or `TransientError` once retries run out."""
        for user in await self._client.users():
            yield mapping.to_account(user, self.config)

    async def list_courses(self) -> AsyncIterator[Course]:
        """Every course of the portal, known by its name (LearnUpon has no other course key in the API we use;
        two courses sharing a name are reported ambiguous by the engine, never guessed)."""
        for course in await self._client.courses():
            yield Course(course_id=str(course.id), name=course.name, keys={"name": course.name} if course.name else {})

    async def list_enrolments(self, *, course_ids: Collection[str] | None = None) -> AsyncIterator[Enrolment]:
        """Enrolments of every course or only `course_ids`; `started` = any status but `not_started`."""
        if course_ids is None:
            ids = [c.id for c in await self._client.courses()]
        else:
            ids = sorted({n for c in course_ids if (n := numeric(c)) is not None})
        for course_id in ids:
            for e in await self._client.enrollments(course_id=course_id):
                yield Enrolment(account_id=str(e.user_id), course_id=str(e.course_id), started=started(e))

    def list_progress(self, *, course_ids: Collection[str], since: datetime | None = None) -> AsyncIterator[Progress]:
        """Each enrolment's progress in `course_ids` (unknown courses skipped), from LearnUpon's enrolment status,
        dates and module percentage (`progress.py`). Read only. `since` is ignored: LearnUpon's enrolment search has
        no documented filter on when an enrolment changed, so every enrolment is listed."""
        return read_progress(self._client, course_ids)

    async def list_role_assignments(self) -> AsyncIterator[RoleAssignment]:
        """User types other than learner (SYSTEM), and each team manager over their team's learners (USER)."""
        for user in await self._client.users():
            if user.user_type != "learner":
                yield RoleAssignment(account_id=str(user.id), role=user.user_type, scope=RoleScope.SYSTEM)
        book = TeamBook(self._client, self.config)
        for group in (await book.groups()).values():
            if not book.is_team(group):
                continue
            members = await book.members(group.id)
            leads = [m.user_id for m in members if m.group_membership_type_id == mapping.MEMBERSHIP_MANAGER]
            for lead in leads:
                for m in members:
                    if m.group_membership_type_id == mapping.MEMBERSHIP_LEARNER:
                        yield RoleAssignment(
                            account_id=str(lead), role="manager", scope=RoleScope.USER, scope_id=str(m.user_id)
                        )

    async def list_group_memberships(self) -> AsyncIterator[GroupMembership]:
        """Memberships of every group except the team groups enrolsync keeps for manager scope."""
        book = TeamBook(self._client, self.config)
        for group in (await book.groups()).values():
            if not book.is_team(group):
                for member in await book.members(group.id):
                    yield GroupMembership(account_id=str(member.user_id), group_id=str(group.id))

    async def list_sso_identities(self) -> AsyncIterator[SsoIdentity]:
        """Users signing in through the portal's SAML with their identifier (iff `sso_auth`): every user, or with
        `sso_field` those it marks."""
        if self.config.sso_auth is None:
            return
        for user in await self._client.users():
            subject = user.email if self.config.identifier == "email" else (user.username or "")
            auth = mapping.sso_auth_of(user, self.config)
            if subject and auth is not None:
                yield SsoIdentity(account_id=str(user.id), auth=auth, subject=subject)

    async def find_accounts(self, *, field: str, values: Sequence[str]) -> Sequence[Account]:
        """Look accounts up by `email` or `username` (LearnUpon's search, case-insensitive) or `external_id` (the
        custom user data field: LearnUpon cannot search it, so every user is read once)."""
        if field not in _LOOKUP:
            raise Invalid(f"cannot look accounts up by {field!r}")
        wanted = {v.strip().casefold() for v in values if v.strip()}
        if not wanted:
            return []
        if field == "external_id":
            label = self.config.external_id_field
            users = [u for u in await self._client.users() if (u.field(label) or "").casefold() in wanted]
        else:
            users = []
            for value in sorted(wanted):
                users += await self._client.search_users(field, value)
        unique = {u.id: u for u in users}
        return [mapping.to_account(u, self.config) for u in unique.values()]

    async def apply(self, ops: Sequence[Op]) -> Sequence[OpResult]:
        """Apply ops grouped by kind in plan order; one result per op, in order.

        Idempotent: effects in place are `already`. Records LearnUpon refuses are `failed` with its status; a
        transient failure of one request is that op's `retry`. Auth errors raise. Writes are never retried here.
        """
        out: Outcomes = {}
        groups: dict[Handler, list[tuple[int, Any]]] = {}
        for index, op in enumerate(ops):
            handler = self._handlers.get(op.kind)
            if handler is None:
                out[index] = OpResult.failed(f"{op.kind} is not supported by LearnUpon")
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
_contract: TargetClass = LearnUponTarget
_progress: type[ProgressReader] = LearnUponTarget  # reads enrolment progress back (issue 16)
