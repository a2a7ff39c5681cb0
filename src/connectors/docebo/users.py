"""User ops as Docebo calls: the batch import for joiners, profile updates, `change_status` for leavers and
returners, the SSO identity, user levels and the direct-manager relation.

A batch Docebo refuses whole (400: a malformed row stops the import before anything is written) is split in
halves until the bad row stands alone and fails by itself; every good row lands. A row refused for a taken
username or email is `already` when the account holding it is this person's own, else it fails alone.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from enrolsync.connectors.docebo import mapping
from enrolsync.connectors.docebo.client import DoceboClient
from enrolsync.connectors.docebo.config import DoceboConfig
from enrolsync.connectors.docebo.models import Row, UserItem
from enrolsync.connectors.errors import Invalid, NotFound, PermanentError
from enrolsync.connectors.model import ExternalRef
from enrolsync.connectors.ops import (
    AssignRole,
    CreateUser,
    DeactivateUser,
    OpResult,
    ReactivateUser,
    RevokeRole,
    SetSsoIdentity,
    UpdateUser,
)

USERS = "manage/v1/user"
TAKEN = "already exists"  # Docebo's message for a username or email another user holds
MANAGER_ROLE = "manager"
READS = 10  # above this many users to read, one read of everyone (200 a page) is cheaper


def account_id(value: str | None) -> int:
    number = mapping.numeric(value)
    if number is None:
        raise NotFound(f"no Docebo user id {value!r}")
    return number


def _ref(user_id: int | str) -> ExternalRef:
    return ExternalRef(kind="account", id=str(user_id))


class Users:
    def __init__(self, client: DoceboClient, config: DoceboConfig) -> None:
        self._client = client
        self._config = config
        self._locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)  # one manager write per report
        # What this connector itself just wrote (username, email, Direct Manager id by user id): the SSO op and the
        # manager assignment right after a joiner's import need no read to know where they stand (a first sync
        # costs one call per joiner less, or two for a report).
        self._written: dict[int, dict[str, str]] = {}

    async def _known(self, user_id: int, name: str) -> str:
        """`name` (`username`, `email` or `manager`) of a user, from what was just written, else one read."""
        known = self._written.get(user_id, {})
        if name in known:
            return known[name]
        user = await self.user(user_id)
        return (user.manager(mapping.DIRECT_MANAGER) or "") if name == "manager" else str(getattr(user, name) or "")

    def _wrote(self, user_id: int, **values: str) -> None:
        self._written.setdefault(user_id, {}).update(values)

    async def user(self, user_id: int) -> UserItem:
        return await self._client.get(f"{USERS}/{user_id}", UserItem, key="user_data")

    async def search(self, text: str) -> list[UserItem]:
        return [u async for page in self._client.pages(USERS, UserItem, search_text=text) for u in page]

    # -- joiners: the batch import --------------------------------------------------------------------------------
    async def create(self, ops: Sequence[CreateUser]) -> list[OpResult]:
        """One `POST /manage/v1/user/batch` for all of `ops` (split only if Docebo refuses it whole)."""
        items = [
            {**mapping.profile(op.fields, self._config, username_key="username"), "password": mapping.new_password()}
            for op in ops
        ]
        body = {"items": items, "options": {"branch_option": self._config.branch_option, "update_user_info": False}}
        try:
            rows = [Row.model_validate(r) for r in await self._client.write("POST", f"{USERS}/batch", body)]
        except Invalid as refusal:
            if len(ops) == 1:
                return [OpResult.failed(refusal.reason, status=refusal.status)]
            half = len(ops) // 2
            return [*await self.create(ops[:half]), *await self.create(ops[half:])]
        by_row = {row.row_index: row for row in rows}
        results: list[OpResult] = []
        for index, op in enumerate(ops):
            row = by_row.get(index)
            if row is None:
                results.append(OpResult.retry("Docebo's import answered no row for this user"))
            elif row.success and row.user_id is not None:
                self._wrote(row.user_id, username=op.fields.username, email=op.fields.email, manager="")
                results.append(OpResult.done(_ref(row.user_id)))
            elif TAKEN in row.reason:
                results.append(await self._existing(op, row.reason))
            else:
                results.append(OpResult.failed(row.reason, status=400))
        return results

    async def _existing(self, op: CreateUser, refusal: str) -> OpResult:
        """A row refused for a taken username or email: `already` when that account is this person's own (same
        HR id; without an HR id field, the same username and email), else the refusal stands."""
        found = {u.user_id: u for value in (op.fields.username, op.fields.email) for u in await self.search(value)}
        for user in found.values():
            mine = mapping.to_account(user, self._config).fields
            if self._config.external_id_field is not None:
                same = mine.external_id is not None and mine.external_id == op.fields.external_id
            else:
                same = (mine.username.casefold(), mine.email.casefold()) == (
                    op.fields.username.casefold(),
                    op.fields.email.casefold(),
                )
            if same:
                return OpResult.already(_ref(user.user_id))
        return OpResult.failed(refusal, status=400)

    # -- movers and leavers -------------------------------------------------------------------------------------
    async def update(self, op: UpdateUser) -> OpResult:
        user_id = account_id(op.account_id)
        await self._client.write(
            "PUT", f"{USERS}/{user_id}", mapping.profile(op.fields, self._config, username_key="userid")
        )
        self._wrote(user_id, username=op.fields.username, email=op.fields.email)
        return OpResult.done(_ref(user_id))

    async def status(self, ops: Sequence[DeactivateUser | ReactivateUser]) -> list[OpResult]:
        """Read each user's status (one read each, or one read of everyone for many); one `PUT change_status` per
        wanted status for those not in it yet."""
        users = await self._statuses(ops)
        results: list[OpResult | None] = [None] * len(ops)
        todo: dict[str, list[int]] = {"0": [], "1": []}
        for index, (op, user) in enumerate(zip(ops, users, strict=True)):
            if isinstance(user, BaseException):
                if not isinstance(user, PermanentError):
                    raise user
                results[index] = OpResult.failed(user.reason, status=user.status)
                continue
            wanted = "0" if isinstance(op, DeactivateUser) else "1"
            if user.status == wanted:
                results[index] = OpResult.already(_ref(user.user_id))
            else:
                todo[wanted].append(index)
        for status, indexes in todo.items():
            if indexes:
                ids = [account_id(ops[i].account_id) for i in indexes]
                await self._client.write("PUT", f"{USERS}/change_status", {"user_ids": ids, "status": int(status)})
                for i, user_id in zip(indexes, ids, strict=True):
                    results[i] = OpResult.done(_ref(user_id))
        return [r if r is not None else OpResult.failed("not applied") for r in results]

    async def _read(self, value: str | None) -> UserItem:
        return await self.user(account_id(value))

    async def _statuses(self, ops: Sequence[DeactivateUser | ReactivateUser]) -> list[UserItem | BaseException]:
        if len(ops) <= READS:
            return await asyncio.gather(*(self._read(op.account_id) for op in ops), return_exceptions=True)
        everyone = {u.user_id: u async for page in self._client.pages(USERS, UserItem) for u in page}
        return [everyone.get(op.account_id or "") or NotFound(f"no Docebo user id {op.account_id!r}") for op in ops]

    # -- SSO, levels and managers -----------------------------------------------------------------------------
    async def sso(self, op: SetSsoIdentity) -> OpResult:
        """The platform's SSO matches people by username (or email): the identity is that field's value."""
        if self._config.sso_auth is None or op.auth != self._config.sso_auth:
            return OpResult.failed(f"the platform's SSO is {self._config.sso_auth!r}, not {op.auth!r} (sso_auth)")
        user_id = account_id(op.account_id)
        ref = ExternalRef(kind="sso", id=str(user_id))
        field = self._config.sso_subject_field
        if (await self._known(user_id, field)).casefold() == op.subject.casefold():
            return OpResult.already(ref)
        key = "userid" if field == "username" else "email"
        await self._client.write("PUT", f"{USERS}/{user_id}", {key: op.subject})
        self._wrote(user_id, **{field: op.subject})
        return OpResult.done(ref)

    async def role(self, op: AssignRole | RevokeRole) -> OpResult:
        user_id = account_id(op.account_id)
        if op.scope.value == "user" and op.role == MANAGER_ROLE:
            try:
                return await self._manager(op, user_id, account_id(op.scope_id))
            except NotFound:
                if isinstance(op, RevokeRole):
                    return OpResult.already()  # the report's account is gone: nobody's report any more
                raise
        if op.scope.value == "system" and op.role in self._config.levels:
            return await self._level(op, user_id)
        return OpResult.failed(f"Docebo cannot hold role {op.role!r} in {op.scope.value} scope")

    async def _manager(self, op: AssignRole | RevokeRole, manager: int, report: int) -> OpResult:
        """The report's Direct Manager is the manager: set on assign; cleared on revoke only while it is still
        this manager (a move may have named the new one first)."""
        ref = ExternalRef(kind="role", id=f"{manager}:{report}")
        async with self._locks[report]:
            held = await self._known(report, "manager") == str(manager)
            if isinstance(op, AssignRole) == held:
                return OpResult.already(ref)
            wanted: Any = manager if isinstance(op, AssignRole) else None
            await self._client.write("PUT", f"{USERS}/{report}", {"manager": {str(mapping.DIRECT_MANAGER): wanted}})
            self._wrote(report, manager=str(manager) if wanted else "")
        return OpResult.done(ref)

    async def _level(self, op: AssignRole | RevokeRole, user_id: int) -> OpResult:
        level = self._config.levels[op.role]
        current = (await self.user(user_id)).level
        ref = ExternalRef(kind="role", id=f"{user_id}:{op.role}")
        if isinstance(op, AssignRole):
            wanted = level
        elif current == level:
            wanted = "user"
        else:
            return OpResult.already(ref)
        if current == wanted:
            return OpResult.already(ref)
        await self._client.write("PUT", f"{USERS}/{user_id}", {"level": wanted})
        return OpResult.done(ref)
