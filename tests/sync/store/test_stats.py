"""Planner statistics: the engine analyzes a table it grew by thousands of rows (PostgreSQL), and nothing on SQLite."""

from __future__ import annotations

import sqlalchemy as sa

from enrolsync.sync.store import ledger, repo, stats
from tests.support.database import Database


def test_a_table_is_stale_once_it_doubled_or_changed_by_the_cap() -> None:
    assert not stats.stale(stats.ANALYZE_FLOOR - 1, -1)  # never analyzed, but too small to matter
    assert stats.stale(stats.ANALYZE_FLOOR, -1)
    assert not stats.stale(4_999, 5_000) and stats.stale(5_000, 5_000)
    assert not stats.stale(stats.ANALYZE_CAP - 1, 10**6) and stats.stale(stats.ANALYZE_CAP, 10**6)


async def _analyzed(db: Database) -> bool:
    async with db.sessions() as s:
        query = sa.text("SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relname = 'link'")
        return bool((await (await s.connection()).execute(query)).scalar_one())


async def test_links_written_by_the_thousand_are_analyzed_once(db: Database) -> None:
    async with db.sessions() as s:
        hr = await repo.create_connection(s, name="hr", connector="memory-source", config={})
        lms = await repo.create_connection(s, name="lms", connector="memory-target", config={})
        pipeline = await repo.create_pipeline(s, name="p", source_id=hr.id, target_id=lms.id, spec={})
        await s.commit()
    persons = {str(n): {"hr_id": str(n)} for n in range(stats.ANALYZE_FLOOR + 10)}
    async with db.sessions() as s:
        await ledger.upsert_persons(s, pipeline_id=pipeline.id, persons=persons)
        if db.kind == "postgresql":
            # Counts reach the statistics views when the connection goes idle, at most a second apart: now.
            await (await s.connection()).execute(sa.text("SELECT pg_stat_force_next_flush()"))
        await s.commit()
    async with db.sessions() as s:
        done = await stats.refresh(s)
    if db.kind != "postgresql":
        assert done == []
        return
    assert done == ["link"] and await _analyzed(db)
    async with db.sessions() as s:
        assert await stats.refresh(s) == []  # nothing changed since
