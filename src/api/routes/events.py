"""`GET /connections/{id}/events`: the HR events a connection received, and the runs each one caused."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlmodel import col, select

from enrolsync.api import queries
from enrolsync.api.auth import Viewer
from enrolsync.api.deps import AfterQuery, LimitQuery, SessionDep
from enrolsync.api.problems import not_found, problem_responses
from enrolsync.api.schemas import Page
from enrolsync.sync.jobs.events import describe_body
from enrolsync.sync.store.tables import Connection, Event

router = APIRouter(prefix="/connections", tags=["events"])

# A page ends after `limit` events or once this many bytes of bodies are in it, whichever comes first (at least
# one event a page): events stored before issue 20 carry their call's whole body, up to a megabyte each.
PAGE_BYTES = 256 * 1024
READ_CHUNK = 25


class EventPublic(BaseModel):
    id: str
    event_id: str = Field(description="The HR system's id of the event (redeliveries share it).")
    hr_ids: list[str]
    received_at: datetime
    dispatched_at: datetime | None = Field(description="When its people were handed to runs; null: still pending.")
    run_ids: list[str] = Field(description="The runs, one per pipeline fed by this connection, that applied it.")
    body: Any = Field(
        description="The event as read from its call: id, kind, person, when (events received before this was kept "
        "hold their call's whole body, JSON when it is JSON)."
    )


@router.get("/{connection_id}/events", responses=problem_responses(400, 404))
async def list_events(
    connection_id: str, session: SessionDep, _: Viewer, after: AfterQuery = None, limit: LimitQuery = 50
) -> Page[EventPublic]:
    """Events newest first; pass `next` as `after` for older ones. A page holds at most `limit` events and ends
    early once its bodies pass 256 KiB."""
    if await session.get(Connection, connection_id) is None:
        raise not_found("connection", connection_id)
    stmt = select(Event).where(col(Event.connection_id) == connection_id)
    items: list[EventPublic] = []
    size = 0
    # Read in chunks, so a page of events stored whole (up to a megabyte each) is never in memory at once.
    while True:
        chunk = min(READ_CHUNK, limit - len(items))
        rows, following = await queries.page(session, stmt, queries.EVENTS_ORDER, after=after, limit=chunk)
        for e in rows:
            size += len(e.body)
            if items and size > PAGE_BYTES:
                return Page(items=items, next=items[-1].id)
            items.append(_public(e))
        if following is None or len(items) >= limit:
            return Page(items=items, next=following)
        after = following


def _public(e: Event) -> EventPublic:
    return EventPublic(
        id=e.id,
        event_id=e.event_id,
        hr_ids=e.hr_ids,
        received_at=e.received_at,
        dispatched_at=e.dispatched_at,
        run_ids=e.run_ids,
        body=describe_body(e),
    )
