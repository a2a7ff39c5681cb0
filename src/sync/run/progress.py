"""Progress read back from the target (issue 16): read only, never a write to the target.

Two kinds of read share this code. A full run reads everything (`read_back`) and its reading replaces the
pipeline's stored progress (people who left, enrolments removed drop out). A scheduled read between runs
(`jobs/progress_schedule.py` calls `read_progress`) asks the target only for what changed since the newest
successful read started (`since`, minus an overlap for clock skew) and merges what it gets into what is stored:
a reading never deletes another. Both are recorded (`progress_read`: since, counts, duration).

The target lists the progress of every enrolment in the courses the pipeline manages (those its links hold as
applied); only linked accounts are kept, keyed to their person. Each enrolment gets the due date the rules set
(`rules.due`), counted from the person's hire date, a fixed date, or the last completion for recurring training.
A failed read leaves the stored progress as it was; a full run reports it (`counters["progress"]["error"]`)
without failing: the enrolments were applied regardless.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import structlog
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from enrolsync.connectors.base import Capability, ProgressReader, TargetConnector
from enrolsync.connectors.errors import ConnectorError
from enrolsync.connectors.model import Person
from enrolsync.sync.rules import due
from enrolsync.sync.rules.evaluate import Facts, manager_of
from enrolsync.sync.rules.spec import DueDate, PipelineSpec
from enrolsync.sync.run.context import RunContext, Runtime, Side
from enrolsync.sync.run.org import known_person, link_pages
from enrolsync.sync.store import repo_progress, repo_progress_reads
from enrolsync.sync.store.tables import Run, utcnow

log = structlog.get_logger("enrolsync.progress")


@dataclass
class _Managed:
    owners: dict[str, str] = field(default_factory=dict)  # linked account id -> hr_id
    courses: set[str] = field(default_factory=set)  # course ids the links hold as applied
    people: dict[str, Person] = field(default_factory=dict)  # everyone known, by hr_id


@dataclass(frozen=True)
class ReadScope:
    """What one read covers: the pipeline, its rules (for due dates), its target, and the course names its
    latest run resolved to ids (rules may name courses by a human key)."""

    pipeline_id: str
    spec: PipelineSpec
    target: Side[TargetConnector]
    resolved: dict[str, str]


class ReadFailed(Exception):
    """The target could not be read; the stored progress is as it was. The message is safe to show."""


async def _managed(rt: Runtime, scope: ReadScope) -> _Managed:
    """Who and what the pipeline manages, from its links read a page at a time. People's records are kept only when
    a rule sets due dates (`_due_dates` needs them): otherwise a read holds two ids per linked account, not every
    person of the pipeline."""
    found = _Managed()
    keep_people = any(rule.due for rule in scope.spec.rules)
    async for page in link_pages(rt, scope.pipeline_id):
        for link in page:
            if keep_people and (person := known_person(link)) is not None:
                found.people[link.hr_id] = person
            if link.account_id:
                found.owners[link.account_id] = link.hr_id
                found.courses.update(str(c) for c in (link.applied or {}).get("enrolments") or ())
    return found


async def resolved_courses(session: AsyncSession, pipeline_id: str, run_id: str | None = None) -> dict[str, str]:
    """Course names in rules -> ids, as run `run_id` (or the pipeline's latest run that resolved any) found them."""
    if run_id is not None:
        run = await session.get(Run, run_id)
        return dict(((run.counters if run else {}).get("courses") or {}).get("resolved") or {})
    stmt = select(Run).where(col(Run.pipeline_id) == pipeline_id).order_by(col(Run.created_at).desc()).limit(20)
    for run in (await session.exec(stmt)).all():
        if resolved := ((run.counters or {}).get("courses") or {}).get("resolved"):
            return dict(resolved)
    return {}


def _due_dates(
    spec: PipelineSpec, managed: _Managed, resolved: dict[str, str], today: date
) -> repo_progress.DueFor | None:
    """Each enrolment's due date under the rules (`rules.due`), or None when no rule sets one."""
    if not any(rule.due for rule in spec.rules):
        return None
    reports: dict[str, set[str]] = defaultdict(set)
    for person in managed.people.values():
        if (manager := manager_of(person, spec.policies, today)) is not None:
            reports[manager].add(person.hr_id)
    dues: dict[str, dict[str, list[DueDate]]] = {}
    for hr_id, person in managed.people.items():
        facts = Facts.of(person, reports.get(hr_id, ()), today)
        dues[hr_id] = due.dues_by_course(spec, facts, resolved)

    def due_for(reading: repo_progress.Reading, first_seen: date) -> tuple[date | None, bool]:
        completed = reading.completed_at.date() if reading.state == "completed" and reading.completed_at else None
        person = managed.people.get(reading.hr_id)
        found = due.earliest(
            dues.get(reading.hr_id, {}).get(reading.course_id, []),
            hire_date=person.hire_date if person else None,
            first_seen=first_seen,
            completed_on=completed,
        )
        return (found.on, found.recurs) if found else (None, False)

    return due_for


async def _list(
    rt: Runtime, scope: ReadScope, managed: _Managed, since: datetime | None
) -> list[repo_progress.Reading]:
    """The target's readings of the managed enrolments, keyed to people. Raises `ReadFailed`."""
    readings: list[repo_progress.Reading] = []
    if not managed.courses:
        return readings
    target_side = scope.target
    try:
        async with rt.clients.connector(
            target_side.cls, target_side.config, connection=target_side.connection_id
        ) as target:
            if not isinstance(target, ProgressReader):  # declared but not implemented: the contract suite says so
                raise ReadFailed("the target declares progress but cannot list it")
            async for item in target.list_progress(course_ids=sorted(managed.courses), since=since):
                hr_id = managed.owners.get(item.account_id)
                if hr_id is None:
                    continue
                # Held until stored, one per enrolment: interned, the ids and states repeat across readings
                # (each would otherwise be a string of its own, ~150 bytes a reading).
                readings.append(
                    repo_progress.Reading(
                        hr_id=hr_id,
                        course_id=sys.intern(item.course_id),
                        account_id=sys.intern(item.account_id),
                        state=sys.intern(str(item.state)),
                        percent=item.percent,
                        completed_at=item.completed_at,
                        last_activity_at=item.last_activity_at,
                    )
                )
    except ConnectorError as error:
        raise ReadFailed(f"{type(error).__name__}: {error}"[:500]) from error
    return readings


async def read_progress(
    rt: Runtime,
    scope: ReadScope,
    *,
    read_id: str,
    started_at: datetime,
    since: datetime | None,
    merge: bool,
) -> repo_progress.Saved | None:
    """Read the pipeline's progress (what changed since `since`, or everything), store it (merged, or as a whole
    replacement) and finish the read's record `read_id` in the same commit. None when a full read that started
    later has already stored its replacement: this older reading is dropped (recorded as superseded).

    Raises:
        ReadFailed: the target could not be read (recorded on the read as failed).
    """
    managed = await _managed(rt, scope)
    try:
        readings = await _list(rt, scope, managed, since)
        return await _store(rt, scope, managed, readings, read_id=read_id, started_at=started_at, merge=merge)
    except ReadFailed as error:
        await _fail(rt, read_id, str(error))
        raise
    except BaseException as error:  # stopped (worker shutdown), or the database failed: the record says so
        with suppress(Exception):
            await _fail(rt, read_id, f"stopped: {type(error).__name__}")
        raise


async def _store(
    rt: Runtime,
    scope: ReadScope,
    managed: _Managed,
    readings: list[repo_progress.Reading],
    *,
    read_id: str,
    started_at: datetime,
    merge: bool,
) -> repo_progress.Saved | None:
    """Store the readings and finish the read's record in one commit (None: superseded, nothing stored)."""
    async with rt.sessions() as session:
        if merge and await repo_progress_reads.full_read_after(
            session, pipeline_id=scope.pipeline_id, after=started_at
        ):
            await repo_progress_reads.finish(session, read_id, now=utcnow(), status=repo_progress_reads.SUPERSEDED)
            await session.commit()
            return None
        saved = await repo_progress.save_readings(
            session,
            pipeline_id=scope.pipeline_id,
            readings=readings,
            due_for=_due_dates(scope.spec, managed, scope.resolved, rt.today()),
            now=started_at,
            merge=merge,
        )
        await repo_progress_reads.finish(session, read_id, now=utcnow(), saved=saved)
        await session.commit()
    return saved


async def _fail(rt: Runtime, read_id: str, why: str) -> None:
    async with rt.sessions() as session:
        await repo_progress_reads.finish(session, read_id, now=utcnow(), status=repo_progress_reads.FAILED, error=why)
        await session.commit()


async def read_back(rt: Runtime, ctx: RunContext) -> dict[str, Any] | None:
    """Read and store the pipeline's enrolment progress on a full run (a whole replacement); the run's `progress`
    counters, or None when this run reads none (not a full run, or a target without PROGRESS)."""
    if ctx.scope != "full" or Capability.PROGRESS not in ctx.target.cls.info.capabilities:
        return None
    started = utcnow()
    async with rt.sessions() as session:
        resolved = await resolved_courses(session, ctx.pipeline_id, ctx.run_id)
        record = await repo_progress_reads.start(
            session,
            pipeline_id=ctx.pipeline_id,
            kind=repo_progress_reads.FULL,
            since=None,
            now=started,
            run_id=ctx.run_id,
            worker=rt.owner,
        )
    scope = ReadScope(pipeline_id=ctx.pipeline_id, spec=ctx.spec, target=ctx.target, resolved=resolved)
    try:
        saved = await read_progress(rt, scope, read_id=record.id, started_at=started, since=None, merge=False)
    except ReadFailed as error:
        log.warning("progress read failed", run_id=ctx.run_id, error=str(error)[:200])
        return {"error": str(error)}
    assert saved is not None  # noqa: S101 - a replacement is never superseded
    log.info("progress read", run_id=ctx.run_id, seen=saved.seen, changed=saved.changed)
    return {"seen": saved.seen, "new": saved.new, "changed": saved.changed, "completed": saved.completed}
