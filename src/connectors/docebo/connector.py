"""Docebo as an LMS target, through its REST API (`/manage/v1`, `/learn/v1`) with OAuth2 client credentials."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from datetime import datetime
from typing import Any, ClassVar

import httpx

from enrolsync.connectors.base import Capability, ConnectorInfo, Rate, ReadRetryPolicy, TargetClass
from enrolsync.connectors.docebo import mapping
from enrolsync.connectors.docebo.client import DoceboClient
from enrolsync.connectors.docebo.config import DoceboConfig
from enrolsync.connectors.docebo.enrolments import ENROLLMENTS, Enrolments
from enrolsync.connectors.docebo.models import BranchItem, CourseItem, EnrollmentItem, UserItem
from enrolsync.connectors.docebo.progress import read_progress
from enrolsync.connectors.docebo.users import MANAGER_ROLE, USERS, Users
from enrolsync.connectors.errors import AuthError, ConnectorError, Invalid
from enrolsync.connectors.kit.batching import result_for_error
from enrolsync.connectors.kit.clock import SYSTEM_CLOCK, Clock
from enrolsync.connectors.kit.retry import ReadRetry
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
from enrolsync.connectors.ops import AssignRole, Op, OpKind, OpResult, RevokeRole

CONCURRENCY = 4
SEARCHES = 10  # above this many emails or usernames to find, one read of every user is cheaper
BATCHED = (OpKind.CREATE_USER, OpKind.ENROL, OpKind.DEACTIVATE_USER, OpKind.REACTIVATE_USER)


class DoceboTarget:
    """Users (batch import, levels, status), course enrolments (batch), the course catalogue (by code), org chart
    branches as groups, the Direct Manager relation as manager scope, and the SSO identity."""

    info: ClassVar[ConnectorInfo] = ConnectorInfo(
        key="docebo",
        kind="lms",
        title="Docebo",
        config_model=DoceboConfig,
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
            }
        ),
        # Joiners go out as one batch import, enrolments as one batch enrolment, leavers as one change_status;
        # the other ops are one call each, CONCURRENCY at a time.
        batch_limits={kind: 200 if kind in BATCHED else 20 for kind in OpKind},
        # Docebo throttles with a leaky bucket per API client and does not publish its size (about 1,000 calls
        # an hour historically): the window keeps a sync within it; a 429's Retry-After pauses the connection.
        rate_windows=(Rate(calls=1000, per_seconds=3600),),
        pace_on_throttle=True,
        max_concurrency=CONCURRENCY,
    )

    def __init__(
        self,
        config: DoceboConfig,
        http: httpx.AsyncClient,
        *,
        retry: ReadRetryPolicy | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.config = config
        self._client = DoceboClient(http, config, retry or ReadRetry(), clock)
        self._users = Users(self._client, config)
        self._enrolments = Enrolments(self._client, self._users)
        self._one: dict[OpKind, Callable[[Any], Awaitable[OpResult]]] = {
            OpKind.UPDATE_USER: self._users.update,
            OpKind.SET_SSO_IDENTITY: self._users.sso,
            OpKind.ASSIGN_ROLE: self._role,
            OpKind.REVOKE_ROLE: self._role,
            OpKind.UNENROL: self._enrolments.unenrol,
            OpKind.ADD_TO_GROUP: self._enrolments.branch,
            OpKind.REMOVE_FROM_GROUP: self._enrolments.branch,
        }
        self._many: dict[OpKind, Callable[[Any], Awaitable[list[OpResult]]]] = {
            OpKind.CREATE_USER: self._users.create,
            OpKind.ENROL: self._enrolments.enrol,
            OpKind.DEACTIVATE_USER: self._users.status,
            OpKind.REACTIVATE_USER: self._users.status,
        }

    async def _role(self, op: AssignRole | RevokeRole) -> OpResult:
        """Course roles are enrolment levels (`course_levels`); the rest are the user's (level, Direct Manager)."""
        if op.scope is RoleScope.COURSE and op.role in self.config.course_levels:
            return await self._enrolments.course_role(op, self.config.course_levels[op.role])
        return await self._users.role(op)

    @property
    def tokens_fetched(self) -> int:
        """How many tokens this connector asked for (one per hour of work, not one per call)."""
        return self._client.auth.fetched

    async def check(self) -> CheckResult:
        """Prove the client credentials (a token and one small read) and, when set, the HR id field. Never raises
        for bad credentials."""
        try:
            sample, total = await self._client.first(USERS, UserItem)
        except ConnectorError as error:
            return CheckResult(ok=False, detail=f"Docebo refused: {error.reason}")
        facts = {"users": total} if total is not None else {}
        field = self.config.external_id_field
        if field is not None and sample and f"field_{field}" not in (sample[0].model_extra or {}):
            return CheckResult(ok=False, detail=f"the platform has no additional user field {field}", facts=facts)
        return CheckResult(ok=True, detail="ok", facts=facts)

    async def list_accounts(self) -> AsyncIterator[Account]:
        """Every user, 200 a page, with the HR id from its additional field."""
        async for page in self._client.pages(USERS, UserItem):
            for user in page:
                yield mapping.to_account(user, self.config)

    async def list_courses(self) -> AsyncIterator[Course]:
        """Every course, known by its code (Docebo's `code`, e.g. `SAFETY-101`) when it has one."""
        async for page in self._client.pages("learn/v1/courses", CourseItem):
            for course in page:
                keys = {"code": course.code} if course.code else {}
                yield Course(course_id=str(course.id_course), name=course.name, keys=keys)

    async def list_enrolments(self, *, course_ids: Collection[str] | None = None) -> AsyncIterator[Enrolment]:
        """Enrolments of every course, or only of `course_ids` (Docebo filters by `id_course[]`)."""
        params: dict[str, Any] = {}
        if course_ids is not None:
            wanted = sorted({n for c in course_ids if (n := mapping.numeric(c)) is not None})
            if not wanted:
                return
            params["id_course[]"] = wanted
        async for page in self._client.pages(ENROLLMENTS, EnrollmentItem, **params):
            for e in page:
                yield Enrolment(account_id=str(e.user_id), course_id=str(e.id), started=e.started)

    def list_progress(self, *, course_ids: Collection[str], since: datetime | None = None) -> AsyncIterator[Progress]:
        """Each learner's progress in `course_ids` from the course service's enrolment list (`progress.py`); read
        only. `since` is ignored (no documented time filter), so every enrolment is listed."""
        return read_progress(self._client, course_ids)

    async def list_role_assignments(self) -> AsyncIterator[RoleAssignment]:
        """System roles from user levels, each Direct Manager's role over their reports, and course roles from
        enrolment levels."""
        course_roles = {level: role for role, level in self.config.course_levels.items()}
        async for held in self._client.pages(ENROLLMENTS, EnrollmentItem):
            for e in held:
                if e.level in course_roles:
                    yield RoleAssignment(
                        account_id=str(e.user_id),
                        role=course_roles[e.level],
                        scope=RoleScope.COURSE,
                        scope_id=str(e.id),
                    )
        roles = {level: role for role, level in self.config.levels.items()}
        async for page in self._client.pages(USERS, UserItem):
            for user in page:
                if user.level in roles:
                    yield RoleAssignment(account_id=user.user_id, role=roles[user.level])
                manager = user.manager(mapping.DIRECT_MANAGER)
                if manager is not None:
                    yield RoleAssignment(
                        account_id=manager, role=MANAGER_ROLE, scope=RoleScope.USER, scope_id=user.user_id
                    )

    async def list_group_memberships(self) -> AsyncIterator[GroupMembership]:
        """Members of every org chart branch (group id = branch id)."""
        branches = [b async for page in self._client.pages("manage/v1/orgchart", BranchItem) for b in page]
        for branch in branches:
            async for page in self._client.pages(USERS, UserItem, branch_id=branch.id):
                for user in page:
                    yield GroupMembership(account_id=user.user_id, group_id=str(branch.id))

    async def list_sso_identities(self) -> AsyncIterator[SsoIdentity]:
        """With the platform's SSO configured (`sso_auth`), every account signs in through it."""
        if self.config.sso_auth is None:
            return
        async for account in self.list_accounts():
            subject = getattr(account.fields, self.config.sso_subject_field)
            yield SsoIdentity(account_id=account.account_id, auth=self.config.sso_auth, subject=subject)

    async def find_accounts(self, *, field: str, values: Sequence[str]) -> Sequence[Account]:
        """By `email` or `username`: Docebo's `search_text` per value (exact matches kept), or one read of
        everyone for many values. By `external_id`: one read of everyone (the list carries additional fields)."""
        wanted = {v.strip().lower(): v.strip() for v in values if v.strip()}
        if field == "external_id":
            if self.config.external_id_field is None:
                return []
            exact = set(wanted.values())
            return [a async for a in self.list_accounts() if a.fields.external_id in exact]
        if field not in ("email", "username"):
            raise Invalid(f"cannot look accounts up by {field!r}")
        if len(wanted) > SEARCHES:
            return [a async for a in self.list_accounts() if getattr(a.fields, field).lower() in wanted]
        found: dict[str, Account] = {}
        for value in sorted(wanted.values()):
            for user in await self._users.search(value):
                account = mapping.to_account(user, self.config)
                if getattr(account.fields, field).lower() == value.lower():
                    found[account.account_id] = account
        return list(found.values())

    async def apply(self, ops: Sequence[Op]) -> Sequence[OpResult]:
        """Batched kinds go out as one call per kind (creates, enrolments, status changes); the rest one call
        each, CONCURRENCY at a time. One result per op, in order. A refused row or call fails that op only;
        throttling and 5xx come back `retry`; writes are never retried here; refused credentials fail the call."""
        results: list[OpResult | None] = [None] * len(ops)
        slots = asyncio.Semaphore(CONCURRENCY)
        refused: list[AuthError] = []

        async def guarded(indexes: list[int], work: Awaitable[list[OpResult]]) -> None:
            async with slots:
                try:
                    outcomes = await work
                except AuthError as error:
                    refused.append(error)
                    outcomes = [result_for_error(error)] * len(indexes)
                except ConnectorError as error:
                    outcomes = [result_for_error(error)] * len(indexes)
            for index, outcome in zip(indexes, outcomes, strict=True):
                results[index] = outcome

        async def single(op: Op) -> list[OpResult]:
            handler = self._one.get(op.kind)
            if handler is None:
                return [OpResult.failed(f"{op.kind} is not supported by the Docebo connector")]
            return [await handler(op)]

        jobs: list[Awaitable[None]] = []
        for kind, many in self._many.items():
            indexes = [i for i, op in enumerate(ops) if op.kind is kind]
            if indexes:
                jobs.append(guarded(indexes, many([ops[i] for i in indexes])))
        jobs += [guarded([i], single(op)) for i, op in enumerate(ops) if op.kind not in self._many]
        await asyncio.gather(*jobs)
        if refused:
            raise refused[0]  # the credentials themselves are refused: the whole call fails
        return [r if r is not None else OpResult.failed("not applied") for r in results]


# The contract, checked: mypy fails here when a method or the constructor drifts from `TargetConnector`.
_contract: TargetClass = DoceboTarget
