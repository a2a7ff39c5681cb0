"""Ops -> an ordered plan, cut into batches, checked by the deactivation guard (pure).

Order: accounts first (create, reactivate, update) so later ops have an account to act on; then roles, groups
and SSO identities before enrolments, so a course sees the account's final role and sign-in; removals at the end,
in reverse, and deactivations last, so a suspended account is never edited.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import groupby

from pydantic import BaseModel, ConfigDict

from enrolsync.connectors.ops import Op, OpKind
from enrolsync.sync.rules.policy import DeactivationGuard

ORDER: tuple[OpKind, ...] = (
    OpKind.CREATE_USER,
    OpKind.REACTIVATE_USER,
    OpKind.UPDATE_USER,
    OpKind.ASSIGN_ROLE,
    OpKind.ADD_TO_GROUP,
    OpKind.SET_SSO_IDENTITY,
    OpKind.ENROL,
    OpKind.UNENROL,
    OpKind.REVOKE_ROLE,
    OpKind.REMOVE_FROM_GROUP,
    OpKind.DEACTIVATE_USER,
)
_RANK = {kind: rank for rank, kind in enumerate(ORDER)}


class Plan(BaseModel):
    """An ordered list of ops; stored as reviewed so a dry run can be applied exactly."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    ops: tuple[Op, ...] = ()

    def counts(self) -> dict[OpKind, int]:
        """How many ops of each kind, for run counters and the dry-run summary."""
        return dict(Counter(op.kind for op in self.ops))


def build_plan(ops: Iterable[Op]) -> Plan:
    """Order ops by kind (see `ORDER`), keeping the given order within a kind.

    Raises:
        ValueError: two ops have the same `key` (the same effect planned twice, e.g. a person diffed twice).
    """
    ordered = sorted(ops, key=lambda op: _RANK[op.kind])
    seen: set[str] = set()
    for op in ordered:
        if op.key in seen:
            raise ValueError(f"effect planned twice: {op.key}")
        seen.add(op.key)
    return Plan(ops=tuple(ordered))


@dataclass(frozen=True)
class Batch:
    """Consecutive ops of one kind that go to the target in one `apply` call."""

    kind: OpKind
    ops: tuple[Op, ...]


def batches(plan: Plan, batch_limits: Mapping[OpKind, int]) -> list[Batch]:
    """Cut runs of consecutive same-kind ops into batches of at most the kind's limit.

    Args:
        plan: the ordered plan.
        batch_limits: the target's `ConnectorInfo.batch_limits`; a kind absent (or limited to 1 or less) goes
            one op per batch.
    """
    cut: list[Batch] = []
    for kind, group in groupby(plan.ops, key=lambda op: op.kind):
        run = tuple(group)
        size = max(batch_limits.get(kind, 1), 1)
        cut += [Batch(kind=kind, ops=run[start : start + size]) for start in range(0, len(run), size)]
    return cut


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
    """The deletion guard: may a run deactivate these people without an admin's approval?

    Blocked when the run deactivates more than the pipeline allows (`DeactivationGuard.allowed`), when it would
    deactivate every active account (two or more), or when a full read found nobody at all: an HR system that
    answers an empty or truncated list must never switch everyone off, however small the pipeline.

    Args:
        hr_ids: the people the run would deactivate.
        linked_accounts: accounts the pipeline links before this run (active or not).
        active_accounts: of those, the ones last left active.
        guard: the pipeline's threshold.
        source_empty: a full read of the source returned nobody.
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


def guard(
    plan: Plan, *, linked_accounts: int, guard: DeactivationGuard, active_accounts: int | None = None
) -> GuardVerdict:
    """`check_deactivations` for a whole plan (`active_accounts` defaults to `linked_accounts`).

    Returns:
        The verdict; `hr_ids` lists the people to be deactivated (sorted), blocked or not, so an admin can
        review them before approving.
    """
    hr_ids = [op.hr_id for op in plan.ops if op.kind is OpKind.DEACTIVATE_USER]
    active = linked_accounts if active_accounts is None else active_accounts
    return check_deactivations(hr_ids, linked_accounts=linked_accounts, active_accounts=active, guard=guard)
