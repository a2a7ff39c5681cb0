"""TalentLMS as an LMS target, through its v2 REST API (X-API-Key, X-API-Version)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from datetime import datetime
from typing import Any, ClassVar

import httpx

from enrolsync.connectors.base import Capability, ConnectorInfo, Rate, ReadRetryPolicy, TargetClass
from enrolsync.connectors.errors import AuthError, ConnectorError, Invalid, NotFound
from enrolsync.connectors.kit.batching import result_for_error
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
from enrolsync.connectors.ops import Op, OpKind, OpResult
from enrolsync.connectors.talentlms import mapping
from enrolsync.connectors.talentlms.client import PAGE_SIZE, TalentLMSClient
from enrolsync.connectors.talentlms.config import TalentLMSConfig
from enrolsync.connectors.talentlms.models import CourseDetail, CourseItem, Named, UserDetail, UserItem
from enrolsync.connectors.talentlms.progress import read_progress
from enrolsync.connectors.talentlms.teams import Teams
from enrolsync.connectors.talentlms.writers import USERS, Writers

LIST_SEARCHES = 10  # above this many emails or logins to find, one read of every user is cheaper
CONCURRENCY = 4
MANAGER_ROLE = "manager"


class TalentLMSTarget:
    """Users, course enrollments (learner or instructor), groups, branches, manager teams, SSO identity, user
    deletion and the course catalogue (by course code)."""

    info: ClassVar[ConnectorInfo] = ConnectorInfo(
        key="talentlms",
        kind="lms",
        title="TalentLMS",
        config_model=TalentLMSConfig,
        capabilities=frozenset(
            {
                Capability.ACCOUNTS,
                Capability.ENROLMENTS,
                Capability.ROLES,
                Capability.GROUPS,
                Capability.SSO,
                Capability.MANAGER_SCOPE,
                Capability.HARD_DELETE,
                Capability.COURSES,
                Capability.PROGRESS,
            }
        ),
        # No batch endpoint with per-item answers (the /batch/* ones answer a background task): ops of a batch go
        # out one call each, CONCURRENCY at a time, under the limiter. Creates go one per batch, because the
        # contract reads a create limit above 1 as "one request per batch".
        batch_limits={kind: 20 for kind in OpKind if kind is not OpKind.CREATE_USER},
        # Both of TalentLMS's limits, counted exactly (window budgets, not a leaky bucket that lets a burst past):
        # "each customer's API requests should not exceed the rate of 200 API calls per 5 seconds", and the
        # plan's hourly budget (2,000 on the smaller plans; the limiter adopts X-RateLimit-Limit when it differs).
        rate_windows=(Rate(calls=180, per_seconds=5), Rate(calls=2000, per_seconds=3600)),
        max_concurrency=CONCURRENCY,
    )

    def __init__(
        self, config: TalentLMSConfig, http: httpx.AsyncClient, *, retry: ReadRetryPolicy | None = None
    ) -> None:
        self.config = config
        self._client = TalentLMSClient(http, config, retry or ReadRetry())
        self._teams = Teams(self._client, config)
        w = Writers(self._client, config, self._teams)
        self._handlers: dict[OpKind, Callable[[Any], Awaitable[OpResult]]] = {
            OpKind.CREATE_USER: w.create,
            OpKind.UPDATE_USER: w.update,
            OpKind.DEACTIVATE_USER: w.status,
            OpKind.DELETE_USER: w.delete,
            OpKind.REACTIVATE_USER: w.status,
            OpKind.SET_SSO_IDENTITY: w.sso,
            OpKind.ENROL: w.enrol,
            OpKind.UNENROL: w.unenrol,
            OpKind.ASSIGN_ROLE: w.role,
            OpKind.REVOKE_ROLE: w.role,
            OpKind.ADD_TO_GROUP: w.membership,
            OpKind.REMOVE_FROM_GROUP: w.membership,
        }

    async def check(self) -> CheckResult:
        """Prove the key and the version header (one small read), report the hour's API budget left and, when set,
        that the HR id field exists. Never raises for a bad key."""
        try:
            sample, headers = await self._client.first(USERS, UserItem)
            facts: dict[str, Any] = {"api_version": self.config.api_version}
            for fact, header in (("hourly_limit", "X-RateLimit-Limit"), ("hourly_remaining", "X-RateLimit-Remaining")):
                if header in headers:
                    facts[fact] = headers[header]
            field = self.config.external_id_field
            if field is not None and sample:
                detail = await self._client.get(f"{USERS}/{sample[0].id}", UserDetail)
                if all(c.id != field for c in detail.custom_fields):
                    return CheckResult(ok=False, detail=f"the portal has no custom user field {field}", facts=facts)
        except ConnectorError as error:
            return CheckResult(ok=False, detail=f"TalentLMS refused: {error.reason}")
        return CheckResult(ok=True, detail="ok", facts=facts)

    async def list_accounts(self) -> AsyncIterator[Account]:
        """Every user, 100 a page. Listed users carry no custom fields, so `external_id` is None here."""
        async for page in self._client.pages(USERS, UserItem):
            for user in page:
                yield mapping.to_account(user, self.config)

    async def list_courses(self) -> AsyncIterator[Course]:
        """Every course, known by its code (TalentLMS's `code`, e.g. `ADV-101`) when it has one."""
        async for page in self._client.pages("api/v2/courses", CourseItem):
            for course in page:
                keys = {"code": course.code} if course.code else {}
                yield Course(course_id=str(course.id), name=course.name, keys=keys)

    async def _courses(self, course_ids: Collection[str] | None) -> list[int]:
        if course_ids is not None:
            return sorted({n for c in course_ids if (n := mapping.numeric(c)) is not None})
        return [c.id async for page in self._client.pages("api/v2/courses", Named) for c in page]

    async def _rosters(self, course_ids: Collection[str] | None) -> AsyncIterator[CourseDetail]:
        for course_id in await self._courses(course_ids):
            try:
                yield await self._client.get(f"api/v2/courses/{course_id}", CourseDetail)
            except NotFound:  # deleted meanwhile, or never there: skipped, as the contract says
                continue

    async def list_enrolments(self, *, course_ids: Collection[str] | None = None) -> AsyncIterator[Enrolment]:
        """Learners and instructors of every course or only `course_ids` (one course read each)."""
        async for course in self._rosters(course_ids):
            for user in course.users:
                yield Enrolment(account_id=str(user.id), course_id=str(course.id), started=user.started)

    def list_progress(self, *, course_ids: Collection[str], since: datetime | None = None) -> AsyncIterator[Progress]:
        """Each learner's progress in `course_ids`, one course read each (`progress.py`); read only. `since` is
        ignored: TalentLMS's course read has no time filter, so every enrolment is listed."""
        return read_progress(self._client, course_ids)

    async def list_role_assignments(self) -> AsyncIterator[RoleAssignment]:
        """System roles from user types (learner's type excepted), instructors per course, and managers over the
        members of their team groups."""
        roles = {name: role for role, name in self.config.user_types.items() if role != "learner"}
        async for page in self._client.pages(USERS, UserItem):
            for item in page:
                if item.type in roles:
                    yield RoleAssignment(account_id=str(item.id), role=roles[item.type])
        async for course in self._rosters(None):
            for user in course.users:
                if user.role == "instructor":
                    yield RoleAssignment(
                        account_id=str(user.id), role="instructor", scope=RoleScope.COURSE, scope_id=str(course.id)
                    )
        for held in await self._teams.assignments(MANAGER_ROLE):
            yield held

    async def list_group_memberships(self) -> AsyncIterator[GroupMembership]:
        """Members of every group (team groups excepted: they are roles) and of every branch (`branch:<id>`)."""
        prefix = self.config.team_group_prefix
        for kind, path, tag in (("group", "api/v2/groups", ""), ("branch", "api/v2/branches", mapping.BRANCH_PREFIX)):
            holders = [h async for page in self._client.pages(path, Named) for h in page]
            for holder in holders:
                if kind == "group" and mapping.team_manager(holder.name, prefix) is not None:
                    continue
                async for page in self._client.pages(USERS, UserItem, **{f"filter[{kind}_id][eq]": holder.id}):
                    for user in page:
                        yield GroupMembership(account_id=str(user.id), group_id=f"{tag}{holder.id}")

    async def list_sso_identities(self) -> AsyncIterator[SsoIdentity]:
        """With the portal's SSO configured (`sso_auth`), every account signs in through it as its login/email."""
        if self.config.sso_auth is None:
            return
        async for page in self._client.pages(USERS, UserItem):
            for user in page:
                subject = str(getattr(user, self.config.sso_subject_field))
                yield SsoIdentity(account_id=str(user.id), auth=self.config.sso_auth, subject=subject)

    async def find_accounts(self, *, field: str, values: Sequence[str]) -> Sequence[Account]:
        """By `email` or `username` (login): TalentLMS's exact filters, or one read of everyone for many values.
        By `external_id`: the custom-field-value filter, each candidate's details checked (the filter does not
        name the field)."""
        wanted = [v.strip() for v in values if v.strip()]
        if field == "external_id":
            return await self._by_external_id(wanted) if self.config.external_id_field is not None else []
        if field not in ("email", "username"):
            raise Invalid(f"cannot look accounts up by {field!r}")
        name = "email" if field == "email" else "login"
        # Sent as given, one per spelling that differs beyond case (casefold would turn `ß` into `ss`: another
        # mailbox); callers compare what comes back themselves, after their own folding.
        distinct = {v.lower(): v for v in wanted}
        if len(distinct) > LIST_SEARCHES:
            return [a async for a in self.list_accounts() if getattr(a.fields, field).lower() in distinct]
        found: dict[str, Account] = {}
        for value in sorted(distinct.values()):
            async for page in self._client.pages(USERS, UserItem, **{f"filter[{name}][eq]": value}):
                found |= {str(u.id): mapping.to_account(u, self.config) for u in page}
        return list(found.values())

    async def _by_external_id(self, values: Sequence[str]) -> list[Account]:
        """One filtered search per HR id, or, when the portal has fewer users than there are ids (a first sync
        into a young portal), every user's details: whichever costs fewer calls."""
        wanted = set(values)
        users = await self._client.total(USERS) if len(wanted) > LIST_SEARCHES else None
        if users is not None and users + -(-users // PAGE_SIZE) < len(wanted):
            ids = [u.id async for page in self._client.pages(USERS, UserItem) for u in page]
            details = [await self._client.get(f"{USERS}/{i}", UserDetail) for i in ids]
            accounts = (mapping.to_account(d, self.config) for d in details)
            return [a for a in accounts if a.fields.external_id in wanted]
        found: dict[str, Account] = {}
        for value in sorted(wanted):
            async for page in self._client.pages(USERS, UserItem, **{"filter[custom_field_value][eq]": value}):
                for item in page:
                    account = mapping.to_account(await self._client.get(f"{USERS}/{item.id}", UserDetail), self.config)
                    if account.fields.external_id == value:
                        found[account.account_id] = account
        return list(found.values())

    async def apply(self, ops: Sequence[Op]) -> Sequence[OpResult]:
        """One call (or a read and a call) per op, CONCURRENCY at a time under the connection's limiter; one
        result per op, in order. TalentLMS's validation refusals (400) fail that op only; throttling and 5xx come
        back `retry`; writes are never retried here."""
        slots = asyncio.Semaphore(CONCURRENCY)
        refused: list[AuthError] = []

        async def one(op: Op) -> OpResult:
            async with slots:
                handler = self._handlers.get(op.kind)
                if handler is None:
                    return OpResult.failed(f"{op.kind} is not supported by the TalentLMS connector")
                try:
                    return await handler(op)
                except AuthError as error:
                    refused.append(error)
                    return result_for_error(error)
                except ConnectorError as error:
                    return result_for_error(error)

        results = list(await asyncio.gather(*(one(op) for op in ops)))
        if refused:
            raise refused[0]  # the key itself is refused (or the API is off): the whole call fails
        return results


# The contract, checked: mypy fails here when a method or the constructor drifts from `TargetConnector`.
_contract: TargetClass = TalentLMSTarget
