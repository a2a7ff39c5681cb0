"""The deletion guard (pure): may a run deactivate these people without an admin's approval?"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict

from enrolsync.sync.rules.policy import DeactivationGuard


class GuardVerdict(BaseModel):
    """Whether a plan may run without an admin's approval, why not, and the people it would deactivate."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    blocked: bool
    deactivations: int
    allowed: int
    hr_ids: tuple[str, ...] = ()
    reason: str | None = None


def check_deactivations(
    hr_ids: Iterable[str],
    *,
    linked_accounts: int,
    active_accounts: int,
    guard: DeactivationGuard,
    source_empty: bool = False,
) -> GuardVerdict:
    """The deletion guard's verdict on the people a run would deactivate.

    Blocked when the run deactivates more than the pipeline allows (`DeactivationGuard.allowed`), when it would
    deactivate every active account (two or more), or when a full read found nobody at all: an HR system that
    answers an empty or truncated list must never switch everyone off, however small the pipeline.

    Args:
        hr_ids: the people the run would deactivate.
        linked_accounts: accounts the pipeline links before this run (active or not).
        active_accounts: of those, the ones last left active.
        guard: the pipeline's threshold.
        source_empty: a full read of the source returned nobody.

    Returns:
        The verdict; `hr_ids` lists the people to be deactivated (sorted, once each), blocked or not, so an admin
        can review them before approving.
    """
    people = tuple(sorted(set(hr_ids)))
    count, allowed = len(people), guard.allowed(linked_accounts)
    reason = None
    if count > allowed:
        reason = f"the run would deactivate {count} accounts; the pipeline allows {allowed} without approval"
    elif count >= 2 and count >= active_accounts:
        reason = f"the run would deactivate every active account ({count})"
    elif count and source_empty:
        reason = "the HR system returned nobody: deactivating on an empty answer needs approval"
    return GuardVerdict(blocked=reason is not None, deactivations=count, allowed=allowed, hr_ids=people, reason=reason)
