"""Roles and groups: the portal user type for system roles, plain group memberships, and manager scope as teams.

LearnUpon scopes a manager to the groups they manage (a group's managers see and enrol its members). So a
manager's role over a direct report is one group per manager, titled `{team_group_prefix}{manager id}`, holding
the manager as group manager (membership type 4) and each direct report as learner (type 1): assigning the role
adds the report, revoking it removes them, and a report who moves leaves one team and joins another. Only
managers and admins may manage a group, so a learner who gets a team is made a `manager` user first
(`promote_team_managers`).
"""

from __future__ import annotations

from collections.abc import Sequence

from enrolsync.connectors.errors import ConnectorError
from enrolsync.connectors.learnupon import mapping
from enrolsync.connectors.learnupon.apply import Outcomes, numeric
from enrolsync.connectors.learnupon.client import LearnUponClient
from enrolsync.connectors.learnupon.config import LearnUponConfig
from enrolsync.connectors.learnupon.errors import is_already, op_failure
from enrolsync.connectors.learnupon.models import LuGroup, LuMember
from enrolsync.connectors.model import ExternalRef, RoleScope
from enrolsync.connectors.ops import AddToGroup, AssignRole, OpResult, RemoveFromGroup, RevokeRole

RoleOp = AssignRole | RevokeRole
GroupOp = AddToGroup | RemoveFromGroup


class TeamBook:
    """The portal's groups and the members read so far, for one `apply` call."""

    def __init__(self, client: LearnUponClient, config: LearnUponConfig) -> None:
        self._client = client
        self._prefix = config.team_group_prefix
        self._groups: dict[str, LuGroup] | None = None
        self._members: dict[int, list[LuMember]] = {}

    def team_title(self, manager_id: int) -> str:
        return f"{self._prefix}{manager_id}"

    def is_team(self, group: LuGroup) -> bool:
        return group.title.startswith(self._prefix)

    async def groups(self) -> dict[str, LuGroup]:
        if self._groups is None:
            self._groups = {g.title: g for g in await self._client.groups()}
        return self._groups

    async def team(self, manager_id: int, *, create: bool) -> LuGroup | None:
        title = self.team_title(manager_id)
        groups = await self.groups()
        if title not in groups and create:
            groups[title] = LuGroup(id=await self._client.create_group(title), title=title)
            self._members[groups[title].id] = []
        return groups.get(title)

    async def members(self, group_id: int) -> list[LuMember]:
        if group_id not in self._members:
            self._members[group_id] = await self._client.members(group_id)
        return self._members[group_id]

    async def join(self, group_id: int, user_id: int, type_id: int) -> bool:
        """Add a member; False when they already were (of any type)."""
        if any(m.user_id == user_id for m in await self.members(group_id)):
            return False
        try:
            membership = await self._client.join(group_id, user_id, type_id)
        except ConnectorError as error:
            if is_already(error):
                return False
            raise
        self._members[group_id].append(
            LuMember(id=membership, user_id=user_id, group_id=group_id, group_membership_type_id=type_id)
        )
        return True

    async def leave(self, group_id: int, user_id: int) -> bool:
        """Remove a member; False when they were not one."""
        members = await self.members(group_id)
        found = [m for m in members if m.user_id == user_id]
        for member in found:
            await self._client.leave(member.id)
            members.remove(member)
        return bool(found)


def role_ref(op: RoleOp) -> ExternalRef:
    return ExternalRef(kind="role", id=f"{op.role}@{op.scope}:{op.scope_id or ''}:{op.account_id}")


class RoleWriter:
    def __init__(self, client: LearnUponClient, config: LearnUponConfig) -> None:
        self._client = client
        self._config = config

    async def apply(self, items: Sequence[tuple[int, RoleOp]], out: Outcomes) -> None:
        """Sequential on purpose: a manager's first report creates their team group, the next ones join it."""
        book = TeamBook(self._client, self._config)
        for index, op in items:
            try:
                out[index] = await self._one(op, book)
            except ConnectorError as error:
                if error.status in (401, 403):
                    raise
                out[index] = op_failure(error)

    async def _one(self, op: RoleOp, book: TeamBook) -> OpResult:
        holder = numeric(op.account_id)
        if holder is None:
            return OpResult.failed("account id must be a LearnUpon user id", status=404)
        if op.scope is RoleScope.SYSTEM:
            return await self._system(op, holder)
        if op.scope is RoleScope.USER and op.role == "manager":
            report = numeric(op.scope_id)
            if report is None:
                return OpResult.failed("the report's account id must be a LearnUpon user id", status=404)
            if isinstance(op, AssignRole):
                return await self._assign_team(op, holder, report, book)
            return await self._revoke_team(op, holder, report, book)
        return OpResult.failed(f"LearnUpon has no {op.role!r} role in {op.scope} scope through its API")

    async def _system(self, op: RoleOp, holder: int) -> OpResult:
        user_type = mapping.role_user_type(op.role)
        user = await self._client.user(holder)
        if user is None or user_type is None:
            return OpResult.failed("account not found" if user is None else f"no LearnUpon user type {op.role!r}")
        wanted = user_type if isinstance(op, AssignRole) else "learner"
        if isinstance(op, RevokeRole) and user.user_type != user_type:
            return OpResult.already(role_ref(op))
        if user.user_type == wanted:
            return OpResult.already(role_ref(op))
        await self._client.update_user(holder, {"user_type": wanted})
        return OpResult.done(role_ref(op))

    async def _assign_team(self, op: RoleOp, holder: int, report: int, book: TeamBook) -> OpResult:
        group = await book.team(holder, create=True)
        if group is None:  # pragma: no cover - `create=True` always yields a group
            return OpResult.failed("the team group could not be made")
        members = {m.user_id: m for m in await book.members(group.id)}
        leads = holder in members and members[holder].group_membership_type_id == mapping.MEMBERSHIP_MANAGER
        if leads and report in members:
            return OpResult.already(role_ref(op))
        if not leads:
            await self._may_lead(holder)
            await book.leave(group.id, holder)  # a holder listed as learner of their own team is made its manager
            await book.join(group.id, holder, mapping.MEMBERSHIP_MANAGER)
        await book.join(group.id, report, mapping.MEMBERSHIP_LEARNER)
        return OpResult.done(role_ref(op))

    async def _may_lead(self, holder: int) -> None:
        user = await self._client.user(holder)
        if user is not None and user.user_type == "learner" and self._config.promote_team_managers:
            await self._client.update_user(holder, {"user_type": "manager"})

    async def _revoke_team(self, op: RoleOp, holder: int, report: int, book: TeamBook) -> OpResult:
        group = await book.team(holder, create=False)
        if group is None or report == holder:
            return OpResult.already(role_ref(op))
        removed = await book.leave(group.id, report)
        return OpResult.done(role_ref(op)) if removed else OpResult.already(role_ref(op))


class GroupWriter:
    def __init__(self, client: LearnUponClient, config: LearnUponConfig) -> None:
        self._client = client
        self._config = config

    async def apply(self, items: Sequence[tuple[int, GroupOp]], out: Outcomes) -> None:
        book = TeamBook(self._client, self._config)
        for index, op in items:
            user, group = numeric(op.account_id), numeric(op.group_id)
            ref = ExternalRef(kind="group", id=f"{op.group_id}:{op.account_id}")
            if user is None or group is None:
                out[index] = OpResult.failed("account and group ids must be LearnUpon record ids", status=404)
                continue
            try:
                if isinstance(op, AddToGroup):
                    changed = await book.join(group, user, mapping.MEMBERSHIP_LEARNER)
                else:
                    changed = await book.leave(group, user)
            except ConnectorError as error:
                if error.status in (401, 403):
                    raise
                out[index] = op_failure(error)
                continue
            out[index] = OpResult.done(ref) if changed else OpResult.already(ref)
