"""First link: pair people without a link to accounts the target already has, once, by the match keys in order.

Two people matching one account, one person matching several, or an account already linked to someone else is
a conflict: reported on the person, never guessed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from enrolsync.connectors.model import Account
from enrolsync.sync.desired import DesiredState
from enrolsync.sync.policy import MatchKey
from enrolsync.sync.store import ledger


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


async def match_people(
    target: Any,
    session: AsyncSession,
    *,
    pipeline_id: str,
    people: Mapping[str, DesiredState],
    keys: Sequence[MatchKey],
) -> MatchOutcome:
    """Match each person to at most one existing account; people not found stay unmatched (to be created)."""
    outcome = MatchOutcome()
    pending = dict(people)
    for key in keys:
        values = {hr_id: v for hr_id, d in pending.items() if (v := _value(d, key))}
        if not values:
            continue
        found: Sequence[Account] = await target.find_accounts(field=key.value, values=sorted(set(values.values())))
        by_value: dict[str, list[Account]] = defaultdict(list)
        for account in found:
            if (v := _account_value(account, key)) is not None:
                by_value[v].append(account)
        claims: dict[str, list[str]] = defaultdict(list)
        for hr_id, value in values.items():
            candidates = by_value.get(value, [])
            if len(candidates) > 1:
                outcome.conflicts[hr_id] = f"{len(candidates)} accounts match by {key.value}"
                pending.pop(hr_id)
            elif candidates:
                claims[candidates[0].account_id].append(hr_id)
        owners = await ledger.account_owners(session, pipeline_id=pipeline_id, account_ids=sorted(claims))
        for account_id, hr_ids in claims.items():
            account = next(a for a in found if a.account_id == account_id)
            owner = owners.get(account_id)
            for hr_id in hr_ids:
                pending.pop(hr_id, None)
                if len(hr_ids) > 1:
                    outcome.conflicts[hr_id] = f"{len(hr_ids)} people match one account by {key.value}"
                elif owner is not None and owner != hr_id:
                    outcome.conflicts[hr_id] = f"the account matched by {key.value} is linked to person {owner}"
                else:
                    outcome.matched[hr_id] = account
    return outcome
