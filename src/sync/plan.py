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
from enrolsync.sync.policy import DeactivationGuard

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
    """Whether a plan may run without an admin's approval, and the people it would deactivate."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    blocked: bool
    deactivations: int
    allowed: int
    hr_ids: tuple[str, ...] = ()


def guard(plan: Plan, *, linked_accounts: int, guard: DeactivationGuard) -> GuardVerdict:
    """Block a plan that deactivates more accounts than the pipeline's guard allows.

    Args:
        plan: the plan to check.
        linked_accounts: how many accounts the pipeline has linked before this run.
        guard: the pipeline's threshold.

    Returns:
        The verdict; `hr_ids` lists the people to be deactivated (sorted), blocked or not, so an admin can
        review them before approving.
    """
    hr_ids = tuple(sorted({op.hr_id for op in plan.ops if op.kind is OpKind.DEACTIVATE_USER}))
    allowed = guard.allowed(linked_accounts)
    return GuardVerdict(blocked=len(hr_ids) > allowed, deactivations=len(hr_ids), allowed=allowed, hr_ids=hr_ids)
