"""User writes: creates, profile changes, (de)activation and the enterprise extension's manager.

Every change is decided on a fresh read of the User: an effect already in place is `already` and sends nothing,
and the write carries the read's ETag as If-Match where the server offers ETags, so a change made on the server
in between is refused (412, `retry`) instead of overwritten. PATCH where offered, else PUT of the whole User.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from scim2_models import Context, Email, EnterpriseUser, Manager, Name, PatchOp, PatchOperation

from enrolsync.connectors.errors import AuthError, NotFound, PermanentError
from enrolsync.connectors.model import ExternalRef
from enrolsync.connectors.ops import (
    AssignRole,
    CreateUser,
    DeactivateUser,
    Op,
    OpResult,
    ReactivateUser,
    RevokeRole,
    UpdateUser,
)
from enrolsync.connectors.scim import mapping
from enrolsync.connectors.scim.client import ScimClient
from enrolsync.connectors.scim.config import ScimConfig
from enrolsync.connectors.scim.models import MANAGER_PATH, Features, ScimUser
from enrolsync.connectors.scim.sender import Sender, Write

Items = Sequence[tuple[int, Any]]
Change = list[PatchOperation[Any]]


def parse_user(body: Any) -> ScimUser:
    try:
        return ScimUser.model_validate(body, scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
    except ValidationError as error:
        raise PermanentError("unexpected answer shape from a SCIM User") from error


def quoted(value: str) -> str:
    """A SCIM filter string literal (RFC 7644 section 3.4.2.2: JSON string syntax)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


FILTER_CHUNK = 50  # `eq` clauses per filter: long filters hit URL length limits


def _attribute(user: ScimUser, attribute: str) -> list[str]:
    if attribute == "externalId":
        return [user.external_id] if user.external_id else []
    if attribute == "userName":
        return [user.user_name] if user.user_name else []
    return [str(e.value) for e in user.emails or [] if e.value]


class UserWriter:
    def __init__(self, client: ScimClient, config: ScimConfig, features: Features) -> None:
        self._client = client
        self._config = config
        self._features = features
        self._sender = Sender(client, features, use_bulk=config.use_bulk, bulk_size=config.bulk_size)

    async def find(self, attribute: str, values: Sequence[str]) -> list[ScimUser]:
        """Users whose `attribute` (externalId, userName, emails.value) equals one of `values`.

        Through `or`-joined `eq` filters where the server filters (it compares: userName case-insensitively, per
        RFC 7643); where it does not, by reading every User and comparing here (caselessly but for externalId,
        which is case-exact).
        """
        unique = list(dict.fromkeys(v for v in values if v))
        if not unique:
            return []
        if not self._features.filter:
            return await self._scan(attribute, unique)
        return await self._filtered(attribute, unique)

    async def _filtered(self, attribute: str, values: list[str]) -> list[ScimUser]:
        found: list[ScimUser] = []
        for start in range(0, len(values), FILTER_CHUNK):
            clause = " or ".join(f"{attribute} eq {quoted(v)}" for v in values[start : start + FILTER_CHUNK])
            async for page in self._client.pages("Users", count=self._config.page_size, filter=clause):
                found += [parse_user(body) for body in page]
        return found

    async def _scan(self, attribute: str, values: list[str]) -> list[ScimUser]:
        exact = attribute == "externalId"
        wanted = {v if exact else v.strip().casefold() for v in values}
        found: list[ScimUser] = []
        async for page in self._client.pages("Users", count=self._config.page_size):
            for body in page:
                user = parse_user(body)
                held = _attribute(user, attribute)
                if any((h if exact else h.strip().casefold()) in wanted for h in held):
                    found.append(user)
        return found

    async def create(self, items: Items, out: dict[int, OpResult]) -> None:
        """Create Users; one whose externalId the server already holds is `already`, with its id."""
        ops: list[tuple[int, CreateUser]] = list(items)
        external = [op.fields.external_id for _, op in ops if op.fields.external_id]
        held = {u.external_id: str(u.id) for u in await self.find("externalId", external)} if external else {}
        writes: list[Write] = []
        for index, op in ops:
            if op.fields.external_id in held:
                out[index] = OpResult.already(ExternalRef(kind="account", id=held[op.fields.external_id]))
                continue
            user = mapping.to_user(op.fields, enterprise=self._features.enterprise)
            writes.append(Write(index=index, method="POST", path="/Users", data=user))
        await self._sender.send(writes, out)

    async def change(self, items: Items, out: dict[int, OpResult]) -> None:
        """Update, deactivate, reactivate, or set/clear a report's manager; each decided on a fresh read."""
        held = await self._read([self._subject(op) for _, op in items])
        writes: list[Write] = []
        versions_used: set[str] = set()
        for index, op in items:
            user_id = self._subject(op)
            if user_id not in held:
                out[index] = OpResult.failed("no such account on the SCIM server", status=404)
                continue
            user, etag = held[user_id]
            decided = self._decide(op, user)
            if isinstance(decided, OpResult):
                out[index] = decided
                continue
            # Two ops on one User in a batch: only the first may claim the version both read.
            version = etag if self._features.etag and user_id not in versions_used else None
            versions_used.add(user_id)
            writes.append(self._write(index, user, decided, version))
        await self._sender.send(writes, out)

    async def _read(self, ids: Sequence[str]) -> dict[str, tuple[ScimUser, str | None]]:
        """The Users `ids` name, with their versions; ids the server does not hold are absent.

        Where the server filters, `id eq` filters read up to 50 Users a request; a User listed without
        `meta.version` on a server with ETags is read alone, for its ETag, and so is every User when the server
        refuses to filter on `id`.
        """
        unique = list(dict.fromkeys(ids))
        held: dict[str, tuple[ScimUser, str | None]] = {}
        if self._features.filter and len(unique) > 1:
            try:
                listed = await self._filtered("id", unique)
            except AuthError:
                raise
            except PermanentError:  # a server that does not filter on `id`: read them one by one
                listed = []
            for user in listed:
                version = user.meta.version if user.meta else None
                if version or not self._features.etag:
                    held[str(user.id)] = (user, version)
        for user_id in unique:
            if user_id in held:
                continue
            try:
                body, etag = await self._client.get(f"Users/{user_id}")
            except NotFound:
                continue
            held[user_id] = (parse_user(body), etag)
        return held

    async def delete(self, items: Items, out: dict[int, OpResult]) -> None:
        """DELETE each User (RFC 7644 section 3.6), one request each (Bulk would gain little: no read comes
        first); a User the server no longer holds is `already`."""
        for index, op in items:
            ref = ExternalRef(kind="account", id=str(op.account_id))
            try:
                await self._client.delete(f"Users/{op.account_id}")
            except NotFound:
                out[index] = OpResult.already(ref)
            except AuthError:
                raise
            except PermanentError as error:
                out[index] = OpResult.failed(error.reason, status=error.status)
            else:
                out[index] = OpResult.done(ref)

    def _subject(self, op: Op) -> str:
        """The User an op writes: the report for a manager op, else the op's own account."""
        if isinstance(op, AssignRole | RevokeRole):
            return str(op.scope_id)
        return str(op.account_id)

    def _decide(self, op: Op, user: ScimUser) -> Change | OpResult:
        """The PATCH operations `op` needs on `user`, or its result when nothing needs sending."""
        ref = ExternalRef(kind="account", id=str(user.id))
        enterprise = self._features.enterprise
        if isinstance(op, UpdateUser):
            changed = mapping.differences(op.fields, user, enterprise=enterprise)
            return mapping.profile_operations(op.fields, changed) if changed else OpResult.already(ref)
        if isinstance(op, DeactivateUser | ReactivateUser):
            active = isinstance(op, ReactivateUser)
            if (user.active is not False) == active:
                return OpResult.already(ref)
            return [PatchOperation(op=PatchOperation.Op.replace_, path="active", value=active)]
        if isinstance(op, AssignRole | RevokeRole):
            return self._manager(op, user)
        return OpResult.failed(f"{op.kind} is not a User write")

    def _manager(self, op: AssignRole | RevokeRole, user: ScimUser) -> Change | OpResult:
        ref = ExternalRef(kind="role", id=f"{op.account_id}:{user.id}")
        if not self._features.enterprise:
            return OpResult.failed("the server's User resource type lacks the enterprise extension (manager)")
        held = mapping.manager_id(user) == op.account_id
        if isinstance(op, AssignRole):
            if held:
                return OpResult.already(ref)
            value = {"value": op.account_id}
            return [PatchOperation(op=PatchOperation.Op.replace_, path=MANAGER_PATH, value=value)]
        if not held:  # someone else is their manager now, or nobody: nothing of ours to take away
            return OpResult.already(ref)
        return [PatchOperation(op=PatchOperation.Op.remove, path=MANAGER_PATH)]

    def _write(self, index: int, user: ScimUser, change: Change, version: str | None) -> Write:
        path = f"/Users/{user.id}"
        if self._features.patch:
            return Write(index=index, method="PATCH", path=path, data=PatchOp[ScimUser](operations=change),
                         version=version)  # fmt: skip
        return Write(index=index, method="PUT", path=path, data=replaced(user, change), version=version)


def replaced(user: ScimUser, change: Change) -> ScimUser:
    """`user` with `change` applied, for servers without PATCH (the body of a PUT)."""
    result = user.model_copy(deep=True)
    result.meta = None
    for operation in change:
        path, value = str(operation.path), operation.value or {}
        remove = operation.op is PatchOperation.Op.remove
        if path == MANAGER_PATH:
            extension = result[EnterpriseUser] or EnterpriseUser()
            manager = None if remove else Manager(value=str(value["value"]))
            result[EnterpriseUser] = extension.model_copy(update={"manager": manager})
        elif path == "active":
            result.active = bool(value)
        elif path == "name.givenName" or path == "name.familyName":
            name = result.name.model_copy() if result.name else None
            update = {"given_name" if path.endswith("givenName") else "family_name": value}
            result.name = name.model_copy(update=update) if name else Name(**update)
        elif path == "emails":
            result.emails = [Email(value=v["value"], type=Email.Type.work, primary=True) for v in value]
        elif path.endswith(":department"):
            extension = result[EnterpriseUser] or EnterpriseUser()
            result[EnterpriseUser] = extension.model_copy(update={"department": value})
        else:
            attribute = {"userName": "user_name", "externalId": "external_id", "title": "title",
                         "displayName": "display_name"}[path]  # fmt: skip
            setattr(result, attribute, value)
    return result
