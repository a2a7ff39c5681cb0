"""Due dates pushed to the target (issue 16), part of planning: each person's desired state gets the due date of
each enrolment a rule sets one for, on targets declaring `Capability.DUE_DATES` only. Elsewhere the desired state
carries none, so nothing new is planned and the stored links stay as they were; due dates are then tracked with
progress alone (`run.progress`).

A recurring enrolment's date counts from its last completion, which only stored progress knows: the chunk's
progress rows are read once, and the date follows a completion at the first full run after the read that saw it.
Since a completion is no change in the HR record, a pipeline that pushes due dates plans every person in scope
afresh (`planning` skips no one by source fingerprint for it).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from sqlmodel.ext.asyncio.session import AsyncSession

from enrolsync.connectors.base import Capability
from enrolsync.sync.plan.fingerprint import state_digest
from enrolsync.sync.rules import due
from enrolsync.sync.rules.desired import DesiredState
from enrolsync.sync.rules.evaluate import Facts
from enrolsync.sync.run.context import RunContext
from enrolsync.sync.run.org import known_person, waiting_to_start
from enrolsync.sync.store import repo_progress
from enrolsync.sync.store.tables import EnrolmentProgress, Link


def pushes_due_dates(ctx: RunContext) -> bool:
    return Capability.DUE_DATES in ctx.target.cls.info.capabilities and any(rule.due for rule in ctx.spec.rules)


def _held(rows: list[EnrolmentProgress]) -> dict[str, due.Held]:
    # The same reading of a row as the progress read's (`run.progress._due_dates`): a completion counts when the
    # enrolment's state is completed.
    return {
        row.course_id: due.Held(
            first_seen=row.first_seen_at.date(),
            completed_on=row.completed_at.date() if row.state == "completed" and row.completed_at else None,
        )
        for row in rows
    }


async def add_due_dates(
    session: AsyncSession,
    ctx: RunContext,
    *,
    today: date,
    links: Mapping[str, Link],
    wanted: dict[str, DesiredState | None],
    reports: Mapping[str, set[str]],
) -> None:
    """Give each active person's desired state in `wanted` the due dates of their enrolments (in place)."""
    if not pushes_due_dates(ctx):
        return
    spec = ctx.spec
    people = [h for h, d in wanted.items() if d is not None and d.active and d.enrolments]
    stored = await repo_progress.progress_of(session, pipeline_id=ctx.pipeline_id, hr_ids=people)
    for hr_id in people:
        desired, link = wanted[hr_id], links[hr_id]
        person = known_person(link)
        if desired is None or person is None or waiting_to_start(link, person, spec.policies, today):
            continue  # a future hire's held state is what was last applied: nothing new for them yet
        facts = Facts.of(person, reports.get(hr_id, ()), today)
        dates = due.due_dates_of(
            spec, facts, desired.enrolments, hire_date=person.hire_date, held=_held(stored.get(hr_id, []))
        )
        wanted[hr_id] = dated = desired.model_copy(update={"due_dates": dates})
        if link.desired_fp is not None:  # the digest of the state to apply, due dates included
            link.desired_fp = state_digest(dated.model_dump(mode="json"))
