"""What the target actually holds, read through `TargetConnector.list_*` for the accounts a pipeline links (I/O).

A full reconcile takes one `snapshot` before planning: each list is streamed once and only linked accounts are
kept, so memory grows with the pipeline's people, not with the target's. A target that reads accounts by id
(`AccountLookup`) is asked for the linked accounts alone, with their SSO identities in the same read, so the
run's cost does not grow with accounts the pipeline does not manage either. Enrolments are read only in the courses
the pipeline manages (its rules' courses and those it has applied); roles only from ROLES_LISTED targets.
`started_enrolments` is the cheap look-up an incremental run makes before planning an unenrolment.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Collection, Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from operator import itemgetter
from typing import Any, TypeVar

from enrolsync.connectors.base import AccountLookup, Capability, RoleScopesListed, RolesOfAccounts, TargetConnector
from enrolsync.connectors.model import Account, AccountFields, RoleScope
from enrolsync.sync.plan.drift import ObservedAccount, grant_of
from enrolsync.sync.rules.desired import RoleGrant, SsoSpec

_FIELDS = tuple(AccountFields.model_fields)  # the order `_Held.fields` keeps an account's fields in
_FIELD_VALUES = itemgetter(*_FIELDS)  # a stored state's fields (JSON) in that order
H = TypeVar("H", bound=Hashable)


def _interned(value: str | None) -> str | None:
    return None if value is None else sys.intern(value)


@dataclass(frozen=True, slots=True)
class _Held:
    """One linked account as the target holds it, kept small: a snapshot holds one per person of the pipeline.

    Strings are interned (a username is often the email and the SSO subject; departments, titles and courses
    repeat) and equal enrolment maps and role sets are one shared object (`_Sharing`); the `ObservedAccount`
    planning reads is made from this when asked for (`Snapshot`). Pydantic models per account took ~4 KB each.
    """

    account_id: str
    active: bool
    fields: tuple[str | None, ...]  # in `_FIELDS` order
    sso: tuple[str, str] | None = None  # auth, subject
    enrolments: tuple[tuple[str, bool], ...] | None = None  # (course id, started), sorted
    groups: frozenset[str] | None = None
    roles: frozenset[RoleGrant] | None = None
    unsure_roles: frozenset[RoleGrant] = frozenset()

    @classmethod
    def of(cls, account: Account) -> _Held:
        fields = tuple(_interned(getattr(account.fields, name)) for name in _FIELDS)
        return cls(account_id=sys.intern(account.account_id), active=account.active, fields=fields)

    def account(self) -> Account:
        # Built from values an `Account` held a moment ago, so they need no second validation.
        values: dict[str, Any] = dict(zip(_FIELDS, self.fields, strict=True))
        fields = AccountFields.model_construct(**values)
        return Account.model_construct(account_id=self.account_id, fields=fields, active=self.active)


class _Sharing:
    """One object for each distinct value: most people hold the same enrolments and no roles."""

    def __init__(self) -> None:
        self._seen: dict[Hashable, Hashable] = {}

    def __call__(self, value: H) -> H:
        shared = self._seen.setdefault(value, value)
        return shared  # type: ignore[return-value]  # equal to `value`, hence of its type


class Snapshot(Mapping[str, ObservedAccount]):
    """What the target holds for each linked account, by hr_id: a read-only map whose values are made on access
    from the compact record kept per account (`_Held`), so memory stays ~0.5 KB per person at 100,000 people."""

    def __init__(self, held: dict[str, _Held], *, sso_listed: bool, role_scopes: frozenset[RoleScope]) -> None:
        self._held = held
        self._sso_listed = sso_listed
        self._role_scopes = role_scopes

    def __getitem__(self, hr_id: str) -> ObservedAccount:
        held = self._held[hr_id]
        return ObservedAccount(
            account=held.account(),
            enrolments=None if held.enrolments is None else dict(held.enrolments),
            groups=held.groups,
            sso=None if held.sso is None else SsoSpec.model_construct(auth=held.sso[0], subject=held.sso[1]),
            sso_listed=self._sso_listed,
            roles=held.roles,
            unsure_roles=held.unsure_roles,
            role_scopes=self._role_scopes,
        )

    def holds(self, hr_id: str, applied: Mapping[str, Any], replaced: Collection[str]) -> bool:
        """Whether the target holds exactly `applied` (a link's stored state, JSON) for the person: what planning
        against this snapshot finds of a settled person (`drift.rebase` of their applied state onto what the target
        holds gives that state back), told from the stored JSON and the compact record alone, with no model built.

        True only when every compared part is equal as stored; False whenever `rebase` might find a difference (a
        field equal only after case-folding, a role held over a replaced account, an account gone): the caller then
        plans the person the long way, which decides. A no-op full run so costs a few comparisons per person.
        """
        held = self._held.get(hr_id)
        if held is None or applied.get("active", True) is not held.active or applied.get("due_dates"):
            return False
        mine = applied.get("fields") or {}
        try:
            same = _FIELD_VALUES(mine) == held.fields  # the usual case, compared in one step
        except KeyError:
            same = False
        if not same:
            for name, theirs in zip(_FIELDS, held.fields, strict=True):
                value = mine.get(name)
                # None on either side is a field one side does not manage or store: `drift._fields` keeps it too.
                if value is not None and theirs is not None and value != theirs:
                    return False
        if self._sso_listed and not _same_sso(applied.get("sso"), held.sso):
            return False
        if held.enrolments is not None and not _within(applied.get("enrolments", ()), held.enrolments):
            return False
        if held.groups is not None and not held.groups.issuperset(applied.get("groups", ())):
            return False
        grants = applied.get("roles") or ()
        if held.roles is not None and (held.unsure_roles or not self._same_roles(grants, held.roles)):
            return False
        return not grants or not any(grant.get("scope_hr_id") in replaced for grant in grants)

    def _same_roles(self, grants: Iterable[Mapping[str, Any]], roles: frozenset[RoleGrant]) -> bool:
        """Whether the stored grants are exactly the listed ones, all in scopes the target lists."""
        if not roles:
            return not grants
        keys = {(g["role"], g.get("scope", "system"), g.get("scope_id"), g.get("scope_hr_id")) for g in grants}
        listed = {(g.role, g.scope.value, g.scope_id, g.scope_hr_id) for g in roles}
        return keys == listed and all(RoleScope(scope) in self._role_scopes for _, scope, _, _ in keys)

    def __iter__(self) -> Iterator[str]:
        return iter(self._held)

    def __len__(self) -> int:
        return len(self._held)


def _same_sso(mine: Mapping[str, Any] | None, theirs: tuple[str, str] | None) -> bool:
    if mine is None or theirs is None:
        return mine is None and theirs is None
    return bool(mine.get("auth") == theirs[0] and str(mine.get("subject", "")).casefold() == theirs[1].casefold())


def _within(courses: Iterable[str], enrolments: tuple[tuple[str, bool], ...]) -> bool:
    """Whether every course is among the (course id, started) enrolments."""
    if not courses:
        return True
    held = {course for course, _ in enrolments}
    return all(course in held for course in courses)


async def snapshot(target: TargetConnector, *, owners: Mapping[str, str], courses: Collection[str]) -> Snapshot:
    """The target's state for every linked account, by hr_id. A linked account the target no longer has is
    absent from the result.

    Args:
        target: a connected `TargetConnector`.
        owners: account id -> hr_id of every linked account.
        courses: the course ids whose enrolments to read.

    Raises:
        ConnectorError: a list call failed (after the connector's read retries).
    """
    capabilities = target.info.capabilities
    held = await _linked_accounts(target, owners)
    share = _Sharing()
    enrolments: dict[str, dict[str, bool]] | None = None
    if Capability.ENROLMENTS in capabilities:
        enrolments = defaultdict(dict)
        if courses:
            async for enrolment in target.list_enrolments(course_ids=sorted(courses)):
                if enrolment.account_id in held:
                    enrolments[enrolment.account_id][sys.intern(enrolment.course_id)] = enrolment.started
    groups: dict[str, set[str]] | None = None
    if Capability.GROUPS in capabilities:
        groups = defaultdict(set)
        async for membership in target.list_group_memberships():
            if membership.account_id in held:
                groups[membership.account_id].add(sys.intern(membership.group_id))
    listed = Capability.ROLES_LISTED in capabilities
    roles = await _roles(target, owners, held, courses) if listed else None
    # Each record made whole in one `replace`, not one per part: every pass of copies cost a noticeable share.
    for account_id, record in held.items():
        parts: dict[str, Any] = {}
        if enrolments is not None:
            parts["enrolments"] = share(tuple(sorted(enrolments.pop(account_id, {}).items())))
        if groups is not None:
            parts["groups"] = share(frozenset(groups.pop(account_id, ())))
        if roles is not None:
            confirmed, unsure = roles.get(account_id, _NO_ROLES)
            parts["roles"], parts["unsure_roles"] = share(frozenset(confirmed)), share(frozenset(unsure))
        held[account_id] = replace(record, **parts)
    return Snapshot(
        {owners[account_id]: record for account_id, record in held.items()},
        sso_listed=Capability.SSO in capabilities,
        role_scopes=_role_scopes(target) if listed else frozenset(),
    )


RolesHeld = dict[str, tuple[set[RoleGrant], set[RoleGrant]]]  # account id -> (grants held, grants maybe held)
_NO_ROLES: tuple[set[RoleGrant], set[RoleGrant]] = (set(), set())


async def _roles(
    target: TargetConnector, owners: Mapping[str, str], accounts: Collection[str], courses: Collection[str]
) -> RolesHeld:
    """The listed roles of linked accounts, split into those held and those only possibly held; read for those
    accounts alone where the target can (`RolesOfAccounts`), else from its whole listing. Only accounts holding
    some role have an entry."""
    held: RolesHeld = {}
    listing = (
        target.list_roles_of(sorted(accounts), course_ids=sorted(courses))
        if isinstance(target, RolesOfAccounts)
        else target.list_role_assignments()
    )
    async for assignment in listing:
        if assignment.account_id in accounts and (grant := grant_of(assignment, owners)) is not None:
            confirmed, unsure = held.setdefault(assignment.account_id, (set(), set()))
            (confirmed if assignment.confirmed else unsure).add(grant)
    return held


def _role_scopes(target: TargetConnector) -> frozenset[RoleScope]:
    return target.listed_role_scopes() if isinstance(target, RoleScopesListed) else frozenset(RoleScope)


async def _linked_accounts(target: TargetConnector, owners: Mapping[str, str]) -> dict[str, _Held]:
    """The linked accounts the target still holds, with their SSO identities, by account id; each account is
    made compact as it arrives, so the connector's models for the whole pipeline are never held at once."""
    sso = Capability.SSO in target.info.capabilities
    held: dict[str, _Held] = {}
    if isinstance(target, AccountLookup):
        async for record in target.read_accounts(sorted(owners)):
            if record.account.account_id in owners:
                found = _Held.of(record.account)
                if sso and record.sso is not None and record.sso.auth and record.sso.subject:
                    found = replace(found, sso=(sys.intern(record.sso.auth), sys.intern(record.sso.subject)))
                held[found.account_id] = found
        return held
    held = {a.account_id: _Held.of(a) async for a in target.list_accounts() if a.account_id in owners}
    if sso:
        async for identity in target.list_sso_identities():
            if identity.account_id in held and identity.auth and identity.subject:
                pair = (sys.intern(identity.auth), sys.intern(identity.subject))
                held[identity.account_id] = replace(held[identity.account_id], sso=pair)
    return held


async def started_enrolments(target: TargetConnector, pairs: Collection[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which of the (account id, course id) enrolments the learner has started, reading only their courses."""
    if not pairs or Capability.ENROLMENTS not in target.info.capabilities:
        return set()
    wanted = set(pairs)
    courses = sorted({course for _, course in wanted})
    return {
        (e.account_id, e.course_id)
        async for e in target.list_enrolments(course_ids=courses)
        if e.started and (e.account_id, e.course_id) in wanted
    }
