"""Enrolment progress as the target last reported it (issue 16): written by full runs, read by team views.

One row per (pipeline, person, course). A full read replaces the pipeline's rows: rows of enrolments the target no
longer reports are dropped. A scheduled (incremental) read merges: it updates and adds rows, never drops one.
Either way `changed_at` moves only when the state changes, `first_seen_at` never does, and a reading never
overwrites a row a newer read stored (`read_at`, the start of the read that stored it, is later than this
read's start): a read that overlapped another cannot put older news over newer.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from enrolsync.sync.store.tables import EnrolmentProgress, utcnow

_IN_CHUNK = 500


@dataclass(frozen=True)
class Reading:
    """One enrolment's progress as read, keyed to the person it belongs to."""

    hr_id: str
    course_id: str
    account_id: str
    state: str
    percent: float | None = None
    completed_at: datetime | None = None
    last_activity_at: datetime | None = None


DueFor = Callable[[Reading, date], tuple[date | None, bool]]
"""An enrolment's due date and whether it recurs, given the reading and the day it was first seen."""


@dataclass(frozen=True)
class Saved:
    """What a read changed: rows written fresh, rows whose state changed, rows dropped, completions new."""

    seen: int
    new: int
    changed: int
    dropped: int
    completed: int


async def save_readings(
    session: AsyncSession,
    *,
    pipeline_id: str,
    readings: Sequence[Reading],
    due_for: DueFor | None = None,
    now: datetime | None = None,
    merge: bool = False,
) -> Saved:
    """Store `readings`, each with the due date `due_for` gives it; `now` is when the read started. A full read
    (`merge=False`) replaces the pipeline's stored progress; a merge (an incremental read) drops nothing. Rows a
    newer read stored are left as they are. The caller commits."""
    at = now or utcnow()
    stored = {
        (row.hr_id, row.course_id): row
        for row in (
            await session.exec(select(EnrolmentProgress).where(col(EnrolmentProgress.pipeline_id) == pipeline_id))
        ).all()
    }
    new = changed = completed = 0
    newer = {key for key, row in stored.items() if row.read_at > at}
    seen = 0
    for reading in readings:
        key = (reading.hr_id, reading.course_id)
        if key in newer:
            continue  # a read that started after this one stored it: its news is newer
        seen += 1
        row = stored.pop(key, None)
        if row is None:
            new += 1
            row = EnrolmentProgress(
                pipeline_id=pipeline_id,
                hr_id=reading.hr_id,
                course_id=reading.course_id,
                account_id=reading.account_id,
                state=reading.state,
                first_seen_at=at,
                changed_at=at,
            )
            completed += reading.state == "completed"
        elif row.state != reading.state:
            changed += 1
            completed += reading.state == "completed"
            row.changed_at = at
        row.account_id, row.state, row.percent = reading.account_id, reading.state, reading.percent
        row.completed_at, row.last_activity_at = reading.completed_at, reading.last_activity_at
        row.due_on, row.due_recurs = due_for(reading, row.first_seen_at.date()) if due_for else (None, False)
        row.read_at = at
        session.add(row)
    dropped = [row for key, row in stored.items() if key not in newer] if not merge else []
    for row in dropped:
        await session.delete(row)
    return Saved(seen=seen, new=new, changed=changed, dropped=len(dropped), completed=completed)


async def progress_of(
    session: AsyncSession, *, pipeline_id: str, hr_ids: Collection[str] | None = None
) -> dict[str, list[EnrolmentProgress]]:
    """Stored progress by hr_id (of everyone, or of `hr_ids`), each person's courses in id order."""
    base = select(EnrolmentProgress).where(col(EnrolmentProgress.pipeline_id) == pipeline_id)
    base = base.order_by(col(EnrolmentProgress.hr_id), col(EnrolmentProgress.course_id))
    found: dict[str, list[EnrolmentProgress]] = {}
    if hr_ids is None:
        chunks: list[sa.ColumnElement[bool] | None] = [None]
    else:
        wanted = sorted(set(hr_ids))
        chunks = [
            col(EnrolmentProgress.hr_id).in_(wanted[offset : offset + _IN_CHUNK])
            for offset in range(0, len(wanted), _IN_CHUNK)
        ]
    for where in chunks:
        stmt = base if where is None else base.where(where)
        for row in (await session.exec(stmt)).all():
            found.setdefault(row.hr_id, []).append(row)
    return found
