"""Step two of a run: desired state for each person in scope, first links, and the diff stored as planned ops.

Works in chunks of people so memory stays flat; ops are numbered so that reading them back by `seq` gives the
plan order of `plan.ORDER` (creates first, deactivations last) without holding the whole plan in memory.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from enrolsync.connectors.model import Person, PersonStatus
from enrolsync.sync.context import RunContext, Runtime
from enrolsync.sync.desired import DesiredState
from enrolsync.sync.diff import LinkedState, diff, observed
from enrolsync.sync.evaluate import InvalidPerson, desired_state
from enrolsync.sync.matching import match_people
from enrolsync.sync.plan import ORDER
from enrolsync.sync.reading import ReadResult
from enrolsync.sync.store import ledger, repo
from enrolsync.sync.store.tables import Link, utcnow

SEQ_BAND = 10_000_000  # ops of one kind per run; rank * band stays within a 32-bit integer column
RANK = {kind: rank for rank, kind in enumerate(ORDER)}


@dataclass
class PlanSummary:
    ops: int = 0
    invalid: int = 0
    conflicts: int = 0
    deactivations: int = 0
    next_seq: dict[int, int] = field(default_factory=lambda: defaultdict(int))

    def seq(self, kind: Any) -> int:
        rank = RANK[kind]
        self.next_seq[rank] += 1
        return rank * SEQ_BAND + self.next_seq[rank]


async def _org(rt: Runtime, ctx: RunContext) -> tuple[dict[str, set[str]], set[str]]:
    """Direct reports of every manager (from the persons as last read) and every linked hr_id."""
    reports: dict[str, set[str]] = defaultdict(set)
    everyone: set[str] = set()
    async with rt.sessions() as session:
        async for hr_id, _account_id, person in ledger.stream_people(session, pipeline_id=ctx.pipeline_id):
            everyone.add(hr_id)
            manager = (person or {}).get("manager_hr_id")
            if manager and (person or {}).get("status") != PersonStatus.TERMINATED:
                reports[manager].add(hr_id)
    return reports, everyone


def _in_scope(ctx: RunContext, read: ReadResult, everyone: set[str]) -> list[str]:
    if read.full:
        return sorted(everyone)
    return sorted((read.seen | read.removed | read.managers) & everyone)


def _fail(link: Link, reason: str) -> None:
    link.last_error = reason
    link.last_error_at = utcnow()


def _desired(ctx: RunContext, rt: Runtime, link: Link, gone: bool, reports: set[str]) -> DesiredState | None:
    if gone or not link.person:
        return None
    person = Person.model_validate(link.person)
    return desired_state(person, ctx.spec, direct_reports=frozenset(reports), today=rt.today())


async def _plan_chunk(
    rt: Runtime,
    ctx: RunContext,
    target: Any,
    hr_ids: list[str],
    gone: set[str],
    reports: dict[str, set[str]],
    summary: PlanSummary,
) -> None:
    async with rt.sessions() as session:
        links = await repo.get_links(session, pipeline_id=ctx.pipeline_id, hr_ids=hr_ids)
        wanted: dict[str, DesiredState | None] = {}
        for hr_id in hr_ids:
            link = links[hr_id]
            try:
                wanted[hr_id] = _desired(ctx, rt, link, hr_id in gone, reports.get(hr_id, set()))
            except InvalidPerson as error:
                summary.invalid += 1
                _fail(link, str(error))
                session.add(link)
        unlinked = {h: d for h, d in wanted.items() if d is not None and d.active and links[h].account_id is None}
        matches = await match_people(
            target, session, pipeline_id=ctx.pipeline_id, people=unlinked, keys=ctx.spec.match_keys
        )
        for hr_id, account in matches.matched.items():
            links[hr_id].account_id = account.account_id
            links[hr_id].applied = observed(hr_id, account).model_dump(mode="json")
            session.add(links[hr_id])
        for hr_id, reason in matches.conflicts.items():
            summary.conflicts += 1
            _fail(links[hr_id], reason)
            session.add(links[hr_id])
            wanted.pop(hr_id)
        rows: list[tuple[int, str, str, dict[str, Any]]] = []
        for hr_id, desired in wanted.items():
            link = links[hr_id]
            if link.last_error is not None:
                link.last_error = None  # planned afresh: this run's outcome is what counts now
                session.add(link)
            applied = DesiredState.model_validate(link.applied) if link.account_id and link.applied else None
            state = LinkedState(account_id=link.account_id, applied=applied) if applied else None
            for op in diff(desired, state, policy=ctx.spec.policies):
                rows.append((summary.seq(op.kind), hr_id, op.kind.value, op.model_dump(mode="json")))
                summary.deactivations += op.kind == "deactivate_user"
        summary.ops += len(rows)
        await ledger.add_ops(session, run_id=ctx.run_id, ops=rows)
        await session.commit()


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    return (items[i : i + size] for i in range(0, len(items), size))


async def plan_run(rt: Runtime, ctx: RunContext, read: ReadResult) -> PlanSummary:
    """Compute and store the run's ops. People missing from a full read count as gone (the guard watches)."""
    reports, everyone = await _org(rt, ctx)
    scope = _in_scope(ctx, read, everyone)
    gone = set(read.removed) | ((everyone - read.seen) if read.full else set())
    summary = PlanSummary()
    async with rt.clients.connector(ctx.target.cls, ctx.target.config) as target:
        for hr_ids in _chunks(scope, rt.chunk):
            await _plan_chunk(rt, ctx, target, hr_ids, gone, reports, summary)
    return summary
