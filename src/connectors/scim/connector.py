"""Any SCIM 2.0 service provider (an LMS's SCIM endpoint) as an LMS target.

Accounts are Users (`externalId` = the HR id, `userName`, `active: false` for leavers); course enrolments,
system roles and cohorts are memberships of Groups; a manager's scope over a report is the report's enterprise
extension `manager`. What the server supports is read once from `/ServiceProviderConfig` and `/ResourceTypes`
(discovery), so PATCH, Bulk, ETags and filters are used only where the server announces them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from typing import Any, ClassVar

import httpx

from enrolsync.connectors.base import Capability, ConnectorInfo, Rate, ReadRetryPolicy, TargetClass
from enrolsync.connectors.errors import ConnectorError, Invalid, NotFound, TransientError
from enrolsync.connectors.kit.batching import result_for_error
from enrolsync.connectors.kit.retry import ReadRetry
from enrolsync.connectors.model import (
    Account,
    CheckResult,
    Course,
    Enrolment,
    GroupMembership,
    RoleAssignment,
    RoleScope,
    SsoIdentity,
)
from enrolsync.connectors.ops import Op, OpKind, OpResult
from enrolsync.connectors.scim import mapping
from enrolsync.connectors.scim.client import ScimClient
from enrolsync.connectors.scim.config import ScimConfig
from enrolsync.connectors.scim.groups import GroupWriter, member_ids, parse_group
from enrolsync.connectors.scim.models import Features, Group, ScimUser
from enrolsync.connectors.scim.users import UserWriter, parse_user

_LOOKUP = {"external_id": "externalId", "email": "emails.value", "username": "userName"}
Handler = Callable[[Sequence[tuple[int, Any]], dict[int, OpResult]], Awaitable[None]]


class ScimTarget:
    """Users, Group memberships (courses, roles, cohorts) and the enterprise manager, over SCIM 2.0."""

    info: ClassVar[ConnectorInfo] = ConnectorInfo(
        key="scim",
        kind="lms",
        title="SCIM 2.0",
        config_model=ScimConfig,
        capabilities=frozenset(
            {
                Capability.ACCOUNTS,
                Capability.ENROLMENTS,
                Capability.ROLES,
                Capability.GROUPS,
                Capability.MANAGER_SCOPE,
                Capability.COURSES,
                Capability.HARD_DELETE,
                Capability.ROLES_LISTED,
            }
        ),
        # Creates and User changes go out as one Bulk request where offered; Group ops as one PATCH per Group.
        batch_limits={
            OpKind.CREATE_USER: 100,
            OpKind.UPDATE_USER: 100,
            OpKind.DEACTIVATE_USER: 100,
            OpKind.REACTIVATE_USER: 100,
            OpKind.DELETE_USER: 100,
            OpKind.ENROL: 100,
            OpKind.UNENROL: 100,
            OpKind.ADD_TO_GROUP: 100,
            OpKind.REMOVE_FROM_GROUP: 100,
            OpKind.ASSIGN_ROLE: 100,
            OpKind.REVOKE_ROLE: 100,
        },
        # RFC 7644 names no rate limit; hosted LMS SCIM endpoints throttle with 429 and Retry-After.
        default_rate=Rate(calls=600, per_seconds=60),
        max_concurrency=2,
    )

    def __init__(self, config: ScimConfig, http: httpx.AsyncClient, *, retry: ReadRetryPolicy | None = None) -> None:
        self.config = config
        self._client = ScimClient(http, config.token, retry or ReadRetry())
        self._features: Features | None = None

    async def features(self) -> Features:
        """What the server announces, discovered once per connector."""
        if self._features is None:
            self._features = await self._client.features()
        return self._features

    async def check(self) -> CheckResult:
        """Discovery, then one authenticated read and each role Group. Never raises for a bad token."""
        try:
            features = await self.features()
            await self._client.probe()
            missing = [role for role, gid in self.config.role_groups.items() if not await self._group_exists(gid)]
        except ConnectorError as error:
            return CheckResult(ok=False, detail=f"the SCIM server refused: {error.reason}")
        facts = features.facts()
        if not features.groups:
            return CheckResult(ok=False, detail="the server offers no Group resource type", facts=facts)
        if missing:
            return CheckResult(ok=False, detail="no Group for roles: " + ", ".join(sorted(missing)), facts=facts)
        return CheckResult(ok=True, detail="ok", facts=facts)

    async def _group_exists(self, group_id: str) -> bool:
        try:
            await self._client.get(f"Groups/{group_id}")
        except NotFound:
            return False
        return True

    # -- reads -----------------------------------------------------------------------------------------------
    async def _users(self) -> AsyncIterator[ScimUser]:
        async for page in self._client.pages("Users", count=await self._page_size()):
            for body in page:
                yield parse_user(body)

    async def _groups(self, ids: Collection[str] | None = None) -> AsyncIterator[Group]:
        if ids is not None:
            for group_id in sorted(set(ids)):
                try:
                    body, _ = await self._client.get(f"Groups/{group_id}")
                except NotFound:  # unknown course ids are skipped, not an error
                    continue
                yield parse_group(body)
            return
        async for page in self._client.pages("Groups", count=await self._page_size()):
            for body in page:
                yield parse_group(body)

    async def _page_size(self) -> int:
        most = (await self.features()).filter_max_results
        return min(self.config.page_size, most) if most else self.config.page_size

    async def list_accounts(self) -> AsyncIterator[Account]:
        """Every User. Raises `AuthError`, or `TransientError` once read retries run out."""
        async for user in self._users():
            yield mapping.to_account(user)

    async def list_courses(self) -> AsyncIterator[Course]:
        """Every Group but the role groups, known by its `displayName` and, when set, its `externalId`, so rules
        may name a course's Group as admins see it."""
        roles = set(self.config.role_groups.values())
        async for group in self._groups():
            if group.id in roles:
                continue
            keys = {"displayName": group.display_name, "externalId": group.external_id}
            name = group.display_name or ""
            yield Course(course_id=str(group.id), name=name, keys={k: v for k, v in keys.items() if v})

    async def list_enrolments(self, *, course_ids: Collection[str] | None = None) -> AsyncIterator[Enrolment]:
        """Members of the course Groups (every Group but the role groups, or only `course_ids`). SCIM carries
        no progress, so `started` is always False."""
        roles = set(self.config.role_groups.values())
        async for group in self._groups(course_ids):
            if group.id in roles:
                continue
            for account_id in sorted(member_ids(group)):
                yield Enrolment(account_id=account_id, course_id=str(group.id))

    async def list_group_memberships(self) -> AsyncIterator[GroupMembership]:
        """Members of every Group but the role groups (cohorts and courses are both Groups)."""
        roles = set(self.config.role_groups.values())
        async for group in self._groups():
            if group.id not in roles:
                for account_id in sorted(member_ids(group)):
                    yield GroupMembership(account_id=account_id, group_id=str(group.id))

    async def list_role_assignments(self) -> AsyncIterator[RoleAssignment]:
        """Role Group members (system scope) and each User's manager (the manager role over that User)."""
        by_group = {gid: role for role, gid in self.config.role_groups.items()}
        if by_group:
            async for group in self._groups(by_group):
                for account_id in sorted(member_ids(group)):
                    yield RoleAssignment(account_id=account_id, role=by_group[str(group.id)])
        async for user in self._users():
            manager = mapping.manager_id(user)
            if manager:
                yield RoleAssignment(
                    account_id=manager, role=self.config.manager_role, scope=RoleScope.USER, scope_id=str(user.id)
                )

    def list_sso_identities(self) -> AsyncIterator[SsoIdentity]:
        raise NotImplementedError("SCIM has no SSO identity attribute; the scim connector declares no SSO")

    async def find_accounts(self, *, field: str, values: Sequence[str]) -> Sequence[Account]:
        """Look Users up by `external_id`, `email` or `username`: through a filter where the server filters
        (it compares; userName case-insensitively per RFC 7643), else by reading every User."""
        if field not in _LOOKUP:
            raise Invalid(f"cannot look accounts up by {field!r}")
        users = await self._writers(await self.features())[0].find(_LOOKUP[field], values)
        return [mapping.to_account(u) for u in {str(u.id): u for u in users}.values()]

    # -- writes ----------------------------------------------------------------------------------------------
    def _writers(self, features: Features) -> tuple[UserWriter, GroupWriter]:
        return UserWriter(self._client, self.config, features), GroupWriter(self._client, self.config, features)

    def _handler(self, op: Op, users: UserWriter, groups: GroupWriter) -> Handler | None:
        if op.kind is OpKind.CREATE_USER:
            return users.create
        if op.kind in (OpKind.UPDATE_USER, OpKind.DEACTIVATE_USER, OpKind.REACTIVATE_USER):
            return users.change
        if op.kind is OpKind.DELETE_USER:
            return users.delete
        if op.kind in (OpKind.ASSIGN_ROLE, OpKind.REVOKE_ROLE) and getattr(op, "scope", None) is RoleScope.USER:
            return users.change if getattr(op, "role", None) == self.config.manager_role else None
        if op.kind in (OpKind.ASSIGN_ROLE, OpKind.REVOKE_ROLE, OpKind.ENROL, OpKind.UNENROL):
            return groups.apply
        if op.kind in (OpKind.ADD_TO_GROUP, OpKind.REMOVE_FROM_GROUP):
            return groups.apply
        return None

    async def apply(self, ops: Sequence[Op]) -> Sequence[OpResult]:
        """Apply ops in plan order, grouped by writer; one result per op, in order.

        Idempotent: every op is decided on a fresh read, and effects in place are `already`. Records the server
        refuses are `failed` with its scimType. A transient failure raises `TransientError` unless some op already
        took effect, in which case the ops not applied come back `retry`. Auth errors raise. Never retries writes.
        """
        users, groups = self._writers(await self.features())
        out: dict[int, OpResult] = {}
        work: dict[Handler, list[tuple[int, Op]]] = {}
        for index, op in enumerate(ops):
            handler = self._handler(op, users, groups)
            if handler is None:
                out[index] = OpResult.failed(f"{op.kind} in this scope is not something a SCIM server holds")
            else:
                work.setdefault(handler, []).append((index, op))
        try:
            for handler, items in work.items():
                await handler(items, out)
        except TransientError as error:
            if not any(result.outcome == "done" for result in out.values()):
                raise
            return [out.get(index) or result_for_error(error) for index in range(len(ops))]
        return [out[index] for index in range(len(ops))]


# The contract, checked: mypy fails here when a method or the constructor drifts from `TargetConnector`.
_contract: TargetClass = ScimTarget
