"""Progress read back from the target on full runs (issue 16): read only, never a write to the target.

The target lists the progress of every enrolment in the courses the pipeline manages (those its links hold as
applied); only linked accounts are kept, keyed to their person, and the pipeline's stored progress is replaced
in one commit. Each enrolment gets the due date the run's rules set (`rules.due`), counted from the person's
hire date, a fixed date, or the last completion for recurring training. A target without PROGRESS is
skipped; a failed read leaves the stored progress as it was and is reported on the run
(`counters["progress"]["error"]`) without failing it: the enrolments were applied regardless.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import structlog
from sqlmodel import col, select

from enrolsync.connectors.base import Capability, ProgressReader
from enrolsync.connectors.errors import ConnectorError
from enrolsync.connectors.model import Person
from enrolsync.sync.rules import due
from enrolsync.sync.rules.evaluate import Facts, manager_of
from enrolsync.sync.rules.spec import DueDate
from enrolsync.sync.run.context import RunContext, Runtime
from enrolsync.sync.run.org import known_person
from enrolsync.sync.store import repo_progress
from enrolsync.sync.store.tables import Link, Run

log = structlog.get_logger("enrolsync.progress")


@dataclass
class _Managed:
    owners: dict[str, str] = field(default_factory=dict)  # linked account id -> hr_id
    courses: set[str] = field(default_factory=set)  # course ids the links hold as applied
    people: dict[str, Person] = field(default_factory=dict)  # everyone known, by hr_id
    resolved: dict[str, str] = field(default_factory=dict)  # course names in rules -> ids, as this run resolved


async def _managed(rt: Runtime, ctx: RunContext) -> _Managed:
    found = _Managed()
    async with rt.sessions() as session:
        for link in (await session.exec(select(Link).where(col(Link.pipeline_id) == ctx.pipeline_id))).all():
            person = known_person(link)
            if person is not None:
                found.people[link.hr_id] = person
            if link.account_id:
                found.owners[link.account_id] = link.hr_id
                found.courses.update(str(c) for c in (link.applied or {}).get("enrolments") or ())
        run = await session.get(Run, ctx.run_id)
        counters = run.counters if run is not None else {}
        found.resolved = dict((counters.get("courses") or {}).get("resolved") or {})
    return found


def _due_dates(ctx: RunContext, managed: _Managed, today: date) -> repo_progress.DueFor | None:
    """Each enrolment's due date under the run's rules (`rules.due`), or None when no rule sets one."""
    if not any(rule.due for rule in ctx.spec.rules):
        return None
    reports: dict[str, set[str]] = defaultdict(set)
    for person in managed.people.values():
        if (manager := manager_of(person, ctx.spec.policies, today)) is not None:
            reports[manager].add(person.hr_id)
    dues: dict[str, dict[str, list[DueDate]]] = {}
    for hr_id, person in managed.people.items():
        facts = Facts.of(person, reports.get(hr_id, ()), today)
        dues[hr_id] = due.dues_by_course(ctx.spec, facts, managed.resolved)

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


async def read_back(rt: Runtime, ctx: RunContext) -> dict[str, Any] | None:
    """Read and store the pipeline's enrolment progress on a full run; the run's `progress` counters, or None
    when this run reads none (not a full run, or a target without PROGRESS)."""
    if ctx.scope != "full" or Capability.PROGRESS not in ctx.target.cls.info.capabilities:
        return None
    managed = await _managed(rt, ctx)
    owners, courses = managed.owners, managed.courses
    readings: list[repo_progress.Reading] = []
    try:
        async with rt.clients.connector(ctx.target.cls, ctx.target.config) as target:
            if not isinstance(target, ProgressReader):  # declared but not implemented: the contract suite says so
                return {"error": "the target declares progress but cannot list it"}
            if courses:
                async for item in target.list_progress(course_ids=sorted(courses)):
                    hr_id = owners.get(item.account_id)
                    if hr_id is None:
                        continue
                    readings.append(
                        repo_progress.Reading(
                            hr_id=hr_id,
                            course_id=item.course_id,
                            account_id=item.account_id,
                            state=str(item.state),
                            percent=item.percent,
                            completed_at=item.completed_at,
                            last_activity_at=item.last_activity_at,
                        )
                    )
    except ConnectorError as error:
        log.warning("progress read failed", run_id=ctx.run_id, error=type(error).__name__)
        return {"error": f"{type(error).__name__}: {error}"[:500]}
    async with rt.sessions() as session:
        saved = await repo_progress.save_readings(
            session, pipeline_id=ctx.pipeline_id, readings=readings, due_for=_due_dates(ctx, managed, rt.today())
        )
        await session.commit()
    log.info("progress read", run_id=ctx.run_id, seen=saved.seen, changed=saved.changed)
    return {"seen": saved.seen, "new": saved.new, "changed": saved.changed, "completed": saved.completed}
