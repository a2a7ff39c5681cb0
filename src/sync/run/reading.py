"""Step one of a run: stream persons from the source, page by page, into the links' person snapshots."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

from enrolsync.connectors.base import Capability, Cursor
from enrolsync.connectors.model import Person, Rejected
from enrolsync.sync.plan.fingerprint import digest
from enrolsync.sync.run.context import RunContext, Runtime
from enrolsync.sync.store import ledger, repo, stats
from enrolsync.sync.store.tables import Run

LISTED = 200  # rejected records a run lists at most (the count beside them is exact)


@dataclass
class ReadResult:
    """What the read saw: hr_ids read, hr_ids the source removed, managers whose reports changed, the cursor, and
    the records the source rejected (`kept`: the people they name stay as last read, not leavers)."""

    seen: set[str] = field(default_factory=set)
    removed: set[str] = field(default_factory=set)
    managers: set[str] = field(default_factory=set)
    cursor: str | None = None
    full: bool = True
    kept: set[str] = field(default_factory=set)
    rejected: list[dict[str, Any]] = field(default_factory=list)  # the first `LISTED`
    rejected_count: int = 0

    def reject(self, records: tuple[Rejected, ...]) -> None:
        self.kept.update(r.hr_id for r in records if r.hr_id)
        self.rejected_count += len(records)
        room = LISTED - len(self.rejected)
        self.rejected.extend(r.model_dump(mode="json") for r in records[: max(room, 0)])


def snapshot_source(ctx: RunContext) -> bool:
    """True when the run's source cannot read changes only (a file export, a report): every read is everyone."""
    return Capability.PERSONS_INCREMENTAL not in ctx.source.cls.info.capabilities


async def _start_cursor(rt: Runtime, ctx: RunContext) -> Cursor | None:
    # A source that cannot read changes only (a file export, a report) answers every read with everyone: an
    # "incremental" run of it is a full read, and must count as one, or its leavers would never be noticed. It is
    # handed its last checkpoint on every run all the same: a file source compares the new file with the last one
    # accepted (its header, its size) and refuses one that does not follow from it.
    if ctx.scope != "incremental" and not snapshot_source(ctx):
        return None
    async with rt.sessions() as session:
        cursor = await repo.get_checkpoint(session, pipeline_id=ctx.pipeline_id)
    return Cursor(cursor) if cursor else None


async def _store_page(rt: Runtime, ctx: RunContext, persons: list[Person], result: ReadResult) -> None:
    async with rt.sessions() as session:
        snapshots = {p.hr_id: p.model_dump(mode="json") for p in persons}
        digests = {hr_id: digest(snapshot) for hr_id, snapshot in snapshots.items()}
        # Only changed records are written; the managers of everyone read (before and after) are re-planned.
        result.managers.update(
            await ledger.store_persons(session, pipeline_id=ctx.pipeline_id, persons=snapshots, digests=digests)
        )
        run = await session.get(Run, ctx.run_id)
        if run is not None:
            run.people_read += len(persons)
            session.add(run)
        await session.commit()
        # An initial sync grows the links from nothing: without fresh statistics PostgreSQL would read every link
        # of the pipeline for each page's lookup (and the executor's), a cost that grows with the square of the size.
        await stats.refresh(session, ("link",))


async def read_source(rt: Runtime, ctx: RunContext) -> ReadResult:
    """Read the run's scope from the source and store each person as last read. Constant memory per page."""
    since = await _start_cursor(rt, ctx)
    wanted = set(ctx.hr_ids) if ctx.scope == "people" else None
    result = ReadResult(full=(since is None or snapshot_source(ctx)) and wanted is None)
    by_id = wanted is not None and Capability.PERSONS_BY_ID in ctx.source.cls.info.capabilities
    async with rt.clients.connector(ctx.source.cls, ctx.source.config, connection=ctx.source.connection_id) as source:
        # A person-scoped run (a webhook's) reads just its people where the source can; else everyone, filtered.
        pages = source.read_people(sorted(wanted or ())) if by_id else source.read_persons(since)
        async for page in pages:
            persons = [p for p in page.items if wanted is None or p.hr_id in wanted]
            if persons:
                await _store_page(rt, ctx, persons, result)
            # Interned: the same string objects as the org's (`Org.note`), so the two id sets share their strings.
            result.seen.update(sys.intern(p.hr_id) for p in persons)
            result.removed.update(r for r in page.removed if wanted is None or r in wanted)
            result.reject(page.rejected)
            if not by_id:
                result.cursor = page.checkpoint
    if wanted is not None:
        # A named person the source did not return is gone from it.
        result.removed |= wanted - result.seen
    return result
