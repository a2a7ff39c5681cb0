"""How the memory LMS applies each op: idempotent, `already` when the effect is in place."""

from __future__ import annotations

from enrolsync.connectors.errors import Invalid, NotFound
from enrolsync.connectors.memory.state import MemoryLms
from enrolsync.connectors.model import ExternalRef, RoleAssignment
from enrolsync.connectors.ops import (
    AddToGroup,
    AssignRole,
    CreateUser,
    DeactivateUser,
    DeleteUser,
    Enrol,
    Op,
    OpResult,
    ReactivateUser,
    RemoveFromGroup,
    RevokeRole,
    SetSsoIdentity,
    Unenrol,
    UpdateUser,
    _RoleOp,
)


def _account_ref(account_id: str) -> ExternalRef:
    return ExternalRef(kind="account", id=account_id)


def _create(lms: MemoryLms, op: CreateUser) -> OpResult:
    for account in lms.accounts.values():
        same_external = op.fields.external_id and account.fields.external_id == op.fields.external_id
        if same_external or account.fields.username == op.fields.username:
            return OpResult.already(_account_ref(account.account_id))
        if account.fields.email.lower() == op.fields.email.lower():
            raise Invalid("email address already exists", status=409)
    if op.fields.username != op.fields.username.strip().lower():
        raise Invalid("username must be lower-case without spaces", status=400)
    lms.writes += 1
    return OpResult.done(_account_ref(lms.new_account(op.fields).account_id))


def _set_active(lms: MemoryLms, account_id: str, active: bool) -> OpResult:
    account = lms.accounts[account_id]
    if account.active == active:
        return OpResult.already(_account_ref(account_id))
    lms.writes += 1
    lms.accounts[account_id] = account.model_copy(update={"active": active})
    return OpResult.done(_account_ref(account_id))


def _role(op: _RoleOp, account_id: str) -> RoleAssignment:
    return RoleAssignment(account_id=account_id, role=op.role, scope=op.scope, scope_id=op.scope_id)


def _toggle(lms: MemoryLms, present: bool, want: bool, ref: ExternalRef) -> OpResult:
    if present == want:
        return OpResult.already(ref)
    lms.writes += 1
    return OpResult.done(ref)


def apply_op(lms: MemoryLms, op: Op) -> OpResult:  # noqa: C901 - one branch per op kind reads best here
    if isinstance(op, CreateUser):
        return _create(lms, op)
    account_id = op.account_id or ""
    if isinstance(op, UpdateUser):
        if lms.accounts[account_id].fields == op.fields:
            return OpResult.already(_account_ref(account_id))
        lms.writes += 1
        lms.accounts[account_id] = lms.accounts[account_id].model_copy(update={"fields": op.fields})
        return OpResult.done(_account_ref(account_id))
    if isinstance(op, DeactivateUser | ReactivateUser):
        return _set_active(lms, account_id, isinstance(op, ReactivateUser))
    if isinstance(op, DeleteUser):
        if lms.accounts.pop(account_id, None) is None:
            return OpResult.already(_account_ref(account_id))
        lms.writes += 1
        lms.enrolments = {pair for pair in lms.enrolments if pair[0] != account_id}
        lms.started = {pair for pair in lms.started if pair[0] != account_id}
        lms.roles = {r for r in lms.roles if account_id not in (r.account_id, r.scope_id)}
        lms.groups = {pair for pair in lms.groups if pair[0] != account_id}
        lms.sso.pop(account_id, None)
        return OpResult.done(_account_ref(account_id))
    if isinstance(op, Enrol | Unenrol):
        if op.course_id not in lms.courses:
            raise NotFound("course not found", status=404)
        key = (account_id, op.course_id)
        ref = ExternalRef(kind="enrolment", id=":".join(key))
        if isinstance(op, Unenrol) and key in lms.started and key in lms.enrolments:
            return OpResult.already(ref)  # a started course is the learner's record: kept (see `Unenrol`)
        result = _toggle(lms, key in lms.enrolments, isinstance(op, Enrol), ref)
        (lms.enrolments.add if isinstance(op, Enrol) else lms.enrolments.discard)(key)
        return result
    if isinstance(op, AssignRole | RevokeRole):
        if op.scope_id is None and op.scope.value != "system":
            raise Invalid("a scoped role needs a scope id", status=400)
        role = _role(op, account_id)
        result = _toggle(lms, role in lms.roles, isinstance(op, AssignRole), ExternalRef(kind="role", id=op.role))
        (lms.roles.add if isinstance(op, AssignRole) else lms.roles.discard)(role)
        return result
    if isinstance(op, AddToGroup | RemoveFromGroup):
        pair = (account_id, op.group_id)
        result = _toggle(lms, pair in lms.groups, isinstance(op, AddToGroup), ExternalRef(kind="group", id=op.group_id))
        (lms.groups.add if isinstance(op, AddToGroup) else lms.groups.discard)(pair)
        return result
    if isinstance(op, SetSsoIdentity):
        wanted = (op.auth, op.subject)
        result = _toggle(lms, lms.sso.get(account_id) == wanted, True, ExternalRef(kind="sso", id=account_id))
        lms.sso[account_id] = wanted
        return result
    raise Invalid(f"unsupported op {op.kind}")
