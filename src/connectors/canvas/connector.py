"""Canvas LMS as a target, through its REST API (`/api/v1`) with an account admin's token."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection, Sequence
from datetime import datetime
from typing import ClassVar

import httpx

from enrolsync.connectors.base import (
    Capability,
    ConnectorInfo,
    CourseCatalog,
    ProgressReader,
    Rate,
    ReadRetryPolicy,
    TargetClass,
)
from enrolsync.connectors.canvas import mapping
from enrolsync.connectors.canvas.budget import Budget
from enrolsync.connectors.canvas.client import CanvasClient, parse, sis
from enrolsync.connectors.canvas.config import CanvasConfig
from enrolsync.connectors.canvas.enrolments import Enrolments
from enrolsync.connectors.canvas.models import Account as CanvasAccount
from enrolsync.connectors.canvas.models import CanvasUser, Course, Login
from enrolsync.connectors.canvas.observers import Observers
from enrolsync.connectors.canvas.progress import read_progress
from enrolsync.connectors.canvas.users import Users
from enrolsync.connectors.errors import AuthError, ConnectorError, Invalid
from enrolsync.connectors.kit.batching import result_for_error
from enrolsync.connectors.kit.retry import ReadRetry
from enrolsync.connectors.model import (
    Account,
    CheckResult,
    Enrolment,
    GroupMembership,
    Progress,
    RoleAssignment,
    RoleScope,
    SsoIdentity,
)
from enrolsync.connectors.model import Course as CourseRef
from enrolsync.connectors.ops import (
    AssignRole,
    CreateUser,
    DeactivateUser,
    DeleteUser,
    Enrol,
    Op,
    OpKind,
    OpResult,
    ReactivateUser,
    RevokeRole,
    SetSsoIdentity,
    Unenrol,
    UpdateUser,
)

_PER_APPLY = 20  # ops handed over per apply call: run concurrently, each its own request(s), under the Budget


class CanvasTarget:
    """Accounts with SSO logins, enrolments, course roles, and managers observing their reports."""

    info: ClassVar[ConnectorInfo] = ConnectorInfo(
        key="canvas",
        kind="lms",
        title="Canvas LMS",
        config_model=CanvasConfig,
        capabilities=frozenset(
            {
                Capability.ACCOUNTS,
                Capability.ENROLMENTS,
                Capability.ROLES,
                Capability.SSO,
                Capability.MANAGER_SCOPE,
                Capability.COURSES,
                Capability.HARD_DELETE,
                Capability.PROGRESS,
            }
        ),
        # No kind has a batch endpoint (bulk writes exist only as asynchronous SIS CSV imports): a batch is ops
        # applied side by side, each failing alone. Creates go one per call, since nothing sends them together.
        batch_limits={kind: _PER_APPLY for kind in OpKind if kind is not OpKind.CREATE_USER},
        # Canvas's bucket (700 units, draining about 10 per second) is the real limit; the Budget follows it.
        default_rate=Rate(calls=600, per_seconds=60),
        max_concurrency=8,
    )

    def __init__(self, config: CanvasConfig, http: httpx.AsyncClient, *, retry: ReadRetryPolicy | None = None) -> None:
        self.config = config
        self.budget = Budget(config.max_concurrency)
        self._client = CanvasClient(http, config.token, retry or ReadRetry(), self.budget, per_page=config.per_page)
        self._users = Users(self._client, config)
        self._enrolments = Enrolments(self._client, config)
        self._observers = Observers(self._client)
        self._logins: dict[int, list[Login]] = {}  # read by list_accounts, re-used by list_sso_identities

    async def check(self) -> CheckResult:
        """Prove the token reaches the account and its authentication providers. Never raises for a bad token."""
        try:
            account = await self._client.one(CanvasAccount, f"accounts/{self.config.account_id}")
            providers = await self._users.providers()
        except ConnectorError as error:
            return CheckResult(ok=False, detail=f"Canvas refused: {error.reason}")
        kinds = sorted({p.auth_type for p in providers})
        unmatched = sorted(
            n for n in self.config.sso_providers if mapping.provider_id(n, providers, self.config.sso_providers) is None
        )
        facts = {
            "account": account.name,
            "account_id": account.id,
            "authentication_providers": kinds,
            "sso_names_without_provider": unmatched,  # SetSsoIdentity with one of these fails, naming it
        }
        if self.budget.remaining is not None:
            facts["rate_limit_remaining"] = self.budget.remaining
        return CheckResult(ok=True, detail="ok", facts=facts)

    # -- lists ----------------------------------------------------------------------------------------------------
    async def _all_users(self) -> AsyncIterator[list[CanvasUser]]:
        path = f"accounts/{self.config.account_id}/users"
        async for page in self._client.pages(path, [("include[]", "email")]):
            yield [parse(CanvasUser, item, path) for item in page]

    async def _with_logins(self, users: Sequence[CanvasUser]) -> list[tuple[CanvasUser, list[Login]]]:
        logins = await asyncio.gather(*(self._users.logins(u.id) for u in users))
        return list(zip(users, logins, strict=True))

    async def list_accounts(self) -> AsyncIterator[Account]:
        """Every user of the account, each with its logins read (one request per user: Canvas's user list shows
        no suspension). Raises `AuthError`, or `TransientError` once retries run out."""
        self._logins = {}
        async for users in self._all_users():
            for user, logins in await self._with_logins(users):
                self._logins[user.id] = logins
                yield mapping.to_account(user, logins)

    async def list_courses(self) -> AsyncIterator[CourseRef]:
        """The account's courses (sub-accounts' included, deleted ones not), known by their SIS course id (also in
        Canvas's own `sis_course_id:<id>` form) and their course code, which Canvas does not keep unique: a code two
        courses share is reported as ambiguous by the engine, never guessed."""
        for course in await self._client.every(Course, f"accounts/{self.config.account_id}/courses"):
            keys = {"course_code": course.course_code}
            if course.sis_course_id:
                keys |= {"sis_course_id": course.sis_course_id, "sis_ref": f"sis_course_id:{course.sis_course_id}"}
            yield CourseRef(course_id=str(course.id), name=course.name, keys={k: v for k, v in keys.items() if v})

    async def list_enrolments(self, *, course_ids: Collection[str] | None = None) -> AsyncIterator[Enrolment]:
        """Active and invited learner enrolments (concluded and deactivated ones are ended), with `started` from
        Canvas's activity record; only in `course_ids` when given, unknown courses skipped."""
        async for enrolment in self._enrolments.listed(course_ids, self.config.account_id):
            yield enrolment

    async def list_progress(
        self, *, course_ids: Collection[str], since: datetime | None = None
    ) -> AsyncIterator[Progress]:
        """Learner enrolments' progress in `course_ids` (unknown courses skipped), from Canvas's enrolment states,
        activity record and module completion (`progress.py`). Read only. `since` is ignored: Canvas cannot filter
        enrolments by when they changed, so every enrolment is listed."""
        async for progress in read_progress(
            self._client, self._enrolments, course_ids, self.config.course_roles["learner"]
        ):
            yield progress

    async def list_role_assignments(self) -> AsyncIterator[RoleAssignment]:
        """Observer links as the first observer role over each observee, and non-learner course roles."""
        if self.config.observer_roles:
            role = self.config.observer_roles[0]
            async for users in self._all_users():
                for user in users:
                    for observee in sorted(await self._observers.observees(str(user.id)), key=int):
                        yield RoleAssignment(
                            account_id=str(user.id), role=role, scope=RoleScope.USER, scope_id=observee
                        )
        roles = {canvas: name for name, canvas in self.config.course_roles.items() if name != "learner"}
        if not roles:
            return
        for course in await self._client.every(Course, f"accounts/{self.config.account_id}/courses"):
            for canvas_role, name in roles.items():
                for e in await self._enrolments.live(course, canvas_role):
                    yield RoleAssignment(
                        account_id=str(e.user_id), role=name, scope=RoleScope.COURSE, scope_id=str(course.id)
                    )

    def list_group_memberships(self) -> AsyncIterator[GroupMembership]:
        raise NotImplementedError("the Canvas connector declares no GROUPS capability")

    async def list_sso_identities(self) -> AsyncIterator[SsoIdentity]:
        """Users with a login tied to an authentication provider other than Canvas's own, with its unique id."""
        providers = {p.id: p for p in await self._users.providers()}
        async for users in self._all_users():
            known = [(u, self._logins[u.id]) for u in users if u.id in self._logins]
            fresh = await self._with_logins([u for u in users if u.id not in self._logins])
            for user, logins in known + fresh:
                for login in sorted(logins, key=lambda lg: lg.id):
                    provider = providers.get(login.authentication_provider_id or 0)
                    if provider is not None and provider.auth_type != "canvas":
                        auth = mapping.auth_name(provider, self.config.sso_providers)
                        yield SsoIdentity(account_id=str(user.id), auth=auth, subject=login.unique_id)
                        break

    async def find_accounts(self, *, field: str, values: Sequence[str]) -> Sequence[Account]:
        """Look accounts up by `external_id` (login SIS id), `username` (login unique id) or `email`.

        SIS ids are exact look-ups (`/users/sis_user_id:...`); login ids and emails go through the account's user
        search and are compared case-insensitively. Callers compare what they get back themselves.
        """
        wanted = [v.strip() for v in dict.fromkeys(values) if v.strip()]
        users: dict[int, CanvasUser] = {}
        if field in ("external_id", "username"):
            for value in wanted:
                if field == "external_id":
                    found = await self._users.user(sis("sis_user_id", value))
                else:
                    found = await self._users.by_login(value)
                if found is not None:
                    users[found.id] = found
        elif field == "email":
            path = f"accounts/{self.config.account_id}/users"
            for value in wanted:
                params = [("search_term", value), ("include[]", "email")]
                for user in await self._client.every(CanvasUser, path, params):
                    if (user.email or "").strip().casefold() == value.casefold():
                        users[user.id] = user
        else:
            raise Invalid(f"cannot look accounts up by {field!r}")
        return [mapping.to_account(u, logins) for u, logins in await self._with_logins(list(users.values()))]

    # -- apply ----------------------------------------------------------------------------------------------------
    async def apply(self, ops: Sequence[Op]) -> Sequence[OpResult]:
        """Apply ops side by side, one result per op, in order; each op is its own Canvas request(s), so a record
        Canvas refuses fails alone. Idempotent: effects in place are `already`. A rejected token (401) raises
        `AuthError`; throttling, 5xx and timeouts make that op `retry`. Writes are never retried here."""
        answers = await asyncio.gather(*(self._apply_one(op) for op in ops), return_exceptions=True)
        results: list[OpResult] = []
        for answer in answers:
            if isinstance(answer, AuthError) and answer.status == 401:
                raise answer
            if isinstance(answer, ConnectorError):
                results.append(result_for_error(answer))
            elif isinstance(answer, BaseException):
                raise answer
            else:
                results.append(answer)
        return results

    async def _apply_one(self, op: Op) -> OpResult:
        if isinstance(op, CreateUser):
            return await self._users.create(op)
        if isinstance(op, UpdateUser):
            return await self._users.update(op)
        if isinstance(op, DeactivateUser | ReactivateUser):
            return await self._users.set_active(op)
        if isinstance(op, SetSsoIdentity):
            return await self._users.set_sso(op)
        if isinstance(op, DeleteUser):
            return await self._users.delete(op)
        learner = self.config.course_roles["learner"]
        if isinstance(op, Enrol):
            return await self._enrolments.ensure(op.account_id, op.course_id, learner)
        if isinstance(op, Unenrol):
            keep = not self.config.conclude_started
            return await self._enrolments.end(op.account_id, op.course_id, learner, keep_started=keep)
        if isinstance(op, AssignRole | RevokeRole):
            return await self._role(op)
        return OpResult.failed(f"{op.kind} is not supported by the Canvas connector")

    async def _role(self, op: AssignRole | RevokeRole) -> OpResult:
        assign = isinstance(op, AssignRole)
        if op.scope is RoleScope.USER:
            if op.role not in self.config.observer_roles:
                return OpResult.failed(f"role {op.role!r} over a person is not an observer role (observer_roles)")
            if not (op.account_id and op.scope_id and op.account_id.isdigit() and op.scope_id.isdigit()):
                return OpResult.failed("account ids are Canvas user ids")
            return await self._observers.ensure(op.account_id, op.scope_id, linked=assign)
        if op.scope is RoleScope.COURSE and op.scope_id:
            canvas_role = self.config.course_roles.get(op.role)
            if canvas_role is None:
                return OpResult.failed(f"role {op.role!r} has no Canvas course role (course_roles)")
            if assign:
                return await self._enrolments.ensure(op.account_id, op.scope_id, canvas_role)
            return await self._enrolments.end(op.account_id, op.scope_id, canvas_role, keep_started=False)
        return OpResult.failed("Canvas account-level (admin) roles are not managed by enrolsync")


# The contract, checked: mypy fails here when a method or the constructor drifts from `TargetConnector`.
_contract: TargetClass = CanvasTarget
_catalog: type[CourseCatalog] = CanvasTarget
_progress: type[ProgressReader] = CanvasTarget
