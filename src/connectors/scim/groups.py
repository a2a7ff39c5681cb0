"""Group memberships: course enrolments, system roles and cohorts are all members of SCIM Groups.

Per Group, one read (members and ETag) decides which ops are already in place; the rest go out as one PATCH
adding and removing members (RFC 7644 section 3.5.2), with If-Match where the server offers ETags, or as a PUT
of the whole member list on servers without PATCH. When the server refuses that combined write, each op is sent
alone so the one it cannot take fails alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import ValidationError
from scim2_models import Context, Group, GroupMember, PatchOp, PatchOperation

from enrolsync.connectors.errors import AuthError, NotFound, PermanentError, TransientError
from enrolsync.connectors.model import ExternalRef, RoleScope
from enrolsync.connectors.ops import AddToGroup, AssignRole, Enrol, Op, OpResult, RemoveFromGroup, RevokeRole, Unenrol
from enrolsync.connectors.scim.client import ScimClient
from enrolsync.connectors.scim.config import ScimConfig
from enrolsync.connectors.scim.models import Features
from enrolsync.connectors.scim.users import quoted

Items = Sequence[tuple[int, Any]]
_ADDS = (Enrol, AddToGroup, AssignRole)


def parse_group(body: Any) -> Group:
    try:
        return Group.model_validate(body, scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
    except ValidationError as error:
        raise PermanentError("unexpected answer shape from a SCIM Group") from error


def member_ids(group: Group) -> set[str]:
    return {str(m.value) for m in group.members or [] if m.value}


class GroupWriter:
    def __init__(self, client: ScimClient, config: ScimConfig, features: Features) -> None:
        self._client = client
        self._config = config
        self._features = features

    def group_of(self, op: Op) -> str | None:
        """The Group an op adds to or removes from; None for a role no group stands for."""
        if isinstance(op, Enrol | Unenrol):
            return op.course_id
        if isinstance(op, AddToGroup | RemoveFromGroup):
            return op.group_id
        if isinstance(op, AssignRole | RevokeRole) and op.scope is RoleScope.SYSTEM:
            return self._config.role_groups.get(op.role)
        return None

    async def apply(self, items: Items, out: dict[int, OpResult]) -> None:
        by_group: dict[str, list[tuple[int, Op]]] = {}
        for index, op in items:
            group_id = self.group_of(op)
            if group_id is None:
                role, scope = getattr(op, "role", ""), getattr(op, "scope", "")
                out[index] = OpResult.failed(f"no SCIM Group stands for role {role!r} in {scope} scope (role_groups)")
            else:
                by_group.setdefault(group_id, []).append((index, op))
        for group_id, ops in by_group.items():
            await self._group(group_id, ops, out)

    async def _group(self, group_id: str, ops: list[tuple[int, Op]], out: dict[int, OpResult]) -> None:
        try:
            body, etag = await self._client.get(f"Groups/{group_id}")
        except NotFound:
            for index, _ in ops:
                out[index] = OpResult.failed("no such Group on the SCIM server", status=404)
            return
        group = parse_group(body)
        members = member_ids(group)
        pending: list[tuple[int, Op]] = []
        for index, op in ops:
            adding = isinstance(op, _ADDS)
            if (str(op.account_id) in members) == adding:
                out[index] = OpResult.already(self._ref(group_id, op))
            else:
                pending.append((index, op))
        if not pending:
            return
        try:
            await self._write(group, pending, etag if self._features.etag else None)
        except AuthError:
            raise
        except TransientError as error:
            if error.status != 412:
                raise
            for index, _ in pending:  # the Group changed since it was read: re-read, then retry
                out[index] = OpResult.retry(error.reason, status=412)
            return
        except PermanentError as error:
            if len(pending) == 1:
                out[pending[0][0]] = OpResult.failed(error.reason, status=error.status)
                return
            for item in pending:  # the server refused the combined write: find the op it cannot take
                await self._group(group_id, [item], out)
            return
        for index, op in pending:
            out[index] = OpResult.done(self._ref(group_id, op))

    async def _write(self, group: Group, pending: list[tuple[int, Op]], etag: str | None) -> None:
        adds = [str(op.account_id) for _, op in pending if isinstance(op, _ADDS)]
        removes = [str(op.account_id) for _, op in pending if not isinstance(op, _ADDS)]
        path = f"Groups/{group.id}"
        if not self._features.patch:
            kept = [m for m in group.members or [] if str(m.value) not in set(removes)]
            replaced = group.model_copy(update={"members": kept + [GroupMember(value=a) for a in adds], "meta": None})
            body = replaced.model_dump(scim_ctx=Context.RESOURCE_REPLACEMENT_REQUEST)
            await self._client.write("PUT", path, body, if_match=etag)
            return
        operations: list[PatchOperation[Any]] = []
        if adds:
            value = [{"value": a} for a in adds]
            operations.append(PatchOperation(op=PatchOperation.Op.add, path="members", value=value))
        for account_id in removes:
            path_filter = f"members[value eq {quoted(account_id)}]"
            operations.append(PatchOperation(op=PatchOperation.Op.remove, path=path_filter))
        body = PatchOp[Group](operations=operations).model_dump(scim_ctx=Context.RESOURCE_PATCH_REQUEST)
        await self._client.write("PATCH", path, body, if_match=etag)

    def _ref(self, group_id: str, op: Op) -> ExternalRef:
        kind: Literal["enrolment", "role", "group"] = "group"
        if isinstance(op, Enrol | Unenrol):
            kind = "enrolment"
        elif isinstance(op, AssignRole | RevokeRole):
            kind = "role"
        return ExternalRef(kind=kind, id=f"{group_id}:{op.account_id}")
