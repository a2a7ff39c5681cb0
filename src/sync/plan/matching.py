"""First link: pair people without a link to accounts the target already has, once, by the match keys in order.

Two people matching one account, one person matching several, or an account already linked to someone else is
a conflict: reported on the person, never guessed.

Identifiers are compared after NFKC normalisation and case-folding on both sides, so no spelling of a value hides
an account from its person. A pair that is equal only after that folding (the Kelvin sign U+212A for `k`,
full-width letters, `ß` for `ss`) is two strings a person reads as different mailboxes or logins, and is
reported as a lookalike conflict rather than linked: linking would hand one person's account to another.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from enrolsync.connectors.model import Account
from enrolsync.sync.rules.desired import DesiredState
from enrolsync.sync.rules.identifiers import fold, lowered
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
    return value.strip() if value and value.strip() else None


def _account_value(account: Account, key: MatchKey) -> str | None:
    value = getattr(account.fields, key.value)
    return str(value).strip() if value and str(value).strip() else None


def _claims(
    values: Mapping[str, str], found: Sequence[Account], key: MatchKey, outcome: MatchOutcome
) -> dict[str, list[str]]:
    """account id -> the people whose `key` value it carries; people with several candidates are conflicts."""
    by_value: dict[str, list[Account]] = defaultdict(list)
    for account in found:
        if (v := _account_value(account, key)) is not None and account not in by_value[fold(v)]:
            by_value[fold(v)].append(account)
    claims: dict[str, list[str]] = defaultdict(list)
    for hr_id, value in values.items():
        candidates = by_value.get(fold(value), [])
        if len(candidates) > 1:
            ids = ", ".join(sorted(a.account_id for a in candidates))
            outcome.conflicts[hr_id] = (
                f"matches {len(candidates)} accounts by {key.value} ({ids}): resolve on the target"
            )
        elif candidates and lowered(value) != lowered(_account_value(candidates[0], key) or ""):
            outcome.conflicts[hr_id] = (
                f"{key.value} only looks like that of account {candidates[0].account_id} (it differs in "
                "characters that merely look alike): resolve in HR or on the target"
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
    """Match each person to at most one existing account, trying `keys` in order; values are compared trimmed,
    NFKC-normalised and case-folded on both sides. People not found stay unmatched (to be created); conflicts are
    reported, never guessed: one person matching several accounts, several people matching one, a lookalike of
    an account's value (equal only after NFKC and case-folding), or an account already linked (or matched by an
    earlier key) to someone else. The look-ups are handed in, so this wing never touches storage.
    """
    outcome = MatchOutcome()
    pending = dict(people)
    for key in keys:
        values = {hr_id: v for hr_id, d in pending.items() if (v := _value(d, key))}
        if not values:
            continue
        # Both spellings are looked up: the target may compare as written, and the folded form finds lookalikes.
        found = await find(
            key.value, sorted({lowered(v) for v in values.values()} | {fold(v) for v in values.values()})
        )
        claims = _claims(values, found, key, outcome)
        owners = await owners_of(sorted(claims))
        _settle(claims, found, owners, key, outcome)
        for hr_id in values:
            if hr_id in outcome.matched or hr_id in outcome.conflicts:
                pending.pop(hr_id)
    return outcome
