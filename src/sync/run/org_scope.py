"""`read_org` for an incremental run: only the links around the people in scope, not the whole pipeline's.

An incremental run (a webhook's few people) plans the people it read, their old and new managers, the managers of
people gone, and the people due (`org.Org.due`). Planning them needs their direct reports, and the deletion guard
needs how many accounts the pipeline links. Reading every link for that costs seconds at 10,000 people on every
run; here the database picks the few links that matter, and `Org.note` judges them exactly as a full pass would:

- due people: a coarse SQL filter on the stored status, dates and applied `active` flag keeps every link that can be
  due (a superset: few links in a settled pipeline), and `Org.note` decides;
- direct reports: the links whose stored person names someone in scope as manager;
- the guard's counts: an SQL COUNT.

`Org.everyone` holds only the people in scope (with their reports), and `owners`/`courses` stay empty: only a
full run's target snapshot reads those.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select

from enrolsync.connectors.model import PersonStatus
from enrolsync.sync.run.context import RunContext, Runtime
from enrolsync.sync.run.org import Org
from enrolsync.sync.run.reading import ReadResult
from enrolsync.sync.store.tables import Link

_IN_CHUNK = 500  # as `repo_links`: under SQLite's bound-parameter cap


def _linked() -> sa.ColumnElement[bool]:
    return sa.and_(col(Link.account_id).is_not(None), col(Link.account_id) != "")


def _active() -> sa.ColumnElement[bool]:
    return sa.func.coalesce(Link.applied["active"].as_boolean(), sa.false()) == sa.true()


def _field(name: str) -> sa.ColumnElement[Any]:
    return Link.person[name].as_string()  # type: ignore[no-any-return]


def may_be_due(today: date) -> sa.ColumnElement[bool]:
    """Every link `Org.note` can find due (`org._due`), and some it will not: an active account of someone who
    left, is away or vanished; an inactive account of someone not shown terminated; no account, no error, and not
    shown terminated (joiners, future hires among them). Dates are ISO strings, so they compare as text."""
    status, ended = _field("status"), _field("termination_date")
    shown_terminated = sa.and_(status.is_not(None), status == PersonStatus.TERMINATED.value)
    not_terminated = sa.and_(col(Link.gone_at).is_(None), sa.not_(shown_terminated))
    left = sa.or_(
        col(Link.gone_at).is_not(None),
        status.in_([PersonStatus.TERMINATED.value, PersonStatus.LEAVE.value]),
        ended <= today.isoformat(),
    )
    no_error = sa.or_(col(Link.last_error).is_(None), col(Link.last_error) == "")
    return sa.or_(
        sa.and_(_linked(), _active(), left),
        sa.and_(_linked(), sa.not_(_active()), not_terminated),
        sa.and_(sa.not_(_linked()), no_error, not_terminated),
    )


def _chunks(items: Iterable[str]) -> Iterable[list[str]]:
    ordered = sorted(set(items))
    return (ordered[i : i + _IN_CHUNK] for i in range(0, len(ordered), _IN_CHUNK))


async def read_scope_org(rt: Runtime, ctx: RunContext, read: ReadResult) -> Org:
    """The `Org` an incremental run plans with: `Org.due`, `Org.managers` of the people in scope's direct reports
    and of the people gone, `Org.everyone` as the people in scope that have a link, and the guard's counts."""
    org = Org()
    policies, today, mapping = ctx.spec.policies, rt.today(), ctx.spec.mapping
    mine = col(Link.pipeline_id) == ctx.pipeline_id
    async with rt.sessions() as session:
        linked, active = (
            await session.exec(
                select(sa.func.count(), sa.func.coalesce(sa.func.sum(sa.case((_active(), 1), else_=0)), 0)).where(
                    mine, _linked()
                )
            )
        ).one()
        org.linked_accounts, org.active_accounts = int(linked), int(active)
        due = Org()  # candidates judged apart: only the due set and the gone people's managers are taken from them
        for link in await session.exec(select(Link).where(mine, may_be_due(today))):
            due.note(link, policies, today, mapping)
        for hr_ids in _chunks(read.removed):
            for link in await session.exec(select(Link).where(mine, col(Link.hr_id).in_(hr_ids))):
                due.note(link, policies, today, mapping)
        org.due = due.due
        gone_managers = {due.managers[hr_id] for hr_id in read.removed if hr_id in due.managers}
        wanted = read.seen | read.removed | read.managers | gone_managers | org.due
        for hr_ids in _chunks(wanted):
            found = await session.exec(select(Link.hr_id).where(mine, col(Link.hr_id).in_(hr_ids)))
            org.everyone.update(found)
        # Reports of the people in scope, and the managers of the people gone (`planning._in_scope`).
        org.managers.update({hr_id: due.managers[hr_id] for hr_id in read.removed if hr_id in due.managers})
        for hr_ids in _chunks(org.everyone):
            for link in await session.exec(select(Link).where(mine, _field("manager_hr_id").in_(hr_ids))):
                reports = Org()
                reports.note(link, policies, today, mapping)
                org.managers.update(reports.managers)
    return org
