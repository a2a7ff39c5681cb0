"""HR events: verified webhook calls, each event stored once, then handed to person-scoped applied run_requests.

Receiving and dispatching are apart on purpose: an event is committed before the HR system hears 202, and
dispatch (here right after, and again from the worker's maintenance loop) retries until every pipeline fed by
the connection has a run that will re-read the people the event names. Nothing is lost if the process dies in
between, and a redelivered event (same event id) is stored once.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from enrolsync.connectors.model import HrEvent, RawRequest
from enrolsync.sync.jobs import run_requests
from enrolsync.sync.run import quarantine
from enrolsync.sync.store import repo
from enrolsync.sync.store.tables import Event, Pipeline, Run, utcnow

log = structlog.get_logger("enrolsync.events")

# Headers worth keeping with each event (the signature ones are what an audit of a delivery needs), within a
# budget per event: a call's headers are stored with each of its events, so they must stay small.
_DROP_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})
_HEADER_VALUE_LIMIT = 512
_HEADERS_BUDGET = 2048


@dataclass(frozen=True)
class Received:
    new: int
    duplicates: int


class ReusedEventId(Exception):
    """A call reuses a stored event's id for a different event: its sender reuses ids, or someone replays one."""

    def __init__(self, event_id: str) -> None:
        super().__init__(f"event id {event_id!r} was received before for a different event")
        self.event_id = event_id


def raw_request(headers: Mapping[str, str], body: bytes, received_at: datetime) -> RawRequest:
    return RawRequest(headers={k.lower(): v for k, v in headers.items()}, body=body, received_at=received_at)


async def store(session: AsyncSession, *, connection_id: str, raw: RawRequest, events: Sequence[HrEvent]) -> Received:
    """Store each verified event once (de-duplicated by its event id); the caller commits.

    Each event keeps its own part (the event as read: id, kind, person, when), never the whole body: a call of
    a thousand events would otherwise store its body a thousand times. A redelivery (same id, same kind and
    person) is counted as a duplicate; the same id for a different event raises `ReusedEventId`, after which
    the caller rolls back so nothing of the call is kept.
    """
    kept = _kept_headers(raw.headers)
    new = 0
    for event in events:
        stored, created = await repo.store_event(
            session,
            connection_id=connection_id,
            event_id=event.event_id,
            body=event.model_dump_json(),
            headers=kept,
            hr_ids=[event.hr_id],
        )
        if not created and not _same_event(stored, event):
            raise ReusedEventId(event.event_id)
        new += created
    return Received(new=new, duplicates=len(events) - new)


def _kept_headers(headers: Mapping[str, str]) -> dict[str, str]:
    kept: dict[str, str] = {}
    size = 0
    for name, value in sorted(headers.items()):
        if name in _DROP_HEADERS or len(value) > _HEADER_VALUE_LIMIT or size + len(name) + len(value) > _HEADERS_BUDGET:
            continue
        kept[name] = value
        size += len(name) + len(value)
    return kept


def _same_event(stored: Event, event: HrEvent) -> bool:
    """Whether a stored event is `event` delivered again. The time is not compared: a sender re-signing a retry
    stamps it anew. Events stored before their own part was kept hold the whole body: their person decides."""
    if stored.hr_ids != [event.hr_id]:
        return False
    own = describe_body(stored)
    return not isinstance(own, dict) or own.get("kind", event.kind) == event.kind


async def dispatch(session: AsyncSession, *, connection_id: str, queue: run_requests.RunQueue, limit: int = 500) -> int:
    """Hand pending events of a connection to person-scoped applied runs, each pipeline on its own; returns how
    many (event, pipeline) handovers were made.

    An event records the runs it was handed to (`run_ids`), one per pipeline, so each pipeline gets it once: a
    pipeline on hold (back-off, quarantine) or whose waiting run cannot take it (a dry run is queued) keeps it
    pending for itself only, while the others get it now and never again. `dispatched_at` is set once every
    pipeline of the connection has it. Two dispatchers at once may both hand an event to a pipeline; joining
    the same people to a waiting run twice changes nothing, so that costs nothing.
    """
    pending = list(
        (
            await session.exec(
                select(Event)
                .where(Event.connection_id == connection_id, col(Event.dispatched_at).is_(None))
                .order_by(col(Event.received_at))
                .limit(limit)
            )
        ).all()
    )
    if not pending:
        return 0
    pipelines = list(
        (await session.exec(select(Pipeline.id).where(Pipeline.source_id == connection_id).order_by(Pipeline.id))).all()
    )
    handed = await _handed_to(session, pending)
    # Collected, then written together at the end: rows changed now would be flushed (and locked on PostgreSQL)
    # while the next pipeline's waiting run is locked, an order another dispatcher could take the other way.
    new_runs: dict[str, list[str]] = {event.id: [] for event in pending}
    for pipeline_id in pipelines:
        todo = [event for event in pending if pipeline_id not in handed[event.id]]
        run_id = await _hand_over(session, connection_id, pipeline_id, todo, queue) if todo else None
        if run_id is None:
            continue  # nothing to hand over, or held: pending for this pipeline, the others go on
        for event in todo:
            new_runs[event.id].append(run_id)
            handed[event.id].add(pipeline_id)
    now = utcnow()
    for event in pending:
        if new_runs[event.id]:
            event.run_ids = [*event.run_ids, *new_runs[event.id]]
            event.run_id = event.run_id or event.run_ids[0]
        if handed[event.id] >= set(pipelines):
            event.dispatched_at = now
        session.add(event)
    handovers = sum(len(runs) for runs in new_runs.values())
    await session.commit()
    log.info("events.dispatched", connection_id=connection_id, events=len(pending), handovers=handovers)
    return handovers


async def _handed_to(session: AsyncSession, events: Sequence[Event]) -> dict[str, set[str]]:
    """The pipelines each event was already handed to (those of the runs it records)."""
    run_ids = {run_id for event in events for run_id in event.run_ids}
    stmt = select(Run.id, Run.pipeline_id).where(col(Run.id).in_(run_ids))
    pipeline_of = dict((await session.exec(stmt)).all()) if run_ids else {}
    return {event.id: {pipeline_of[r] for r in event.run_ids if r in pipeline_of} for event in events}


async def _hand_over(
    session: AsyncSession, connection_id: str, pipeline_id: str, todo: Sequence[Event], queue: run_requests.RunQueue
) -> str | None:
    """Request a run of `pipeline_id` for the people `todo` names; the run that will re-read them, or None when
    none may take them now (the events stay pending for this pipeline)."""
    held = await quarantine.holds(session, pipeline_id, now=utcnow())
    if held is not None:
        log.debug("events.held", connection_id=connection_id, pipeline_id=pipeline_id, why=held[:200])
        return None
    people = sorted({hr_id for event in todo for hr_id in event.hr_ids})
    try:
        run, _ = await run_requests.request_run(
            session, pipeline_id=pipeline_id, mode="apply", scope="people", hr_ids=people, trigger="webhook",
            queue=queue,
        )  # fmt: skip
    except quarantine.PipelineQuarantined:  # quarantined since `holds` looked
        return None
    if not repo.run_covers(run, mode="apply", hr_ids=people):
        log.info("events.deferred", connection_id=connection_id, pipeline_id=pipeline_id, waiting_run=run.id)
        return None
    return run.id


@dataclass
class _Turns:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    started: int = 0  # rounds started so far; a round's number is the count once it started
    handed: int = 0  # the number of the last round that ended without an error


@dataclass
class Rounds:
    """Dispatch rounds of one process, one at a time per connection, shared by the calls that wait for one.

    Each accepted webhook call needs a dispatch that starts after its events were committed. Under a burst,
    calls that arrive while a round runs all wait for it to end; then one of them runs the next round, which
    sees all their events, and the others are answered at once. Twenty calls in flight cost two rounds, not
    twenty (each a few writes, contending for the database with the run applying the last burst), and every
    call is still answered only once its people are handed to a run.
    """

    _turns: dict[str, _Turns] = field(default_factory=dict)

    async def after_commit(self, connection_id: str, dispatch: Callable[[], Awaitable[object]]) -> None:
        """Run `dispatch` unless a round that started after this call (so after its commit) has ended meanwhile
        without an error. A round that fails fails the call that ran it; those waiting run their own."""
        turns = self._turns.setdefault(connection_id, _Turns())
        arrived = turns.started
        async with turns.lock:
            if turns.handed > arrived:
                return  # a round started after we arrived, and handed over what was pending: ours too
            turns.started += 1
            number = turns.started
            await dispatch()
            turns.handed = number


def describe_body(event: Event) -> Any:
    """The stored body as JSON when it is JSON (for the events listing), else the text."""
    try:
        return json.loads(event.body)
    except (ValueError, RecursionError):  # bodies stored whole before issue 20 may be anything a sender signed
        return event.body
