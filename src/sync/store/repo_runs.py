"""Runs and their operation log. Import through `repo`."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from enrolsync.sync.store.db import dialect_insert
from enrolsync.sync.store.tables import (
    ACTIVE_RUN_STATUSES,
    QUEUED_RUN_PREDICATE,
    Pipeline,
    Run,
    RunMode,
    RunOp,
    RunOpStatus,
    RunScope,
    RunStatus,
    utcnow,
)

DEFAULT_LIMIT = 100
_FINISHED = frozenset({RunStatus.SUCCEEDED, RunStatus.PARTIALLY_FAILED, RunStatus.FAILED, RunStatus.CANCELLED})
_INSERT_CHUNK = 500
# A coalesced run may finish between our insert and our look-up; after this many rounds something is wrong.
_COALESCE_ATTEMPTS = 5
# How much of the HR system a run re-reads: a request joins a queued run by widening it, never narrowing it.
_BREADTH = {"people": 0, "incremental": 1, "full": 2}


# --- runs --------------------------------------------------------------------------------------------------


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
    commits.

    Raises:
        LookupError: there is no such pipeline.
    """
    pipeline = await session.get(Pipeline, pipeline_id)
    if pipeline is None:
        raise LookupError(f"no pipeline {pipeline_id}")
    for _ in range(_COALESCE_ATTEMPTS):
        run = Run(
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
            .values(run.model_dump())
            .on_conflict_do_nothing(index_elements=["pipeline_id"], index_where=sa.text(QUEUED_RUN_PREDICATE))
            .returning(Run)
        )
        created = (await session.exec(stmt)).scalars().first()
        if created is not None:
            return created, True
        waiting = await queued_run(session, pipeline_id=pipeline_id)
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
    lost in a queued incremental run)."""
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


async def queued_run(session: AsyncSession, *, pipeline_id: str) -> Run | None:
    """The pipeline's queued (waiting) run, if any."""
    stmt = select(Run).where(Run.pipeline_id == pipeline_id, Run.status == RunStatus.QUEUED)
    return (await session.exec(stmt.execution_options(populate_existing=True))).first()


async def get_run(session: AsyncSession, *, run_id: str) -> Run | None:
    return await session.get(Run, run_id, populate_existing=True)


async def active_run(session: AsyncSession, *, pipeline_id: str) -> Run | None:
    """The pipeline's queued or running run, if any."""
    stmt = select(Run).where(Run.pipeline_id == pipeline_id, col(Run.status).in_(_values(ACTIVE_RUN_STATUSES)))
    return (await session.exec(stmt.execution_options(populate_existing=True))).first()


async def list_runs(
    session: AsyncSession,
    *,
    pipeline_id: str | None = None,
    status: str | Collection[str] | None = None,
    before: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> list[Run]:
    """Runs newest first; pass the last id of a page as `before` for the next (older) page (an unknown id gives
    an empty page)."""
    stmt = select(Run).order_by(col(Run.created_at).desc(), col(Run.id).desc()).limit(limit)
    if pipeline_id is not None:
        stmt = stmt.where(Run.pipeline_id == pipeline_id)
    if status is not None:
        stmt = stmt.where(col(Run.status).in_(_values(status)))
    if before is not None:
        cursor = await session.get(Run, before)
        if cursor is None:
            return []
        stmt = stmt.where(
            sa.or_(
                col(Run.created_at) < cursor.created_at,
                sa.and_(col(Run.created_at) == cursor.created_at, col(Run.id) < cursor.id),
            )
        )
    return list((await session.exec(stmt)).all())


async def set_run_status(
    session: AsyncSession,
    *,
    run_id: str,
    status: RunStatus,
    error: str | None = None,
    from_statuses: Collection[RunStatus] | None = None,
    now: datetime | None = None,
) -> Run | None:
    """Move a run to `status`, atomically: with `from_statuses`, only if it is in one of them.

    RUNNING stamps `started_at` (first time only); a finished status stamps `finished_at`. `error` is stored
    when given and left as it was otherwise.

    Returns:
        The updated run, or None when there is no such run or it was not in `from_statuses`.

    Raises:
        sqlalchemy.exc.IntegrityError: moving it to queued/running while another run of its pipeline is active.
    """
    moment = now or utcnow()
    values: dict[str, Any] = {"status": str(status)}
    if error is not None:
        values["error"] = error
    if status == RunStatus.RUNNING:
        values["started_at"] = sa.func.coalesce(col(Run.started_at), moment)
    if status in _FINISHED:
        values["finished_at"] = moment
    stmt = sa.update(Run).where(col(Run.id) == run_id).values(values)
    if from_statuses is not None:
        stmt = stmt.where(col(Run.status).in_(_values(from_statuses)))
    result = await session.exec(stmt)
    if result.rowcount == 0:
        return None
    return await session.get(Run, run_id, populate_existing=True)


async def add_run_progress(
    session: AsyncSession,
    *,
    run_id: str,
    people_read: int = 0,
    ops_planned: int = 0,
    ops_applied: int = 0,
    counters: Mapping[str, int] | None = None,
) -> Run:
    """Add to a run's progress numbers and named counters (increments, safe from concurrent sessions).

    Raises:
        LookupError: there is no such run.
    """
    bump = (
        sa.update(Run)
        .where(col(Run.id) == run_id)
        .values(
            people_read=col(Run.people_read) + people_read,
            ops_planned=col(Run.ops_planned) + ops_planned,
            ops_applied=col(Run.ops_applied) + ops_applied,
        )
    )
    # The UPDATE comes first: it takes the row's write lock, so the counters read below cannot go stale.
    await session.exec(bump)
    run = await session.get(Run, run_id, populate_existing=True)
    if run is None:
        raise LookupError(f"no run {run_id}")
    if counters:
        merged = dict(run.counters)
        for name, amount in counters.items():
            merged[name] = int(merged.get(name, 0)) + amount
        run.counters = merged
        session.add(run)
        await session.flush()
    return run


# --- run ops -----------------------------------------------------------------------------------------------


async def add_run_ops(session: AsyncSession, *, run_id: str, ops: Sequence[Mapping[str, Any]]) -> list[int]:
    """Append planned ops to a run's log, numbered after the ones it has; returns their seq numbers in order.

    Args:
        ops: each an `Op` as JSON (`op.model_dump(mode="json")`), stored verbatim; needs `hr_id` and `kind`.

    Raises:
        ValueError: an op lacks `hr_id` or `kind`.
    """
    last = (await session.exec(select(func.max(RunOp.seq)).where(RunOp.run_id == run_id))).one()
    start = (last or 0) + 1
    now = utcnow()
    seqs = list(range(start, start + len(ops)))
    rows: list[dict[str, Any]] = []
    for seq, op in zip(seqs, ops, strict=True):
        if "hr_id" not in op or "kind" not in op:
            raise ValueError(f"op #{seq - start} has no hr_id or kind")
        rows.append(
            {
                "run_id": run_id,
                "seq": seq,
                "hr_id": str(op["hr_id"]),
                "kind": str(op["kind"]),
                "op": dict(op),
                "status": str(RunOpStatus.PLANNED),
                "attempts": 0,
                "updated_at": now,
            }
        )
    table: Any = RunOp.__table__  # type: ignore[attr-defined]
    for offset in range(0, len(rows), _INSERT_CHUNK):
        await session.exec(sa.insert(table), params=rows[offset : offset + _INSERT_CHUNK])
    return seqs


async def list_run_ops(
    session: AsyncSession,
    *,
    run_id: str,
    hr_id: str | None = None,
    kind: str | Collection[str] | None = None,
    status: str | Collection[str] | None = None,
    after_seq: int | None = None,
    limit: int = 500,
) -> list[RunOp]:
    """A run's ops in plan order, optionally filtered; pass the last seq of a page as `after_seq` for the next."""
    stmt = select(RunOp).where(RunOp.run_id == run_id).order_by(col(RunOp.seq)).limit(limit)
    if hr_id is not None:
        stmt = stmt.where(RunOp.hr_id == hr_id)
    if kind is not None:
        stmt = stmt.where(col(RunOp.kind).in_(_values(kind)))
    if status is not None:
        stmt = stmt.where(col(RunOp.status).in_(_values(status)))
    if after_seq is not None:
        stmt = stmt.where(col(RunOp.seq) > after_seq)
    return list((await session.exec(stmt.execution_options(populate_existing=True))).all())


async def record_op_outcome(
    session: AsyncSession,
    *,
    run_id: str,
    seq: int,
    status: RunOpStatus,
    error: str | None = None,
    ref: str | None = None,
) -> None:
    """Record what happened to one op. Every status but NOT_ATTEMPTED counts an attempt (PLANNED with an
    error is a try to repeat); `error` replaces the last one (None clears it); `ref` is kept unless given.

    Raises:
        LookupError: the run has no op `seq`.
    """
    values: dict[str, Any] = {"status": str(status), "last_error": error, "updated_at": utcnow()}
    if status != RunOpStatus.NOT_ATTEMPTED:
        values["attempts"] = col(RunOp.attempts) + 1
    if ref is not None:
        values["ref"] = ref
    stmt = sa.update(RunOp).where(col(RunOp.run_id) == run_id, col(RunOp.seq) == seq).values(values)
    result = await session.exec(stmt)
    if result.rowcount == 0:
        raise LookupError(f"run {run_id} has no op {seq}")


def _values(selection: str | Collection[str]) -> list[str]:
    # A str is itself a collection of str: treat it as one value, not as its characters.
    return [selection] if isinstance(selection, str) else [str(value) for value in selection]
