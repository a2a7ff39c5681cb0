"""Planner statistics for the tables a run grows by thousands of rows (PostgreSQL only; SQLite needs none).

PostgreSQL chooses its plans from each table's statistics, which only ANALYZE (autovacuum's, when it is on, about a
minute later) brings up to date. The engine's per-chunk queries ask for a few hundred rows of one pipeline or run
(`pipeline_id = ? AND hr_id IN (...)`, the next `planned` ops in `seq` order); with statistics older than the rows,
say a link table that grew from nothing during this run's read, or a run id absent from them, PostgreSQL expects a
handful of matches and reads every link of the pipeline, or every op of the run left, per chunk: an initial sync of
100,000 people then costs the square of its size. So the engine analyzes these tables itself where it has just
written many of their rows (after each page read, after planning), as autovacuum would, but in time.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

# The tables a run writes by the thousand and then reads a chunk at a time, each with its statement written out
# (ANALYZE takes an identifier, not a bound parameter, and no SQL here is built from strings).
_ANALYZE = {"link": sa.text("ANALYZE link"), "runop": sa.text("ANALYZE runop")}
RUN_TABLES = tuple(_ANALYZE)
# Analyze a table once this many of its rows changed since its last ANALYZE, and as many as it held then (it
# doubled), but always after `ANALYZE_CAP`: a run id or pipeline new to the statistics is analyzed before its
# chunked reads cost much, and a large table is not sampled again for every page of a read.
ANALYZE_FLOOR = 2_000
ANALYZE_CAP = 20_000

# The counters behind `pg_stat_user_tables`, read for just these tables (the view computes them for every table).
_CHANGED = sa.text(
    "SELECT relname, pg_stat_get_mod_since_analyze(oid), reltuples FROM pg_class "
    "WHERE oid IN (SELECT to_regclass(name) FROM unnest(CAST(:tables AS text[])) AS name)"
)


def stale(changed: int, rows: float) -> bool:
    """Whether a table with `changed` rows written since its last ANALYZE, which counted `rows` (-1 if never
    analyzed), needs one now."""
    return changed >= max(ANALYZE_FLOOR, min(rows, ANALYZE_CAP))


async def refresh(session: AsyncSession, tables: tuple[str, ...] = RUN_TABLES) -> list[str]:
    """ANALYZE those of `tables` that changed much since their statistics were taken, and commit; returns their
    names. Statistics are counted after commits (about a second late), so call this after committing the rows."""
    if session.get_bind().dialect.name != "postgresql":
        return []
    connection = await session.connection()
    found = (await connection.execute(_CHANGED, {"tables": list(tables)})).all()
    names = sorted(
        name
        for name, changed, rows in found
        if name in tables and name in _ANALYZE and stale(int(changed), float(rows))
    )
    for name in names:
        await connection.execute(_ANALYZE[name])
    await session.commit()
    return names
