"""First link: pair people without a link to accounts the target already has, once, by the match keys in order.

Two people matching one account, one person matching several, or an account already linked to someone else is
a conflict: reported on the person, never guessed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from enrolsync.connectors.model import Account
from enrolsync.sync.rules.desired import DesiredState
from enrolsync.sync.rules.policy import MatchKey

FindAccounts = Callable[[str, Sequence[str]], Awaitable[Sequence[Account]]]
"""Look accounts up on the target by a match key's field and values (`TargetConnector.find_accounts`)."""
LinkOwners = Callable[[Sequence[str]], Awaitable[Mapping[str, str]]]
"""Which person each of these account ids is already linked to (the run's storage answers)."""


@dataclass
class MatchOutcome:
    matched: dict[str, Account] = field(default_factory=dict)
    conflicts: dict[str, str] = field(default_factory=dict)


def _value(desired: DesiredState, key: MatchKey) -> str | None:
    value = getattr(desired.fields, key.value)
    return value.strip().lower() if value else None


def _account_value(account: Account, key: MatchKey) -> str | None:
    value = getattr(account.fields, key.value)
    return str(value).strip().lower() if value else None


def _claims(
    values: Mapping[str, str], found: Sequence[Account], key: MatchKey, outcome: MatchOutcome
) -> dict[str, list[str]]:
    """account id -> the people whose `key` value it carries; people with several candidates are conflicts."""
    by_value: dict[str, list[Account]] = defaultdict(list)
    for account in found:
        if (v := _account_value(account, key)) is not None and account not in by_value[v]:
            by_value[v].append(account)
    claims: dict[str, list[str]] = defaultdict(list)
    for hr_id, value in values.items():
        candidates = by_value.get(value, [])
        if len(candidates) > 1:
            ids = ", ".join(sorted(a.account_id for a in candidates))
            outcome.conflicts[hr_id] = (
                f"matches {len(candidates)} accounts by {key.value} ({ids}): resolve on the target"
            )
        elif candidates:
            claims[candidates[0].account_id].append(hr_id)
    return claims


def _settle(
    claims: Mapping[str, list[str]],
    found: Sequence[Account],
    owners: Mapping[str, str],
    key: MatchKey,
    outcome: MatchOutcome,
) -> None:
    taken = {account.account_id: hr_id for hr_id, account in outcome.matched.items()}
    for account_id, hr_ids in claims.items():
        account = next(a for a in found if a.account_id == account_id)
        owner = owners.get(account_id) or taken.get(account_id)
        for hr_id in hr_ids:
            others = sorted(set(hr_ids) - {hr_id})
            if others:
                outcome.conflicts[hr_id] = (
                    f"matches account {account_id} by {key.value}, as do people {', '.join(others)}: resolve in HR"
                )
            elif owner is not None and owner != hr_id:
                outcome.conflicts[hr_id] = f"account {account_id} matched by {key.value} is linked to person {owner}"
            else:
                outcome.matched[hr_id] = account


async def match_people(
    find: FindAccounts, owners_of: LinkOwners, *, people: Mapping[str, DesiredState], keys: Sequence[MatchKey]
) -> MatchOutcome:
    """Match each person to at most one existing account, trying `keys` in order; values are compared trimmed
    and case-insensitively. People not found stay unmatched (to be created); conflicts are reported, never
    guessed: one person matching several accounts, several people matching one, or an account already linked
    (or matched by an earlier key) to someone else. The look-ups are handed in, so this wing never touches storage.
    """
    outcome = MatchOutcome()
    pending = dict(people)
    for key in keys:
        values = {hr_id: v for hr_id, d in pending.items() if (v := _value(d, key))}
        if not values:
            continue
        found = await find(key.value, sorted(set(values.values())))
        claims = _claims(values, found, key, outcome)
        owners = await owners_of(sorted(claims))
        _settle(claims, found, owners, key, outcome)
        for hr_id in values:
            if hr_id in outcome.matched or hr_id in outcome.conflicts:
                pending.pop(hr_id)
    return outcome
