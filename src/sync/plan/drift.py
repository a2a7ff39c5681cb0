"""Drift: what someone changed by hand on the target, found by comparing its actual state with the links (pure).

A full reconcile reads what the target holds for each linked account (`run/actual.py`) and `rebase`s the link's
applied state onto it: the result is what the target really holds of what the engine manages. Diffing the
desired state against it plans the repairs; `mark_drift` flags the ops a link-only diff would not have planned.

Only what the target lists reliably is compared: the profile, the active flag, enrolments (ENROLMENTS), groups
(GROUPS), the SSO identity (SSO) and roles (ROLES_LISTED, in the scopes the target lists). Roles the engine
manages are those its rules give (`ManagedRoles`: the system roles they name, the manager role over people the
pipeline links) plus whatever it applied or wants: a managed role added by hand is revoked, a role removed by hand
is granted again, any other role is left alone. A role the target lists as only *possibly* held (an unsettled
record, `RoleAssignment.confirmed=False`) is settled: granted again when wanted, revoked when not. Moodle lists
system and user-context roles from its own record of what enrolsync assigned, so there a role removed by hand is
not seen. An optional profile field the target shows empty is taken as "not stored" (Moodle keeps no job title
without a custom field), so clearing one by hand is not detected.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from enrolsync.connectors.model import Account, AccountFields, RoleAssignment, RoleScope
from enrolsync.connectors.ops import Op, UpdateUser
from enrolsync.sync.rules.desired import DesiredState, RoleGrant, SsoSpec

_CASELESS = frozenset({"username", "email"})


@dataclass(frozen=True)
class ObservedAccount:
    """What the target holds for one linked account. None for a part the target cannot list."""

    account: Account
    enrolments: Mapping[str, bool] | None = None  # course id -> started
    groups: frozenset[str] | None = None
    sso: SsoSpec | None = None
    sso_listed: bool = False
    roles: frozenset[RoleGrant] | None = None  # held in `role_scopes`; None when the target lists no roles
    unsure_roles: frozenset[RoleGrant] = frozenset()  # listed as possibly held: settled by the next diff
    role_scopes: frozenset[RoleScope] = frozenset()

    def started(self, course_id: str) -> bool:
        """Whether the learner has progress in `course_id` (False when unknown)."""
        return bool(self.enrolments and self.enrolments.get(course_id))


@dataclass(frozen=True)
class ManagedRoles:
    """The roles a pipeline's rules can give: `system` roles by name, and `manager_role` over a report."""

    system: frozenset[str] = frozenset()
    manager_role: str | None = None

    def __call__(self, grant: RoleGrant) -> bool:
        if grant.scope is RoleScope.SYSTEM:
            return grant.role in self.system
        return grant.scope is RoleScope.USER and grant.role == self.manager_role


def grant_of(assignment: RoleAssignment, owners: Mapping[str, str]) -> RoleGrant | None:
    """The grant a listed assignment is, with a report named by hr_id (`owners`: account id -> hr_id); None for a
    role held over an account the pipeline does not link (not the engine's to compare)."""
    if assignment.scope is RoleScope.SYSTEM:
        return RoleGrant(role=assignment.role)
    if assignment.scope is RoleScope.COURSE:
        return RoleGrant(role=assignment.role, scope=RoleScope.COURSE, scope_id=assignment.scope_id or "")
    report = owners.get(assignment.scope_id or "")
    return None if report is None else RoleGrant(role=assignment.role, scope=RoleScope.USER, scope_hr_id=report)


def _same(name: str, left: str | None, right: str | None) -> bool:
    if left is None or right is None:
        return left is right
    if name in _CASELESS:
        return left.strip().casefold() == right.strip().casefold()
    return left.strip() == right.strip()


def _fields(applied: AccountFields, seen: AccountFields) -> AccountFields:
    """The applied profile with each field someone changed on the target replaced by what it shows now."""
    if applied == seen:
        return applied  # the usual case, one comparison of the fields' values instead of a loop over them
    changed: dict[str, str] = {}
    for name in AccountFields.model_fields:
        mine, theirs = getattr(applied, name), getattr(seen, name)
        # None on our side: a field we do not manage. None on theirs: a field the target may not store.
        if mine is not None and theirs is not None and not _same(name, mine, theirs):
            changed[name] = theirs
    return applied.model_copy(update=changed) if changed else applied


def _sso(applied: SsoSpec | None, seen: ObservedAccount) -> SsoSpec | None:
    if not seen.sso_listed:
        return applied
    theirs = seen.sso
    same = applied is not None and theirs is not None and applied.auth == theirs.auth
    if same and applied is not None and theirs is not None and applied.subject.casefold() == theirs.subject.casefold():
        return applied
    return theirs


def _roles(
    applied: frozenset[RoleGrant], wanted: frozenset[RoleGrant], seen: ObservedAccount, manages: ManagedRoles
) -> frozenset[RoleGrant]:
    if not seen.unsure_roles and seen.roles == applied and all(g.scope in seen.role_scopes for g in applied):
        # The usual case: the target lists exactly the applied grants, all in scopes it lists, none unsure. The
        # steps below would keep each of them (held and ours) and add none: skip their set building and hashing.
        return applied
    listed = [g for g in applied if g.scope in seen.role_scopes]
    trusted = applied.difference(listed)  # in a scope the target does not list: as the link says
    unsure = frozenset(g for g in seen.unsure_roles if g.scope in seen.role_scopes)
    ours = applied | wanted
    held = frozenset(g for g in seen.roles or () if g.scope in seen.role_scopes and (g in ours or manages(g)))
    # Possibly held: taken as held when unwanted (so it is revoked), as missing when wanted (so it is granted).
    return trusted | (held - unsure) | (unsure - wanted)


def rebase(
    applied: DesiredState,
    desired: DesiredState | None,
    seen: ObservedAccount,
    manages: ManagedRoles | None = None,
) -> DesiredState:
    """The state the target really holds, limited to what the engine manages for this person.

    Managed means in the applied or the desired state: an enrolment someone added by hand in a course no rule
    gives is not ours, and stays. For roles, also any role `manages` says the rules can give.
    """
    wanted = desired or applied
    update: dict[str, object] = {
        "fields": _fields(applied.fields, seen.account.fields),
        "active": seen.account.active,
        "sso": _sso(applied.sso, seen),
    }
    if seen.enrolments is not None:
        update["enrolments"] = frozenset(c for c in applied.enrolments | wanted.enrolments if c in seen.enrolments)
    if seen.groups is not None:
        update["groups"] = (applied.groups | wanted.groups) & seen.groups
    if seen.roles is not None:
        update["roles"] = _roles(applied.roles, wanted.roles, seen, manages or ManagedRoles())
    # Most accounts hold what their link says: `applied` itself then, which callers compare by identity first.
    if all(value is getattr(applied, name) or getattr(applied, name) == value for name, value in update.items()):
        return applied
    return applied.model_copy(update=update)


def without_scope_over(applied: DesiredState, replaced: Collection[str]) -> DesiredState:
    """`applied` without the roles held over people whose account the target no longer has (deleted by hand):
    such a role went with the account, and must be granted again over the account that replaces it."""
    kept = frozenset(grant for grant in applied.roles if grant.scope_hr_id not in replaced)
    return applied if kept == applied.roles else applied.model_copy(update={"roles": kept})


def _changed(op: Op) -> frozenset[str]:
    return frozenset(op.changed) if isinstance(op, UpdateUser) else frozenset()


def mark_drift(by_link: Iterable[Op], by_actual: Iterable[Op]) -> list[Op]:
    """`by_actual` (the ops planned against the rebased state) with `drift=True` on each op the link-only plan
    `by_link` lacks, or that changes more profile fields than it."""
    expected = {op.key: _changed(op) for op in by_link}
    marked: list[Op] = []
    for op in by_actual:
        known = expected.get(op.key)
        repairs = known is None or not _changed(op) <= known
        marked.append(op.model_copy(update={"drift": True}) if repairs else op)
    return marked
