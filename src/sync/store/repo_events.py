"""Inbound HR webhook events, stored verbatim and de-duplicated by the source's event id. Import through `repo`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from enrolsync.sync.store.db import dialect_insert, row_values
from enrolsync.sync.store.tables import Event

DEFAULT_LIMIT = 100


async def store_event(
    session: AsyncSession,
    *,
    connection_id: str,
    event_id: str,
    body: str,
    headers: Mapping[str, Any] | None = None,
    hr_ids: Sequence[str] = (),
) -> tuple[Event, bool]:
    """Store an event unless the connection already received one with `event_id`; returns (event, new).

    A repeat (the source retrying a delivery) returns the stored event with new=False and changes nothing.
    Concurrent deliveries of one event store exactly one row (INSERT ... ON CONFLICT DO NOTHING on
    `uq_event_id`), without disturbing the caller's transaction. The caller commits.

    Args:
        headers: the request headers worth keeping; the caller drops credentials and signatures' secrets.
    """
    row = row_values(
        Event,
        connection_id=connection_id,
        event_id=event_id,
        headers=dict(headers or {}),
        body=body,
        hr_ids=sorted(set(hr_ids)),
    )
    stmt = (
        dialect_insert(session, Event)
        .values(row)
        .on_conflict_do_nothing(index_elements=["connection_id", "event_id"])
        .returning(Event)
    )
    inserted = (await session.exec(stmt)).scalars().first()
    if inserted is not None:
        return inserted, True
    existing = select(Event).where(Event.connection_id == connection_id, Event.event_id == event_id)
    return (await session.exec(existing)).one(), False


async def list_events(
    session: AsyncSession,
    *,
    connection_id: str | None = None,
    pending: bool = False,
    limit: int = DEFAULT_LIMIT,
) -> list[Event]:
    """The newest `limit` events; `pending` keeps those not yet turned into a run."""
    stmt = select(Event).order_by(col(Event.received_at).desc(), col(Event.id).desc()).limit(limit)
    if connection_id is not None:
        stmt = stmt.where(Event.connection_id == connection_id)
    if pending:
        stmt = stmt.where(col(Event.dispatched_at).is_(None))
    return list((await session.exec(stmt)).all())
