"""Step one of a run: stream persons from the source, page by page, into the links' person snapshots."""

from __future__ import annotations

from dataclasses import dataclass, field

from enrolsync.connectors.base import Capability, Cursor
from enrolsync.connectors.model import Person
from enrolsync.sync.run.context import RunContext, Runtime
from enrolsync.sync.store import ledger, repo
from enrolsync.sync.store.tables import Run


@dataclass
class ReadResult:
    """What the read saw: hr_ids read, hr_ids the source removed, managers whose reports changed, the cursor."""

    seen: set[str] = field(default_factory=set)
    removed: set[str] = field(default_factory=set)
    managers: set[str] = field(default_factory=set)
    cursor: str | None = None
    full: bool = True


async def _start_cursor(rt: Runtime, ctx: RunContext) -> Cursor | None:
    # A source that cannot read changes only (a file export, a report) answers every read with everyone: an
    # "incremental" run of it is a full read, and must count as one, or its leavers would never be noticed.
    if ctx.scope != "incremental" or Capability.PERSONS_INCREMENTAL not in ctx.source.cls.info.capabilities:
        return None
    async with rt.sessions() as session:
        cursor = await repo.get_checkpoint(session, pipeline_id=ctx.pipeline_id)
    return Cursor(cursor) if cursor else None


async def _store_page(rt: Runtime, ctx: RunContext, persons: list[Person], result: ReadResult) -> None:
    async with rt.sessions() as session:
        before = await repo.get_links(session, pipeline_id=ctx.pipeline_id, hr_ids=[p.hr_id for p in persons])
        for person in persons:
            # A manager change moves the manager role's scope: both the old and the new manager are re-planned.
            old = before.get(person.hr_id)
            old_manager = (old.person or {}).get("manager_hr_id") if old else None
            result.managers.update(m for m in (old_manager, person.manager_hr_id) if m)
        snapshots = {p.hr_id: p.model_dump(mode="json") for p in persons}
        await ledger.upsert_persons(session, pipeline_id=ctx.pipeline_id, persons=snapshots)
        run = await session.get(Run, ctx.run_id)
        if run is not None:
            run.people_read += len(persons)
            session.add(run)
        await session.commit()


async def read_source(rt: Runtime, ctx: RunContext) -> ReadResult:
    """Read the run's scope from the source and store each person as last read. Constant memory per page."""
    since = await _start_cursor(rt, ctx)
    wanted = set(ctx.hr_ids) if ctx.scope == "people" else None
    result = ReadResult(full=since is None and wanted is None)
    by_id = wanted is not None and Capability.PERSONS_BY_ID in ctx.source.cls.info.capabilities
    async with rt.clients.connector(
        ctx.source.cls, ctx.source.config, connection_id=ctx.source.connection_id
    ) as source:
        # A person-scoped run (a webhook's) reads just its people where the source can; else everyone, filtered.
        pages = source.read_people(sorted(wanted or ())) if by_id else source.read_persons(since)
        async for page in pages:
            persons = [p for p in page.items if wanted is None or p.hr_id in wanted]
            if persons:
                await _store_page(rt, ctx, persons, result)
            result.seen.update(p.hr_id for p in persons)
            result.removed.update(r for r in page.removed if wanted is None or r in wanted)
            if not by_id:
                result.cursor = page.checkpoint
    if wanted is not None:
        # A named person the source did not return is gone from it.
        result.removed |= wanted - result.seen
    return result
