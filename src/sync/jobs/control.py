"""Steering runs from outside: cancel one, approve one the deletion guard blocked, apply a reviewed dry run.

Each function changes the run rows in the caller's session, lets the caller add rows to the same transaction
(`before_commit`: the API's audit entry), commits, and only then hands a run to the queue, so a worker never
looks for a run that is not committed. The runner needs no special case for any of them:
- a cancelled run is final: `runner.begin` skips it and the executor stops between two waves of
  batches, at its next lease renewal (about a second);
- an approved run goes back to `queued` as its next generation (its workflow for the last one has ended) with
  `approved_by`, which the guard step honours; it is `planned`, so the plan step is skipped;
- a run applying a dry run starts with a copy of the dry run's ops and planning state (`plan_run_id` set,
  `planned`), so planning is skipped and exactly the reviewed operations are applied.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from enrolsync.sync.jobs.run_requests import RunQueue
from enrolsync.sync.run import quarantine
from enrolsync.sync.store import ledger, repo
from enrolsync.sync.store.tables import Pipeline, Run, RunOp, RunOpStatus, RunStatus

BeforeCommit = Callable[[Run], object] | None

CANCELLABLE = (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.BLOCKED)


class RunControlError(Exception):
    """A run cannot be steered as asked; the message says why in words an operator can act on."""


class RunNotFound(RunControlError, LookupError):
    pass


class RunStateConflict(RunControlError):
    """The run (or its pipeline) is not in a state that allows this."""


async def _load(session: AsyncSession, run_id: str) -> Run:
    run = await session.get(Run, run_id, populate_existing=True)
    if run is None:
        raise RunNotFound(f"no run with id {run_id!r}")
    return run


async def _commit(session: AsyncSession, run: Run, before_commit: BeforeCommit) -> None:
    if before_commit is not None:
        before_commit(run)
    await session.commit()


async def cancel_run(
    session: AsyncSession, *, run_id: str, actor: str, now: datetime, before_commit: BeforeCommit = None
) -> Run:
    """Cancel a queued, running or blocked run. A running run stops between two waves of
    batches, within about a second (the executor sees it when it renews its lease).

    Raises:
        RunNotFound: no such run.
        RunStateConflict: the run has already finished.
    """
    run = await _load(session, run_id)
    moved = await session.exec(
        sa.update(Run)
        .where(col(Run.id) == run_id, col(Run.status).in_([s.value for s in CANCELLABLE]))
        .values(status=RunStatus.CANCELLED.value, finished_at=now)
    )
    if moved.rowcount == 0:
        await session.rollback()
        run = await _load(session, run_id)
        raise RunStateConflict(f"the run is {run.status}; only queued, running or blocked runs can be cancelled")
    run = await _load(session, run_id)
    # The finish step leaves a cancelled run alone, so the outcome counts are taken here.
    run.cancelled_by = actor
    run.counters = {**run.counters, "ops": await ledger.op_counts(session, run_id=run_id)}
    session.add(run)
    await _commit(session, run, before_commit)
    return run


async def approve_run(
    session: AsyncSession,
    *,
    run_id: str,
    actor: str,
    queue: RunQueue,
    now: datetime,
    before_commit: BeforeCommit = None,
) -> Run:
    """Approve a run the deletion guard blocked: record the approver, queue it again as its next generation (the
    workflow of the generation that blocked has ended), hand it to the queue.

    Raises:
        RunNotFound: no such run.
        RunStateConflict: the run is not blocked, or another run of its pipeline is waiting in the queue.
        PipelineQuarantined: the pipeline is quarantined; an approved run would start against failing systems.
    """
    run = await _load(session, run_id)
    if run.status != RunStatus.BLOCKED:
        raise RunStateConflict(f"the run is {run.status}; only a run the deletion guard blocked can be approved")
    await quarantine.ensure_open(session, run.pipeline_id)
    try:
        moved = await session.exec(
            sa.update(Run)
            .where(col(Run.id) == run_id, col(Run.status) == RunStatus.BLOCKED.value)
            .values(
                status=RunStatus.QUEUED.value,
                approved_by=actor,
                approved_at=now,
                generation=col(Run.generation) + 1,
                lease_owner=None,
                lease_expires_at=None,
            )
        )
    except IntegrityError:
        await session.rollback()
        raise RunStateConflict(
            "another run of this pipeline is waiting in the queue; approve this one once it has started"
        ) from None
    if moved.rowcount == 0:
        await session.rollback()
        raise RunStateConflict("the run changed while it was being approved; read it again")
    run = await _load(session, run_id)
    await _commit(session, run, before_commit)
    await queue.enqueue(run.id, generation=run.generation)
    return run


async def _check_plan(session: AsyncSession, plan: Run, *, now: datetime, max_age: timedelta) -> None:
    if plan.mode != "plan" or plan.status != RunStatus.SUCCEEDED:
        raise RunStateConflict(
            f"only a finished dry run (mode plan, succeeded) can be applied; this run is {plan.mode}, {plan.status}"
        )
    pipeline = await session.get(Pipeline, plan.pipeline_id, populate_existing=True)
    if pipeline is None:
        raise RunNotFound(f"the pipeline {plan.pipeline_id!r} of the dry run is gone")
    if pipeline.version != plan.pipeline_version:
        raise RunStateConflict(
            f"the pipeline changed since the dry run (version {plan.pipeline_version} then, {pipeline.version} "
            "now); start a new dry run"
        )
    if not await ledger.has_ops(session, run_id=plan.id):
        # A run without ops would be planned afresh by the runner: not what was reviewed, and nothing to do.
        raise RunStateConflict("the dry run planned no operations; there is nothing to apply")
    finished = plan.finished_at or plan.created_at
    if now - finished > max_age:
        raise RunStateConflict(f"the dry run is older than {max_age}; start a new dry run")
    later = await session.exec(
        select(Run).where(
            col(Run.pipeline_id) == plan.pipeline_id,
            col(Run.mode) == "apply",
            col(Run.started_at).is_not(None),
            col(Run.started_at) >= plan.created_at,
        )
    )
    changed_by = later.first()
    if changed_by is not None:
        raise RunStateConflict(f"run {changed_by.id} changed the target after this dry run; start a new dry run")


async def apply_plan(
    session: AsyncSession,
    *,
    plan_run_id: str,
    actor: str,
    queue: RunQueue,
    now: datetime,
    max_age: timedelta,
    before_commit: BeforeCommit = None,
) -> Run:
    """Queue a new applied run of exactly the operations a finished dry run planned.

    Refused when the pipeline has a new version since the dry run, when the dry run is older than `max_age`, or
    when an applied run has touched the target since the dry run started (its plan may undo that run's work).

    Raises:
        RunNotFound: no such run.
        RunStateConflict: not a finished dry run, stale as above, or a run of the pipeline is waiting to start.
        PipelineQuarantined: the pipeline is quarantined, as for any run requested by an admin.
    """
    plan = await _load(session, plan_run_id)
    await _check_plan(session, plan, now=now, max_age=max_age)
    await quarantine.ensure_open(session, plan.pipeline_id)
    run, created = await repo.create_run(
        session,
        pipeline_id=plan.pipeline_id,
        trigger="admin",
        mode="apply",
        scope=plan.scope,
        hr_ids=plan.hr_ids,
        plan_run_id=plan.id,
    )
    if not created:
        # Read the id before the rollback: it expires every loaded object, and reading an expired attribute
        # would load it lazily, which an async session cannot do (MissingGreenlet, a 500 instead of this 409).
        waiting = run.id
        await session.rollback()
        raise RunStateConflict(f"run {waiting} of this pipeline is waiting to start; apply once it has started")
    # What planning found passes on (the guard judges the copied plan by its verdict, as it would have after
    # planning); the dry run's outcome counts and who steered it are its own.
    run.planned, run.guard, run.conflicted = True, plan.guard, plan.conflicted
    run.counters = {key: value for key, value in plan.counters.items() if key != "ops"}
    run.cursor, run.people_read, run.ops_planned = plan.cursor, plan.people_read, plan.ops_planned
    run.applied_by = actor
    session.add(run)
    await _copy_ops(session, source_run_id=plan.id, run_id=run.id, now=now)
    await _commit(session, run, before_commit)
    await queue.enqueue(run.id)
    return run


async def _copy_ops(session: AsyncSession, *, source_run_id: str, run_id: str, now: datetime) -> None:
    """Copy a run's ops as planned ops of another run, in one INSERT ... SELECT (no rows pass through memory)."""
    await session.flush()
    columns = ["run_id", "seq", "hr_id", "kind", "op", "status", "attempts", "updated_at"]
    rows = sa.select(
        sa.literal(run_id, sa.String()),
        col(RunOp.seq),
        col(RunOp.hr_id),
        col(RunOp.kind),
        col(RunOp.op),
        sa.literal(RunOpStatus.PLANNED.value, sa.String()),
        sa.literal(0, sa.Integer()),
        sa.literal(now, RunOp.__table__.c.updated_at.type),  # type: ignore[attr-defined]
    ).where(col(RunOp.run_id) == source_run_id)
    await session.exec(sa.insert(RunOp).from_select(columns, rows))
