"""Storing progress readings (issue 16): a full read replaces, a scheduled read merges and drops nothing, and no
reading overwrites one a newer read stored; a merge gives way to a full read that started after it and finished
first (it may have dropped enrolments the older reading still lists)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from enrolsync.sync.store import repo_progress, repo_progress_reads
from enrolsync.sync.store.repo_progress import Reading
from tests.support.database import Database
from tests.support.harness import Engine, make_engine

pytestmark = pytest.mark.usefixtures("cleanup_datasets")

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def reading(hr_id: str, course: str, state: str = "not_started") -> Reading:
    return Reading(hr_id=hr_id, course_id=course, account_id=f"u-{hr_id}", state=state)


async def save(engine: Engine, readings: list[Reading], *, at: datetime, merge: bool) -> repo_progress.Saved:
    async with engine.db.sessions() as session:
        saved = await repo_progress.save_readings(
            session, pipeline_id=engine.pipeline_id, readings=readings, now=at, merge=merge
        )
        await session.commit()
        return saved


async def states(engine: Engine) -> dict[tuple[str, str], str]:
    async with engine.db.sessions() as session:
        found = await repo_progress.progress_of(session, pipeline_id=engine.pipeline_id)
    return {(row.hr_id, row.course_id): row.state for rows in found.values() for row in rows}


async def test_a_full_read_replaces_and_a_merge_drops_nothing(db: Database) -> None:
    engine = await make_engine(db)
    await save(engine, [reading("A", "C1"), reading("A", "C2"), reading("B", "C1")], at=T0, merge=False)

    merged = await save(engine, [reading("A", "C1", "completed")], at=T0 + timedelta(hours=1), merge=True)
    assert (merged.seen, merged.changed, merged.completed, merged.dropped) == (1, 1, 1, 0)
    assert await states(engine) == {("A", "C1"): "completed", ("A", "C2"): "not_started", ("B", "C1"): "not_started"}

    replaced = await save(engine, [reading("A", "C1", "completed")], at=T0 + timedelta(hours=2), merge=False)
    assert replaced.dropped == 2  # B left, A's C2 enrolment was removed
    assert await states(engine) == {("A", "C1"): "completed"}


async def test_a_reading_never_overwrites_a_newer_one(db: Database) -> None:
    engine = await make_engine(db)
    await save(engine, [reading("A", "C1", "completed"), reading("A", "C2")], at=T0 + timedelta(hours=1), merge=False)

    # A read that started earlier but stores later (it overlapped the newer one) finds A's rows newer than itself.
    late = await save(engine, [reading("A", "C1", "in_progress"), reading("B", "C1")], at=T0, merge=True)
    assert await states(engine) == {("A", "C1"): "completed", ("A", "C2"): "not_started", ("B", "C1"): "not_started"}
    assert (late.seen, late.new) == (1, 1)
    # Nor does an older full read drop a row a newer read stored.
    await save(engine, [reading("B", "C1")], at=T0 - timedelta(hours=1), merge=False)
    assert ("A", "C1") in await states(engine)


async def test_the_resume_point_and_a_full_read_that_overtook_a_merge(db: Database) -> None:
    engine = await make_engine(db)
    async with db.sessions() as session:
        assert await repo_progress_reads.resume_point(session, pipeline_id=engine.pipeline_id) is None
        scheduled = await repo_progress_reads.start(
            session, pipeline_id=engine.pipeline_id, kind="scheduled", since=None, now=T0
        )
        full = await repo_progress_reads.start(
            session, pipeline_id=engine.pipeline_id, kind="full", since=None, now=T0 + timedelta(minutes=1)
        )
        # Neither finished: nothing to resume from, nothing overtook the scheduled read yet.
        assert await repo_progress_reads.resume_point(session, pipeline_id=engine.pipeline_id) is None
        assert not await repo_progress_reads.full_read_after(session, pipeline_id=engine.pipeline_id, after=T0)
        await repo_progress_reads.finish(session, full.id, now=T0 + timedelta(minutes=2))
        await session.commit()
        assert await repo_progress_reads.full_read_after(session, pipeline_id=engine.pipeline_id, after=T0)
        assert await repo_progress_reads.resume_point(session, pipeline_id=engine.pipeline_id) == full.started_at
        await repo_progress_reads.finish(session, scheduled.id, now=T0 + timedelta(minutes=3), status="superseded")
        await session.commit()
        assert await repo_progress_reads.resume_point(session, pipeline_id=engine.pipeline_id) == full.started_at


async def test_a_read_saved_a_page_of_people_at_a_time_gives_what_one_page_gives(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pages of 2 people (and of 3 stored people for those no longer listed) store and count as one page would."""
    monkeypatch.setattr(repo_progress, "_IN_CHUNK", 2)
    monkeypatch.setattr(repo_progress, "_PEOPLE_PAGE", 3)
    engine = await make_engine(db)
    people = [f"P{n:02d}" for n in range(9)]
    first = await save(engine, [reading(p, c) for p in people for c in ("C1", "C2")], at=T0, merge=False)
    assert (first.seen, first.new, first.dropped) == (18, 18, 0)

    # P00-P03 left, everyone kept C1 only, P05 completed it (its readings arrive out of person order).
    kept = [reading(p, "C1", "completed" if p == "P05" else "not_started") for p in reversed(people[4:])]
    again = await save(engine, kept, at=T0 + timedelta(hours=1), merge=False)
    assert (again.seen, again.new, again.changed, again.completed, again.dropped) == (5, 0, 1, 1, 13)
    expected = {(p, "C1"): "completed" if p == "P05" else "not_started" for p in people[4:]}
    assert await states(engine) == expected
