"""Desired state vs the link's last applied state -> the ops that close the gap (pure).

An unchanged person yields no op, so a no-op re-run makes zero writes. `record` is the other half: the applied
state after one op succeeded, stored in the link in the same transaction as the op's outcome. Folding `record`
over a person's ops and diffing again yields nothing (tested as a property).

What an inactive account keeps is decided here: a leaver, or a person suspended while on leave, is deactivated;
their enrolments and groups stay as last applied (training records stay). Roles are the exception: every role the
account holds that the desired state no longer has is revoked, whatever else happens to the person, so a manager
who leaves as their reports move to someone else does not keep the role over them.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import date

from pydantic import BaseModel, ConfigDict, model_validator

from enrolsync.connectors.model import Account, AccountFields, RoleScope
from enrolsync.connectors.ops import (
    AddToGroup,
    AssignRole,
    CreateUser,
    DeactivateUser,
    DeleteUser,
    Enrol,
    Op,
    ReactivateUser,
    RemoveFromGroup,
    RevokeRole,
    SetDueDate,
    SetSsoIdentity,
    Unenrol,
    UpdateUser,
)
from enrolsync.sync.rules.desired import DesiredState, RoleGrant, SsoSpec
from enrolsync.sync.rules.policy import LeaverPolicy, Policies, UnenrolPolicy, UnmatchedPolicy


class LinkedState(BaseModel):
    """A person's link: the target account (None until one exists) and the state last applied to it.

    A linked account always has an applied state: for an account matched but never written to, pass
    `observed(hr_id, account)`, the state the target showed at matching time.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    account_id: str | None = None
    applied: DesiredState | None = None

    @model_validator(mode="after")
    def _account_has_state(self) -> LinkedState:
        if self.account_id is not None and self.applied is None:
            raise ValueError("a linked account needs its applied state; use observed() for a matched account")
        return self


def observed(hr_id: str, account: Account) -> DesiredState:
    """The applied state to start from for `account`, matched to person `hr_id` but never written to.

    Only the profile and the active flag are known, so every enrolment, role, group and SSO identity the
    person should have is planned; targets answer `already` for those in place.
    """
    return DesiredState(hr_id=hr_id, fields=account.fields, active=account.active)


def changed_fields(desired: AccountFields, applied: AccountFields) -> tuple[str, ...]:
    """Names of the managed profile fields whose values differ, in declaration order."""
    return tuple(name for name in AccountFields.model_fields if getattr(desired, name) != getattr(applied, name))


def _grant_op(kind: type[AssignRole] | type[RevokeRole], grant: RoleGrant, hr_id: str, account_id: str | None) -> Op:
    return kind(
        hr_id=hr_id,
        account_id=account_id,
        role=grant.role,
        scope=grant.scope,
        scope_id=grant.scope_id,
        scope_hr_id=grant.scope_hr_id,
    )


def _grants(grants: Iterable[RoleGrant]) -> list[RoleGrant]:
    return sorted(grants, key=RoleGrant.sort_key)


def _memberships(desired: DesiredState, applied: DesiredState, account_id: str | None, policy: Policies) -> list[Op]:
    """Roles, groups, SSO identity and enrolments that differ between `desired` and `applied`."""
    hr_id, roles, groups, courses = desired.hr_id, desired.roles, desired.groups, desired.enrolments
    ops: list[Op] = [_grant_op(AssignRole, grant, hr_id, account_id) for grant in _grants(roles - applied.roles)]
    ops += [_grant_op(RevokeRole, grant, hr_id, account_id) for grant in _grants(applied.roles - roles)]
    ops += [AddToGroup(hr_id=hr_id, account_id=account_id, group_id=g) for g in sorted(groups - applied.groups)]
    ops += [RemoveFromGroup(hr_id=hr_id, account_id=account_id, group_id=g) for g in sorted(applied.groups - groups)]
    # No op clears an SSO identity: a desired state without one leaves the account's identity alone.
    if desired.sso is not None and desired.sso != applied.sso:
        sso = desired.sso
        ops.append(SetSsoIdentity(hr_id=hr_id, account_id=account_id, auth=sso.auth, subject=sso.subject))
    dues = desired.due_dates
    ops += [
        Enrol(hr_id=hr_id, account_id=account_id, course_id=c, due_on=dues.get(c))
        for c in sorted(courses - applied.enrolments)
    ]
    ops += _due_date_moves(desired, applied, account_id)
    if policy.unenrol is UnenrolPolicy.IF_NOT_STARTED:
        dropped = sorted(applied.enrolments - courses)
        ops += [Unenrol(hr_id=hr_id, account_id=account_id, course_id=c) for c in dropped]
    return ops


def _due_date_moves(desired: DesiredState, applied: DesiredState, account_id: str | None) -> list[Op]:
    """Held enrolments whose due date the rules moved. No op clears a due date: an enrolment whose rules no longer
    set one keeps the date last pushed (only targets declaring DUE_DATES have any in their desired state)."""
    held, dues = desired.enrolments & applied.enrolments, desired.due_dates
    moved = sorted(c for c in held if c in dues and applied.due_dates.get(c) != dues[c])
    return [SetDueDate(hr_id=desired.hr_id, account_id=account_id, course_id=c, due_on=dues[c]) for c in moved]


def _provision(desired: DesiredState | None, policy: Policies) -> list[Op]:
    # Never create an account only to deactivate it: an inactive person without an account stays without one.
    if desired is None or not desired.active or policy.unmatched is UnmatchedPolicy.IGNORE:
        return []
    create = CreateUser(hr_id=desired.hr_id, fields=desired.fields)
    return [create, *_memberships(desired, record(None, create), None, policy)]


def _update(desired: DesiredState, applied: DesiredState, account_id: str, policy: Policies) -> list[Op]:
    hr_id = desired.hr_id
    if not desired.active:
        # Revokes only: an inactive account is granted nothing new, but it never keeps scope over people (or
        # courses) its rules no longer give it, such as reports who moved to another manager as it left.
        revokes = [_grant_op(RevokeRole, grant, hr_id, account_id) for grant in _grants(applied.roles - desired.roles)]
        deactivate: list[Op] = [DeactivateUser(hr_id=hr_id, account_id=account_id)] if applied.active else []
        return deactivate + revokes
    ops: list[Op] = []
    if not applied.active:
        ops.append(ReactivateUser(hr_id=hr_id, account_id=account_id))
    changed = changed_fields(desired.fields, applied.fields)
    if changed:
        ops.append(UpdateUser(hr_id=hr_id, account_id=account_id, fields=desired.fields, changed=changed))
    return ops + _memberships(desired, applied, account_id, policy)


def diff(desired: DesiredState | None, link: LinkedState | None, *, policy: Policies) -> list[Op]:
    """The ops that move one person's account from its applied state to `desired`.

    Args:
        desired: from `evaluate.desired_state`; None when the person is gone from the HR system or is not to
            be managed (then the leaver policy decides what happens to a linked account).
        link: the person's link; None (or no account) when no account is linked yet.
        policy: the pipeline's policies.

    Returns:
        Ops for this person only, unordered across kinds (`order.PlanOrder` numbers them in plan order). A new
        account's ops carry `account_id=None`; the executor fills it in once `CreateUser` succeeded.

    Raises:
        ValueError: `desired` and the link's applied state belong to different people.
    """
    link = link or LinkedState()
    if link.account_id is None or link.applied is None:
        return _provision(desired, policy)
    applied = link.applied
    if desired is None:
        if policy.leaver is LeaverPolicy.IGNORE:
            return []
        if not applied.active and policy.leaver is LeaverPolicy.DEACTIVATE:
            return []
        if policy.leaver is LeaverPolicy.DELETE:
            # Deactivated or not: a pipeline switched to deleting deletes its earlier leavers' accounts too.
            return [DeleteUser(hr_id=applied.hr_id, account_id=link.account_id)]
        return [DeactivateUser(hr_id=applied.hr_id, account_id=link.account_id)]
    if desired.hr_id != applied.hr_id:
        raise ValueError(f"desired state of {desired.hr_id} diffed against the link of {applied.hr_id}")
    return _update(desired, applied, link.account_id, policy)


def keep_started(ops: Iterable[Op], started: Collection[tuple[str, str]]) -> tuple[list[Op], list[Unenrol]]:
    """Split off the unenrolments of started enrolments: (ops to plan, unenrolments kept back).

    Args:
        ops: a person's ops from `diff`.
        started: (account id, course id) of enrolments with progress, as the target reports them.
    """
    planned: list[Op] = []
    kept: list[Unenrol] = []
    for op in ops:
        if isinstance(op, Unenrol) and (op.account_id, op.course_id) in started:
            kept.append(op)
        else:
            planned.append(op)
    return planned, kept


def _grant_of(op: AssignRole | RevokeRole) -> RoleGrant:
    # The executor fills a USER op's scope_id with the report's account id; the grant stays keyed by hr_id.
    scope_id = op.scope_id if op.scope is RoleScope.COURSE else None
    scope_hr_id = op.scope_hr_id if op.scope is RoleScope.USER else None
    return RoleGrant(role=op.role, scope=op.scope, scope_id=scope_id, scope_hr_id=scope_hr_id)


def record(applied: DesiredState | None, op: Op) -> DesiredState:
    """The applied state after `op` succeeded (outcome `done` or `already`) on top of `applied`.

    Raises:
        ValueError: `applied` is None for an op other than `CreateUser`, or belongs to another person.
    """
    if isinstance(op, CreateUser):
        # A new account holds nothing else yet, even when an earlier account of this person held more.
        return DesiredState(hr_id=op.hr_id, fields=op.fields, active=True)
    if applied is None:
        raise ValueError(f"{op.kind} for {op.hr_id} recorded before the account's state is known")
    if op.hr_id != applied.hr_id:
        raise ValueError(f"{op.kind} for {op.hr_id} recorded on the state of {applied.hr_id}")
    return applied.model_copy(update=_change(applied, op))


def _due(applied: DesiredState, course_id: str, due_on: date | None) -> dict[str, date]:
    dues = {c: on for c, on in applied.due_dates.items() if c != course_id}
    return dues if due_on is None else {**dues, course_id: due_on}


def _change(applied: DesiredState, op: Op) -> dict[str, object]:
    match op:
        case UpdateUser():
            return {"fields": op.fields}
        case DeactivateUser() | ReactivateUser():
            return {"active": isinstance(op, ReactivateUser)}
        case Enrol():
            # A fresh enrolment holds exactly the due date it was made with (none: none).
            return {
                "enrolments": applied.enrolments | {op.course_id},
                "due_dates": _due(applied, op.course_id, op.due_on),
            }
        case SetDueDate():
            return {"due_dates": _due(applied, op.course_id, op.due_on)}
        case Unenrol():
            return {"enrolments": applied.enrolments - {op.course_id}, "due_dates": _due(applied, op.course_id, None)}
        case AssignRole():
            return {"roles": applied.roles | {_grant_of(op)}}
        case RevokeRole():
            return {"roles": applied.roles - {_grant_of(op)}}
        case AddToGroup():
            return {"groups": applied.groups | {op.group_id}}
        case RemoveFromGroup():
            return {"groups": applied.groups - {op.group_id}}
        case SetSsoIdentity():
            return {"sso": SsoSpec(auth=op.auth, subject=op.subject)}
    raise ValueError(f"cannot record {op.kind}")
