"""Manager scope in TalentLMS: one group per manager, holding the manager and their direct reports.

TalentLMS has no per-person manager relation in its API; its own unit of "these people together" is the group
(reports, course assignment and, for instructors, whom they see). So a manager's role over a report is the
report's membership of the manager's team group, `<prefix><manager user id>`, created on first use with the
manager in it. Revoking removes the report; the group and the manager stay (other reports may follow).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict

from enrolsync.connectors.errors import Invalid, NotFound
from enrolsync.connectors.model import ExternalRef, RoleAssignment, RoleScope
from enrolsync.connectors.ops import AssignRole, OpResult, RevokeRole
from enrolsync.connectors.talentlms import mapping
from enrolsync.connectors.talentlms.client import TalentLMSClient, body_of
from enrolsync.connectors.talentlms.config import TalentLMSConfig
from enrolsync.connectors.talentlms.models import Named, UserItem

GROUPS, MEMBERSHIPS = "api/v2/groups", "api/v2/group-memberships"
ALREADY_MEMBER = "already a member"  # TalentLMS's 400 for a membership that exists


class Teams:
    def __init__(self, client: TalentLMSClient, config: TalentLMSConfig) -> None:
        self._client = client
        self._prefix = config.team_group_prefix
        self._groups: dict[int, int] | None = None  # manager id -> team group id
        self._locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def groups(self) -> dict[int, int]:
        """manager user id -> their team group's id, read once per connector."""
        if self._groups is None:
            found: dict[int, int] = {}
            async for page in self._client.pages(GROUPS, Named):
                for group in page:
                    if (manager := mapping.team_manager(group.name, self._prefix)) is not None:
                        found[manager] = group.id
            self._groups = found
        return self._groups

    async def _team(self, manager: int) -> int:
        groups = await self.groups()
        if manager in groups:
            return groups[manager]
        body = {"name": f"{self._prefix}{manager}", "description": "Managed by enrolsync: a manager and their reports."}
        try:
            response = await self._client.write("POST", GROUPS, body)
        except Invalid:
            # Names are unique: someone made the group since it was read (another run). Read again, once.
            self._groups = None
            if manager not in (groups := await self.groups()):
                raise
            return groups[manager]
        groups[manager] = int(body_of(response)["_data"]["id"])
        await self._join(groups[manager], manager)
        return groups[manager]

    async def _join(self, group: int, user: int) -> bool:
        """Add `user` to `group`; False when they were a member already."""
        try:
            await self._client.write("POST", MEMBERSHIPS, {"group_id": group, "user_id": user})
        except Invalid as error:
            if ALREADY_MEMBER in error.reason:
                return False
            raise
        return True

    async def assign(self, op: AssignRole, manager: int, report: int) -> OpResult:
        async with self._locks[manager]:  # one team group per manager, even when a batch names them twice
            group = await self._team(manager)
        joined = await self._join(group, report)
        ref = ExternalRef(kind="role", id=f"{group}:{report}")
        return OpResult.done(ref) if joined else OpResult.already(ref)

    async def revoke(self, op: RevokeRole, manager: int, report: int) -> OpResult:
        group = (await self.groups()).get(manager)
        if group is None:
            return OpResult.already()
        try:
            await self._client.write("DELETE", MEMBERSHIPS, {"group_id": group, "user_id": report})
        except NotFound:
            return OpResult.already()  # not a member (or the account is gone): the scope is not held
        return OpResult.done(ExternalRef(kind="role", id=f"{group}:{report}"))

    async def assignments(self, role: str) -> list[RoleAssignment]:
        """`role` held by each team group's manager over every other member of the group."""
        held: list[RoleAssignment] = []
        for manager, group in sorted((await self.groups()).items()):
            async for page in self._client.pages("api/v2/users", UserItem, **{"filter[group_id][eq]": group}):
                held += [
                    RoleAssignment(account_id=str(manager), role=role, scope=RoleScope.USER, scope_id=str(u.id))
                    for u in page
                    if u.id != manager
                ]
        return held
