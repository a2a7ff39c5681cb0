"""Plan order and batches (pure): how a run's ops are numbered so the executor reads them back in plan order, and
how consecutive ops of one kind are cut into batches to the target's limits.

Order: accounts first (create, reactivate, update) so later ops have an account to act on; then roles, groups
and SSO identities before enrolments, so a course sees the account's final role and sign-in; removals at the end,
in reverse, and deactivations and deletions last, so a suspended account is never edited and a manager's role
over a deleted report is revoked while the report's account still exists.

The planner never holds a run's whole plan: it stores ops chunk by chunk of people, each numbered by `PlanOrder`,
and the executor reads them back by number (`ORDER BY seq`), which is plan order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from itertools import groupby
from typing import TypeVar

from enrolsync.connectors.ops import Op, OpKind

ORDER: tuple[OpKind, ...] = (
    OpKind.CREATE_USER,
    OpKind.REACTIVATE_USER,
    OpKind.UPDATE_USER,
    OpKind.ASSIGN_ROLE,
    OpKind.ADD_TO_GROUP,
    OpKind.SET_SSO_IDENTITY,
    OpKind.ENROL,
    OpKind.SET_DUE_DATE,
    OpKind.UNENROL,
    OpKind.REVOKE_ROLE,
    OpKind.REMOVE_FROM_GROUP,
    OpKind.DEACTIVATE_USER,
    OpKind.DELETE_USER,
)
RANK = {kind: rank for rank, kind in enumerate(ORDER)}
SEQ_BAND = 10_000_000  # numbers per kind per run: len(ORDER) bands stay within a 32-bit integer column

Item = TypeVar("Item")


@dataclass
class PlanOrder:
    """Numbers a run's ops, chunk by chunk, so that sorting by number gives plan order (see `ORDER`).

    Each kind owns a band of numbers (`rank * band + 1`, `+ 2`, ...): an op planned for the last person of a run
    still sorts before every op of a later kind, and all the planner keeps is one counter per kind. Within a kind,
    ops keep the order they were numbered in.
    """

    band: int = SEQ_BAND
    _last: dict[OpKind, int] = field(default_factory=dict)

    def number(self, ops: Iterable[Op]) -> list[tuple[int, Op]]:
        """Give each op its number, in the order given; `sorted()` of the result is the ops in plan order.

        Pass a chunk's ops together: keys carry the person's hr_id and a person is planned in one chunk, so an
        effect planned twice within a run is caught here.

        Raises:
            ValueError: two of `ops` have the same `key` (the same effect planned twice, e.g. a person diffed
                twice), or a kind has more ops than its band holds.
        """
        numbered: list[tuple[int, Op]] = []
        keys: set[str] = set()
        for op in ops:
            if op.key in keys:
                raise ValueError(f"effect planned twice: {op.key}")
            keys.add(op.key)
            last = self._last.get(op.kind, 0) + 1
            if last >= self.band:
                raise ValueError(f"more than {self.band - 1} {op.kind.value} ops in one run")
            self._last[op.kind] = last
            numbered.append((RANK[op.kind] * self.band + last, op))
        return numbered


def batches(items: Iterable[Item], limits: Mapping[OpKind, int], *, kind: Callable[[Item], OpKind]) -> list[list[Item]]:
    """Cut runs of consecutive same-kind items (ops, or the rows holding them) into batches of at most the kind's
    limit, keeping their order.

    Args:
        items: in plan order.
        limits: the target's `ConnectorInfo.batch_limits`; a kind absent (or limited to 1 or less) goes one per
            batch.
        kind: each item's op kind.
    """
    cut: list[list[Item]] = []
    for op_kind, group in groupby(items, key=kind):
        run = list(group)
        size = max(limits.get(op_kind, 1), 1)
        cut += [run[start : start + size] for start in range(0, len(run), size)]
    return cut


def waves(
    cut: Iterable[list[Item]], *, width: int, kind: Callable[[Item], OpKind], person: Callable[[Item], str]
) -> list[list[list[Item]]]:
    """Group consecutive batches into waves the executor sends at the same time, keeping plan order between waves.

    A wave holds at most `width` batches, all of one kind (so every create is answered before any enrolment is
    sent), and no person in two of its batches: each batch records its outcomes on its people's links, and two
    concurrent batches writing one link would lose one of the writes.
    """
    grouped: list[list[list[Item]]] = []
    people: set[str] = set()
    for batch in cut:
        mine = {person(item) for item in batch}
        current = grouped[-1] if grouped else None
        if (
            current is None
            or len(current) >= max(width, 1)
            or kind(current[0][0]) != kind(batch[0])
            or not people.isdisjoint(mine)
        ):
            grouped.append([batch])
            people = set(mine)
        else:
            current.append(batch)
            people |= mine
    return grouped
