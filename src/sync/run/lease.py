"""Who executes a run: a lease in the run's row, renewed while the worker works, fenced by generation.

A worker that dies stops renewing; once the lease lapses another worker takes the run over as the next
generation (a new workflow `<run id>.<generation>`), and every write of the old generation is refused from then
on. Steps are idempotent, so the new generation simply continues where the records say the old one stopped.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from enum import StrEnum
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from enrolsync.sync.run.context import Runtime
from enrolsync.sync.store.tables import Run, RunStatus, utcnow

T = TypeVar("T")


class Claim(StrEnum):
    GO = "go"  # this worker holds the run now
    WAIT = "wait"  # another run of the pipeline is executing: try again later
    SKIP = "skip"  # nothing to do: finished, blocked, gone, or held by a newer generation or a live worker


class LeaseLost(Exception):
    """Another generation owns the run now (or it was cancelled): stop without touching it."""


def _until(rt: Runtime) -> object:
    return utcnow() + timedelta(seconds=rt.lease_seconds)


async def _update(rt: Runtime, stmt: sa.Update) -> int:
    async with rt.sessions() as session:
        result = await (await session.connection()).execute(stmt)
        await session.commit()
        return int(result.rowcount)


async def claim(rt: Runtime, run_id: str, generation: int) -> Claim:
    """Take the run for this worker and generation: start a queued run, or take over a lapsed running one."""
    now = utcnow()
    holder = dict(lease_owner=rt.owner, lease_expires_at=_until(rt), generation=generation)
    start = (
        sa.update(Run)
        .where(col(Run.id) == run_id, col(Run.status) == RunStatus.QUEUED, col(Run.generation) <= generation)
        .values(status=RunStatus.RUNNING, started_at=now, **holder)
    )
    try:
        if await _update(rt, start):
            return Claim.GO
    except IntegrityError:
        return Claim.WAIT  # the pipeline's other run is executing (one running run per pipeline)
    free = sa.or_(col(Run.lease_owner).is_(None), col(Run.lease_expires_at) < now, col(Run.generation) < generation)
    mine = sa.and_(col(Run.lease_owner) == rt.owner, col(Run.generation) == generation)
    take_over = (
        sa.update(Run)
        .where(col(Run.id) == run_id, col(Run.status) == RunStatus.RUNNING, col(Run.generation) <= generation)
        .where(sa.or_(free, mine))
        .values(**holder)
    )
    return Claim.GO if await _update(rt, take_over) else Claim.SKIP


async def renew(rt: Runtime, run_id: str, generation: int) -> bool:
    """Extend this worker's lease; False when the run is no longer ours (taken over, cancelled, finished)."""
    stmt = (
        sa.update(Run)
        .where(
            col(Run.id) == run_id,
            col(Run.status) == RunStatus.RUNNING,
            col(Run.lease_owner) == rt.owner,
            col(Run.generation) == generation,
        )
        .values(lease_expires_at=_until(rt))
    )
    return bool(await _update(rt, stmt))


async def release(rt: Runtime, run_id: str, generation: int) -> None:
    """Hand the run back at once (graceful shutdown): the next worker need not wait for the lease to lapse."""
    stmt = (
        sa.update(Run)
        .where(col(Run.id) == run_id, col(Run.lease_owner) == rt.owner, col(Run.generation) == generation)
        .values(lease_expires_at=utcnow() - timedelta(seconds=1))
    )
    await _update(rt, stmt)


@asynccontextmanager
async def _heartbeat(rt: Runtime, run_id: str, generation: int, work: asyncio.Task[T]) -> AsyncIterator[None]:
    async def beat() -> None:
        while True:
            await asyncio.sleep(rt.lease_seconds / 3)
            if not await renew(rt, run_id, generation):
                work.cancel()
                return

    beater = asyncio.create_task(beat())
    try:
        yield
    finally:
        beater.cancel()


async def holding(rt: Runtime, run_id: str, generation: int, step: Callable[[], Awaitable[T]]) -> T:
    """Run one step while renewing the lease; raises `LeaseLost` (and stops the step) if the lease is lost."""
    if not await renew(rt, run_id, generation):
        raise LeaseLost(run_id)
    work: asyncio.Task[T] = asyncio.ensure_future(step())
    async with _heartbeat(rt, run_id, generation, work):
        try:
            return await work
        except asyncio.CancelledError:
            if work.cancelled() and not await renew(rt, run_id, generation):
                raise LeaseLost(run_id) from None
            raise
