"""The managers' digest (issue 16): at each tick of a pipeline's `digest.schedule`, every manager with reports
gets one email about the period since the previous tick: their people's new enrolments, completions and overdue
training (read from the stored progress), and a link to the learning platform. Nobody outside their team
(direct and indirect reports, as the engine counts them) appears in it.

At most once per manager and period, with any number of workers: each message is claimed by inserting its
`digest_sent` row before sending, and the primary key refuses a second claim. A message the server refuses
gives its claim back, so a later pass tries again; once every manager of a period is done, the pipeline's
`digest` schedule state moves to the tick and later passes skip it at the cost of one read.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import make_msgid

import structlog
from croniter import croniter
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from enrolsync.connectors.model import Person
from enrolsync.sync.jobs.schedules import latest_tick
from enrolsync.sync.rules.due import is_overdue
from enrolsync.sync.rules.evaluate import manager_of
from enrolsync.sync.rules.spec import PipelineSpec
from enrolsync.sync.run.context import Runtime
from enrolsync.sync.run.mail import Mailer, MailError
from enrolsync.sync.run.org import known_person
from enrolsync.sync.store.repo_progress import progress_of
from enrolsync.sync.store.tables import Connection, DigestSent, EnrolmentProgress, Link, Pipeline, ScheduleState

log = structlog.get_logger("enrolsync.digest")

KIND = "digest"
MAX_LEVELS = 10  # management levels a digest reaches down


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime

    def holds(self, moment: datetime | None) -> bool:
        return moment is not None and self.start <= moment < self.end


async def send_due(rt: Runtime, *, now: datetime) -> int:
    """Send the digests due at `now` of every pipeline that has one; returns the messages sent."""
    if rt.mailer is None:
        return 0
    async with rt.sessions() as session:
        pipelines = (await session.exec(select(Pipeline).order_by(col(Pipeline.id)))).all()
    sent = 0
    for pipeline in pipelines:
        spec = PipelineSpec.model_validate(pipeline.spec)
        if spec.digest is None:
            continue
        end = latest_tick(spec.digest.schedule, now)
        if end <= pipeline.created_at:
            continue  # a new digest starts with the next tick, not with one before the pipeline existed
        start: datetime = croniter(spec.digest.schedule, end).get_prev(datetime)
        sent += await _send_pipeline(rt, rt.mailer, pipeline, spec, Period(start, end), now)
    return sent


def _teams(people: dict[str, Person], spec: PipelineSpec, now: datetime) -> dict[str, list[str]]:
    """Each manager's people, direct reports first, down to `MAX_LEVELS`; each person once."""
    direct: dict[str, list[str]] = defaultdict(list)
    for hr_id in sorted(people):
        if (boss := manager_of(people[hr_id], spec.policies, now.date())) is not None:
            direct[boss].append(hr_id)
    teams: dict[str, list[str]] = {}
    for boss in direct:
        seen, frontier, members = {boss}, [boss], []
        for _ in range(MAX_LEVELS):
            frontier = [r for m in frontier for r in direct.get(m, []) if r not in seen]
            seen.update(frontier)
            members += frontier
        teams[boss] = members
    return teams


async def _read(session: AsyncSession, pipeline: Pipeline, spec: PipelineSpec, period: Period) -> _Snapshot:
    links = (await session.exec(select(Link).where(col(Link.pipeline_id) == pipeline.id))).all()
    people = {link.hr_id: p for link in links if (p := known_person(link)) is not None and link.gone_at is None}
    done_stmt = select(DigestSent.manager_hr_id).where(
        col(DigestSent.pipeline_id) == pipeline.id, col(DigestSent.period_end) == period.end
    )
    target = await session.get(Connection, pipeline.target_id)
    url = (spec.digest.lms_url if spec.digest else None) or (str(target.config.get("base_url", "")) if target else "")
    return _Snapshot(
        people=people,
        progress=await progress_of(session, pipeline_id=pipeline.id),
        done=set((await session.exec(done_stmt)).all()),
        url=url,
    )


@dataclass
class _Snapshot:
    """What a pipeline's digests are written from, read once per pass (rows detached from their session)."""

    people: dict[str, Person]
    progress: dict[str, list[EnrolmentProgress]]
    done: set[str]
    url: str


async def _send_pipeline(
    rt: Runtime, mailer: Mailer, pipeline: Pipeline, spec: PipelineSpec, period: Period, now: datetime
) -> int:
    async with rt.sessions() as session:
        state = await session.get(ScheduleState, (pipeline.id, KIND))
        if state is not None and state.last_tick_at >= period.end:
            return 0
        seen = await _read(session, pipeline, spec, period)
        session.expunge_all()  # the rows are read below without their session
    sent = failed = 0
    for boss, members in sorted(_teams(seen.people, spec, now).items()):
        manager = seen.people.get(boss)
        if boss in seen.done or manager is None or not manager.work_email:
            continue
        team = [seen.people[m] for m in members]
        message = compose(mailer.sender, manager, team, seen.progress, period, now, seen.url)
        if not await _claim(rt, DigestSent(pipeline_id=pipeline.id, manager_hr_id=boss, period_end=period.end)):
            continue  # another worker claimed this manager's digest for the period
        try:
            await mailer.send(message)
        except MailError as error:
            failed += 1
            log.warning("digest.failed", pipeline_id=pipeline.id, manager=boss, error=str(error))
            await _release(rt, pipeline.id, boss, period.end)
            continue
        sent += 1
    if not failed:
        async with rt.sessions() as session:
            await _mark(session, pipeline.id, period.end)
    log.info("digest.sent", pipeline_id=pipeline.id, messages=sent, failed=failed)
    return sent


async def _claim(rt: Runtime, row: DigestSent) -> bool:
    async with rt.sessions() as session:
        session.add(row)
        try:
            await session.commit()
        except IntegrityError:
            return False
    return True


async def _release(rt: Runtime, pipeline_id: str, manager_hr_id: str, end: datetime) -> None:
    async with rt.sessions() as session:
        claim = await session.get(DigestSent, (pipeline_id, manager_hr_id, end))
        if claim is not None:
            await session.delete(claim)
            await session.commit()


async def _mark(session: AsyncSession, pipeline_id: str, end: datetime) -> None:
    """The pipeline's digests are done up to `end` (another worker may be marking the same tick)."""
    state = await session.get(ScheduleState, (pipeline_id, KIND))
    if state is None:
        session.add(ScheduleState(pipeline_id=pipeline_id, kind=KIND, last_tick_at=end))
        try:
            await session.commit()
        except IntegrityError:
            await session.rollback()  # marked by another worker just now
        return
    if state.last_tick_at < end:
        state.last_tick_at = end
        session.add(state)
        await session.commit()


def _name(person: Person) -> str:
    return " ".join(p for p in (person.given_name, person.family_name) if p) or person.hr_id


def _lines(title: str, items: Iterable[str]) -> list[str]:
    listed = list(items)
    return [f"{title} ({len(listed)})", *(f"- {item}" for item in listed or ["none"]), ""]


def compose(
    sender: str,
    manager: Person,
    members: list[Person],
    progress: dict[str, list[EnrolmentProgress]],
    period: Period,
    now: datetime,
    lms_url: str,
) -> EmailMessage:
    """One manager's digest as a plain-text email."""
    new, completed, overdue = [], [], []
    for person in members:
        for row in progress.get(person.hr_id, []):
            if period.holds(row.first_seen_at):
                new.append(f"{_name(person)}: {row.course_id}")
            finished = row.completed_at or row.changed_at
            if row.state == "completed" and period.holds(finished):
                completed.append(f"{_name(person)}: {row.course_id}, completed {finished:%Y-%m-%d}")
            completed_now = row.state == "completed"
            if is_overdue(row.due_on, recurs=row.due_recurs, completed=completed_now, today=now.date()):
                overdue.append(f"{_name(person)}: {row.course_id}, due {row.due_on}")
    body = [
        f"Hello {manager.given_name or _name(manager)},",
        "",
        f"Your team's learning from {period.start:%Y-%m-%d} to {period.end:%Y-%m-%d} ({len(members)} people).",
        "",
        *_lines("New enrolments", new),
        *_lines("Completed", completed),
        *_lines("Overdue", overdue),
        f"Open the learning platform: {lms_url}",
    ]
    message = EmailMessage()
    message["Subject"] = f"Your team's learning, week to {period.end:%Y-%m-%d}"
    message["From"] = sender
    message["To"] = manager.work_email or ""
    message["Message-ID"] = make_msgid(domain="enrolsync")
    message.set_content("\n".join(body) + "\n")
    return message
