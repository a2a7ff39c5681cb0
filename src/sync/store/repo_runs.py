"""Queueing runs: one waiting run per pipeline, which later requests join. Import through `repo`.

What a run does to itself (its lease, steps, outcomes) is written by the engine (`sync/run/`, `store/ledger.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from enrolsync.sync.store.db import dialect_insert, row_values
from enrolsync.sync.store.tables import (
    QUEUED_RUN_PREDICATE,
    Pipeline,
    Run,
    RunMode,
    RunScope,
    RunStatus,
)

# A coalesced run may finish between our insert and our look-up; after this many rounds something is wrong.
_COALESCE_ATTEMPTS = 5
# How much of the HR system a run re-reads: a request joins a queued run by widening it, never narrowing it.
_BREADTH = {"people": 0, "incremental": 1, "full": 2}


async def create_run(
    session: AsyncSession,
    *,
    pipeline_id: str,
    trigger: str,
    mode: RunMode,
    scope: RunScope,
    hr_ids: Sequence[str] = (),
    plan_run_id: str | None = None,
) -> tuple[Run, bool]:
    """Queue a run at the pipeline's current version; returns (run, created).

    When the pipeline already has a queued run, that run is returned with created=False; a person-scoped
    request joins a queued person-scoped run of the same mode (its people are added). The partial unique index
    `uq_run_queued_per_pipeline` decides, through INSERT ... ON CONFLICT DO NOTHING, so concurrent callers in
    any process never make two (no savepoint needed, and PostgreSQL keeps the caller's transaction usable).
    A running run does not block a queued one: the worker starts it when the running one ends. The caller
    commits; a join holds the waiting run locked until then, so the run returned holds the request's people
    once the caller has committed (see `_join`).

    Raises:
        LookupError: there is no such pipeline.
    """
    pipeline = await session.get(Pipeline, pipeline_id)
    if pipeline is None:
        raise LookupError(f"no pipeline {pipeline_id}")
    for _ in range(_COALESCE_ATTEMPTS):
        run = row_values(
            Run,
            pipeline_id=pipeline_id,
            pipeline_version=pipeline.version,
            trigger=trigger,
            mode=mode,
            scope=scope,
            hr_ids=sorted(set(hr_ids)),
            plan_run_id=plan_run_id,
            status=RunStatus.QUEUED,
        )
        stmt = (
            dialect_insert(session, Run)
            .values(run)
            .on_conflict_do_nothing(index_elements=["pipeline_id"], index_where=sa.text(QUEUED_RUN_PREDICATE))
            .returning(Run)
        )
        created = (await session.exec(stmt)).scalars().first()
        if created is not None:
            return created, True
        waiting = await queued_run(session, pipeline_id=pipeline_id, lock=True)
        if waiting is None:
            continue  # it started between our insert and our look-up: try again
        if waiting.mode == mode and (scope == waiting.scope == "people" or _BREADTH[scope] > _BREADTH[waiting.scope]):
            joined = await _join(session, waiting, scope, hr_ids)
            if joined is None:
                continue  # it started meanwhile: queue anew
            return joined, False
        return waiting, False
    raise RuntimeError(f"could not queue a run for pipeline {pipeline_id}: queued runs keep starting")


async def _join(session: AsyncSession, run: Run, scope: RunScope, hr_ids: Sequence[str]) -> Run | None:
    """Widen a queued run to cover a request too, unless it started meanwhile (compare-and-set on its status):
    people are added to a person-scoped run; a broader scope replaces a narrower one (a full reconcile is not
    lost in a queued incremental run).

    The union is computed here from `run`, so `run` must be the latest committed state and stay so until the
    caller commits, or two concurrent joins each write their own union and one request's people are lost while
    it is told they are in. `run` is read locked (`queued_run(lock=True)`): PostgreSQL holds the row lock,
    making later joiners (and the worker starting the run) wait and then read this join's result; SQLite has
    no row locks, but the INSERT attempt in `create_run` already took the database's write lock, which
    serialises whole transactions the same way.
    """
    if scope == run.scope:
        people = sorted(set(run.hr_ids) | set(hr_ids))
        if people == sorted(run.hr_ids):
            return run
        values: dict[str, Any] = {"hr_ids": people}
    else:
        values = {"scope": scope, "hr_ids": []}
    stmt = (
        sa.update(Run).where(col(Run.id) == run.id, col(Run.status) == RunStatus.QUEUED).values(**values).returning(Run)
    )
    return (await session.exec(stmt)).scalars().first()


def run_covers(run: Run, *, mode: RunMode, hr_ids: Sequence[str]) -> bool:
    """True when `run` in `mode` re-reads every person in `hr_ids`: a full run reads everyone, a person-scoped
    one its own people (an incremental run reads only what the source says changed, so it covers no one)."""
    if run.mode != mode:
        return False
    return run.scope == "full" or (run.scope == "people" and set(hr_ids) <= set(run.hr_ids))


async def queued_run(session: AsyncSession, *, pipeline_id: str, lock: bool = False) -> Run | None:
    """The pipeline's queued (waiting) run, if any; `lock` holds its row until the caller's transaction ends
    (SELECT ... FOR UPDATE on PostgreSQL; SQLite renders no lock and relies on its database-wide write lock)."""
    stmt = select(Run).where(Run.pipeline_id == pipeline_id, Run.status == RunStatus.QUEUED)
    if lock:
        stmt = stmt.with_for_update()
    return (await session.exec(stmt.execution_options(populate_existing=True))).first()
