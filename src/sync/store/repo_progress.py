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
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from enrolsync.sync.store.tables import EnrolmentProgress, utcnow

_IN_CHUNK = 500
_PEOPLE_PAGE = 2000  # stored people walked at once for those a full read no longer lists


@dataclass(frozen=True, slots=True)  # a full read holds one per enrolment of the pipeline
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


_TABLE = EnrolmentProgress.__table__  # type: ignore[attr-defined]
# What a reading sets on its row; a row whose values all stand as read is left alone (one statement below moves
# `read_at` for every row at once).
_VALUES = ("account_id", "state", "percent", "completed_at", "last_activity_at", "due_on", "due_recurs", "changed_at")
_KEY = ("pipeline_id", "hr_id", "course_id")


def _bound(*names: str) -> dict[str, Any]:
    return {name: sa.bindparam(f"b_{name}", type_=_TABLE.c[name].type) for name in names}


def _by_key() -> Any:
    return sa.and_(*(_TABLE.c[name] == sa.bindparam(f"b_{name}", type_=_TABLE.c[name].type) for name in _KEY))


_UPDATE = sa.update(_TABLE).where(_by_key()).values(**_bound(*_VALUES))
_DELETE = sa.delete(_TABLE).where(_by_key())
_READ_AT = sa.update(_TABLE).where(_by_key()).values(**_bound("read_at"))


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
    newer read stored are left as they are. The caller commits.

    Set-based and paged by person: for each `_IN_CHUNK` people read, one SELECT of their stored rows, then an
    executemany each for their new, changed and dropped rows; then (a full read) the rows of people the read did
    not list are deleted a page of people at a time, and one statement moves `read_at`. An unchanged enrolment
    costs a comparison, not a write, and memory holds one page of stored rows, not the pipeline's (at 100,000
    people every stored row at once was ~100 MB, and the peak of the run).
    """
    at = now or utcnow()
    connection = await session.connection()
    page = _Page(connection, pipeline_id, at, due_for, merge)
    ordered = sorted(readings, key=_person)  # a person's readings side by side: they are compared in one page
    start = 0
    while start < len(ordered):
        people: set[str] = set()
        end = start
        while end < len(ordered) and (len(people) < _IN_CHUNK or ordered[end].hr_id in people):
            people.add(ordered[end].hr_id)
            end += 1
        await page.save(people, ordered[start:end])
        start = end
    if not merge:
        await page.drop_unlisted({reading.hr_id for reading in ordered})
        # Every row left is one this read saw, or one a newer read stored.
        await connection.execute(
            sa.update(_TABLE).where(_TABLE.c.pipeline_id == pipeline_id, _TABLE.c.read_at <= at).values(read_at=at)
        )
    return page.saved()


def _person(reading: Reading) -> str:
    return reading.hr_id


_COLUMNS = [_TABLE.c[name] for name in ("hr_id", "course_id", "first_seen_at", "read_at", *_VALUES)]


@dataclass
class _Page:
    """One `save_readings` call's writes, a page of people at a time, and its counts so far."""

    connection: AsyncConnection
    pipeline_id: str
    at: datetime
    due_for: DueFor | None
    merge: bool
    seen: int = 0
    new: int = 0
    changed: int = 0
    dropped: int = 0
    completed: int = 0

    def saved(self) -> Saved:
        return Saved(seen=self.seen, new=self.new, changed=self.changed, dropped=self.dropped, completed=self.completed)

    async def save(self, people: Collection[str], readings: Sequence[Reading]) -> None:
        """Compare `readings` (every reading of `people`) with those people's stored rows and write the difference."""
        at, pipeline_id = self.at, self.pipeline_id
        query = sa.select(*_COLUMNS).where(_TABLE.c.pipeline_id == pipeline_id, _TABLE.c.hr_id.in_(sorted(people)))
        stored = {(row.hr_id, row.course_id): row for row in (await self.connection.execute(query)).all()}
        newer = {key for key, row in stored.items() if row.read_at > at}
        stamps = {"first_seen_at": at, "read_at": at}
        fresh: dict[tuple[str, str], dict[str, Any]] = {}
        changed_rows: list[dict[str, Any]] = []
        touched: list[dict[str, str]] = []
        for reading in readings:
            key = (reading.hr_id, reading.course_id)
            if key in newer:
                continue  # a read that started after this one stored it: its news is newer
            self.seen += 1
            row = stored.pop(key, None)
            first_seen = at if row is None else row.first_seen_at
            due_on, due_recurs = self.due_for(reading, first_seen.date()) if self.due_for else (None, False)
            values: dict[str, Any] = {
                "account_id": reading.account_id,
                "state": reading.state,
                "percent": reading.percent,
                "completed_at": reading.completed_at,
                "last_activity_at": reading.last_activity_at,
                "due_on": due_on,
                "due_recurs": due_recurs,
                "changed_at": at if row is None or row.state != reading.state else row.changed_at,
            }
            if row is None:
                self.new += 1
                self.completed += reading.state == "completed"
                fresh[key] = {"pipeline_id": pipeline_id, "hr_id": key[0], "course_id": key[1], **values} | stamps
                continue
            if row.state != reading.state:
                self.changed += 1
                self.completed += reading.state == "completed"
            touched.append(_key(pipeline_id, key))
            if any(getattr(row, name) != value for name, value in values.items()):
                changed_rows.append({f"b_{name}": value for name, value in values.items()} | _key(pipeline_id, key))
        dropped = [] if self.merge else [key for key in stored if key not in newer]
        self.dropped += len(dropped)
        if dropped:
            await self.connection.execute(_DELETE, [_key(pipeline_id, key) for key in dropped])
        if changed_rows:
            await self.connection.execute(_UPDATE, changed_rows)
        if self.merge and touched:
            await self.connection.execute(_READ_AT, [{**key, "b_read_at": at} for key in touched])
        if fresh:  # the rows as they are: a copy of each would double the page's memory
            await self.connection.execute(sa.insert(_TABLE), list(fresh.values()))

    async def drop_unlisted(self, listed: Collection[str]) -> None:
        """A full read: delete the rows of people it listed no reading for (but rows a newer read stored), walking
        the stored people a page at a time in the database's own order."""
        people = sa.select(_TABLE.c.hr_id).where(_TABLE.c.pipeline_id == self.pipeline_id).distinct()
        after: str | None = None
        while True:
            query = people if after is None else people.where(_TABLE.c.hr_id > after)
            found = (await self.connection.execute(query.order_by(_TABLE.c.hr_id).limit(_PEOPLE_PAGE))).scalars().all()
            if not found:
                return
            after = found[-1]
            if gone := [hr_id for hr_id in found if hr_id not in listed]:
                done = await self.connection.execute(
                    sa.delete(_TABLE).where(
                        _TABLE.c.pipeline_id == self.pipeline_id,
                        _TABLE.c.hr_id.in_(gone),
                        _TABLE.c.read_at <= self.at,
                    )
                )
                self.dropped += done.rowcount


def _key(pipeline_id: str, key: tuple[str, str]) -> dict[str, str]:
    return {"b_pipeline_id": pipeline_id, "b_hr_id": key[0], "b_course_id": key[1]}


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
