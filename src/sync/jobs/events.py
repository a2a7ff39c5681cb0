"""HR events: verified webhook calls, stored verbatim, then handed to person-scoped applied run_requests.

Receiving and dispatching are apart on purpose: an event is committed before the HR system hears 202, and
dispatch (here right after, and again from the worker's maintenance loop) retries until every pipeline fed by
the connection has a run that will re-read the people the event names. Nothing is lost if the process dies in
between, and a redelivered event (same event id) is stored once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from enrolsync.connectors.model import HrEvent, RawRequest
from enrolsync.sync.jobs import run_requests
from enrolsync.sync.run import quarantine
from enrolsync.sync.store import repo
from enrolsync.sync.store.tables import Event, Pipeline, utcnow

log = structlog.get_logger("enrolsync.events")

# Headers worth keeping with the stored body (the signature ones are what an audit of a delivery needs).
_DROP_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})


@dataclass(frozen=True)
class Received:
    new: int
    duplicates: int


def raw_request(headers: Mapping[str, str], body: bytes, received_at: datetime) -> RawRequest:
    return RawRequest(headers={k.lower(): v for k, v in headers.items()}, body=body, received_at=received_at)


async def store(session: AsyncSession, *, connection_id: str, raw: RawRequest, events: Sequence[HrEvent]) -> Received:
    """Store each verified event verbatim (de-duplicated by its event id). The caller commits."""
    kept = {k: v for k, v in raw.headers.items() if k not in _DROP_HEADERS}
    body = raw.body.decode("utf-8", errors="replace")
    new = 0
    for event in events:
        _, created = await repo.store_event(
            session, connection_id=connection_id, event_id=event.event_id, body=body, headers=kept, hr_ids=[event.hr_id]
        )
        new += created
    return Received(new=new, duplicates=len(events) - new)


async def dispatch(session: AsyncSession, *, connection_id: str, queue: run_requests.RunQueue, limit: int = 500) -> int:
    """Hand pending events of a connection to person-scoped applied runs; returns how many were handed over.

    Events stay pending when a pipeline's waiting run cannot take them (e.g. a dry run is queued): the next
    dispatch tries again.
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
    pipelines = (await session.exec(select(Pipeline.id).where(Pipeline.source_id == connection_id))).all()
    people = sorted({hr_id for event in pending for hr_id in event.hr_ids})
    run_ids: list[str] = []
    for pipeline_id in pipelines:
        held = await quarantine.holds(session, pipeline_id, now=utcnow())
        if held is not None:
            # Kept pending, not dropped: handed over once the pipeline may run again.
            log.debug("events.held", connection_id=connection_id, pipeline_id=pipeline_id, why=held[:200])
            return 0
        run, _ = await run_requests.request_run(
            session,
            pipeline_id=pipeline_id,
            mode="apply",
            scope="people",
            hr_ids=people,
            trigger="webhook",
            queue=queue,
        )
        if run.mode != "apply" or run.scope != "people" or not set(people) <= set(run.hr_ids):
            log.info("events.deferred", connection_id=connection_id, pipeline_id=pipeline_id, waiting_run=run.id)
            return 0
        run_ids.append(run.id)
    now = utcnow()
    for event in pending:
        event.run_ids, event.run_id, event.dispatched_at = run_ids, (run_ids[0] if run_ids else None), now
        session.add(event)
    await session.commit()
    log.info("events.dispatched", connection_id=connection_id, events=len(pending), runs=len(run_ids))
    return len(pending)


def describe_body(event: Event) -> Any:
    """The stored body as JSON when it is JSON (for the events listing), else the text."""
    try:
        return json.loads(event.body)
    except ValueError:
        return event.body
