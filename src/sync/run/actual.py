"""What the target actually holds, read through `TargetConnector.list_*` for the accounts a pipeline links (I/O).

A full reconcile takes one `snapshot` before planning: each list is streamed once and only linked accounts are
kept, so memory grows with the pipeline's people, not with the target's. A target that reads accounts by id
(`AccountLookup`) is asked for the linked accounts alone, with their SSO identities in the same read, so the
run's cost does not grow with accounts the pipeline does not manage either. Enrolments are read only in the courses
the pipeline manages (its rules' courses and those it has applied); roles only from ROLES_LISTED targets.
`started_enrolments` is the cheap look-up an incremental run makes before planning an unenrolment.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping

from enrolsync.connectors.base import AccountLookup, Capability, RoleScopesListed, RolesOfAccounts, TargetConnector
from enrolsync.connectors.model import Account, RoleScope
from enrolsync.sync.plan.drift import ObservedAccount, grant_of
from enrolsync.sync.rules.desired import RoleGrant, SsoSpec


async def snapshot(
    target: TargetConnector, *, owners: Mapping[str, str], courses: Collection[str]
) -> dict[str, ObservedAccount]:
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
    accounts, identities = await _linked_accounts(target, owners)
    enrolments: dict[str, dict[str, bool]] | None = None
    if Capability.ENROLMENTS in capabilities:
        enrolments = defaultdict(dict)
        if courses:
            async for enrolment in target.list_enrolments(course_ids=sorted(courses)):
                if enrolment.account_id in accounts:
                    enrolments[enrolment.account_id][enrolment.course_id] = enrolment.started
    groups: dict[str, set[str]] | None = None
    if Capability.GROUPS in capabilities:
        groups = defaultdict(set)
        async for membership in target.list_group_memberships():
            if membership.account_id in accounts:
                groups[membership.account_id].add(membership.group_id)
    roles = await _roles(target, owners, accounts, courses) if Capability.ROLES_LISTED in capabilities else None
    scopes = _role_scopes(target) if roles is not None else frozenset()
    return {
        owners[account_id]: ObservedAccount(
            account=account,
            enrolments=None if enrolments is None else dict(enrolments.get(account_id, {})),
            groups=None if groups is None else frozenset(groups.get(account_id, set())),
            sso=identities.get(account_id),
            sso_listed=Capability.SSO in capabilities,
            roles=None if roles is None else frozenset(roles[account_id][True]),
            unsure_roles=frozenset() if roles is None else frozenset(roles[account_id][False]),
            role_scopes=scopes,
        )
        for account_id, account in accounts.items()
    }


RolesHeld = dict[str, dict[bool, set[RoleGrant]]]  # account id -> confirmed? -> grants


async def _roles(
    target: TargetConnector, owners: Mapping[str, str], accounts: Collection[str], courses: Collection[str]
) -> RolesHeld:
    """The listed roles of linked accounts, split into those held and those only possibly held; read for those
    accounts alone where the target can (`RolesOfAccounts`), else from its whole listing."""
    held: RolesHeld = defaultdict(lambda: {True: set(), False: set()})
    listing = (
        target.list_roles_of(sorted(accounts), course_ids=sorted(courses))
        if isinstance(target, RolesOfAccounts)
        else target.list_role_assignments()
    )
    async for assignment in listing:
        if assignment.account_id in accounts and (grant := grant_of(assignment, owners)) is not None:
            held[assignment.account_id][assignment.confirmed].add(grant)
    return held


def _role_scopes(target: TargetConnector) -> frozenset[RoleScope]:
    return target.listed_role_scopes() if isinstance(target, RoleScopesListed) else frozenset(RoleScope)


async def _linked_accounts(
    target: TargetConnector, owners: Mapping[str, str]
) -> tuple[dict[str, Account], dict[str, SsoSpec]]:
    """The linked accounts the target still holds, and the SSO identities among them, by account id."""
    sso = Capability.SSO in target.info.capabilities
    accounts: dict[str, Account] = {}
    identities: dict[str, SsoSpec] = {}
    if isinstance(target, AccountLookup):
        async for record in target.read_accounts(sorted(owners)):
            if record.account.account_id in owners:
                accounts[record.account.account_id] = record.account
                if sso and record.sso is not None and record.sso.auth and record.sso.subject:
                    identities[record.account.account_id] = SsoSpec(auth=record.sso.auth, subject=record.sso.subject)
        return accounts, identities
    accounts = {a.account_id: a async for a in target.list_accounts() if a.account_id in owners}
    if sso:
        async for identity in target.list_sso_identities():
            if identity.account_id in accounts and identity.auth and identity.subject:
                identities[identity.account_id] = SsoSpec(auth=identity.auth, subject=identity.subject)
    return accounts, identities


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
