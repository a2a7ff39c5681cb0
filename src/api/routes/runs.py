"""Runs: ask for one (it is queued; a worker executes it), follow its progress and read its operation log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import structlog
from fastapi import APIRouter, Body, Query, Response
from sqlmodel import col, select

from enrolsync.api import audit, queries
from enrolsync.api.auth import Operator, Viewer
from enrolsync.api.deps import AfterQuery, ClockDep, LimitQuery, QueueDep, SessionDep
from enrolsync.api.problems import not_found, problem_responses
from enrolsync.api.schemas import Page, RunCreate
from enrolsync.api.schemas_runs import (
    GuardVerdictPublic,
    RejectedRecord,
    RunApproval,
    RunCounters,
    RunOpPublic,
    RunProgress,
    RunPublic,
)
from enrolsync.connectors.ops import OpKind
from enrolsync.sync.jobs.run_requests import PipelineNotFound, request_run
from enrolsync.sync.plan.guard import GuardVerdict
from enrolsync.sync.run.planning import recorded_verdict
from enrolsync.sync.run.steps import NO_VERDICT
from enrolsync.sync.store import ledger
from enrolsync.sync.store.tables import Pipeline, Run, RunOp, RunOpStatus, RunStatus

router = APIRouter(tags=["runs"])
log = structlog.get_logger("enrolsync.api")


def _duration(run: Run, now: datetime) -> float | None:
    if run.started_at is None:
        return None
    return ((run.finished_at or now) - run.started_at).total_seconds()


def _blocked_reason(run: Run, verdict: GuardVerdict | None) -> str | None:
    if run.status != RunStatus.BLOCKED:
        return None
    # The guard step blocks on the recorded verdict, or on `NO_VERDICT` for a plan made by older code.
    return (verdict or NO_VERDICT).reason


def run_public(run: Run, *, now: datetime, ops: dict[str, dict[str, int]] | None = None) -> RunPublic:
    """The API view of a run; `ops` are live counts when given, else those the run recorded when it finished."""
    verdict = recorded_verdict(run)
    approval = None
    if run.approved_by is not None and run.approved_at is not None:
        approval = RunApproval(by=run.approved_by, at=run.approved_at)
    return RunPublic(
        id=run.id,
        pipeline_id=run.pipeline_id,
        pipeline_version=run.pipeline_version,
        status=run.status,
        trigger=run.trigger,
        mode=run.mode,
        scope=run.scope,
        hr_ids=run.hr_ids,
        progress=RunProgress(people_read=run.people_read, ops_planned=run.ops_planned, ops_applied=run.ops_applied),
        ops=ops if ops is not None else dict(run.counters.get("ops", {})),
        counters=RunCounters.model_validate(run.counters),  # all but `ops`, which is answered above
        conflicted=run.conflicted,
        rejected=[RejectedRecord.model_validate(r) for r in run.rejected],
        guard=None if verdict is None else GuardVerdictPublic.model_validate(verdict, from_attributes=True),
        blocked_reason=_blocked_reason(run, verdict),
        approval=approval,
        cancelled_by=run.cancelled_by,
        applied_by=run.applied_by,
        error=run.error,
        plan_run_id=run.plan_run_id,
        created_at=run.created_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
        duration_seconds=_duration(run, now),
    )


def run_op_public(op: RunOp) -> RunOpPublic:
    """The API view of one logged operation."""
    assert op.id is not None  # noqa: S101 - rows read back from the database always have their id
    return RunOpPublic(
        id=op.id,
        seq=op.seq,
        hr_id=op.hr_id,
        kind=op.kind,
        op=op.op,
        status=op.status,
        attempts=op.attempts,
        last_error=op.last_error,
        ref=op.ref,
        updated_at=op.updated_at,
    )


_COALESCED = {"model": RunPublic, "description": "A run of this pipeline is already queued or running: that run."}


@router.post(
    "/pipelines/{pipeline_id}/runs",
    status_code=202,
    responses={200: _COALESCED, **problem_responses(404, 422)},
)
async def start_run(
    pipeline_id: str,
    principal: Operator,
    session: SessionDep,
    queue: QueueDep,
    now: ClockDep,
    response: Response,
    body: Annotated[RunCreate | None, Body()] = None,
) -> RunPublic:
    """Queue a run of the pipeline (a dry run unless `mode` is `apply`); `Location` names the run to follow.

    One run per pipeline is active at a time: while one is queued or running, it is answered (200) instead.
    """
    request = body or RunCreate()
    try:
        run, created = await request_run(
            session,
            pipeline_id=pipeline_id,
            mode=request.mode,
            scope=request.scope,
            hr_ids=request.hr_ids,
            trigger="admin",
            queue=queue,
        )
    except PipelineNotFound:
        raise not_found("pipeline", pipeline_id) from None
    # request_run commits before it enqueues (a worker must find the row); the audit entry follows at once.
    detail = {"pipeline_id": pipeline_id, "mode": run.mode, "scope": run.scope, "coalesced": not created}
    audit.record(
        session, principal, action="run.start", resource_type="run", resource_id=run.id, at=now(), detail=detail
    )
    await session.commit()
    response.status_code = 202 if created else 200
    response.headers["Location"] = f"/runs/{run.id}"
    log.info("run.requested", run_id=run.id, pipeline_id=pipeline_id, created=created, mode=run.mode, scope=run.scope)
    return run_public(run, now=now())


@router.get("/pipelines/{pipeline_id}/runs", responses=problem_responses(400, 404))
async def list_runs(
    pipeline_id: str,
    _: Viewer,
    session: SessionDep,
    now: ClockDep,
    after: AfterQuery = None,
    limit: LimitQuery = queries.DEFAULT_LIMIT,
) -> Page[RunPublic]:
    """The pipeline's runs, newest first."""
    if await session.get(Pipeline, pipeline_id) is None:
        raise not_found("pipeline", pipeline_id)
    stmt = select(Run).where(col(Run.pipeline_id) == pipeline_id)
    items, following = await queries.page(session, stmt, queries.RUNS_ORDER, after=after, limit=limit)
    moment = now()
    return Page(items=[run_public(run, now=moment) for run in items], next=following)


@router.get("/runs/{run_id}", responses=problem_responses(404))
async def get_run(run_id: str, _: Viewer, session: SessionDep, now: ClockDep) -> RunPublic:
    """One run: status, progress, operations by kind and outcome (live while it runs), counters, the deletion
    guard's verdict, who steered it, and timings."""
    run = await session.get(Run, run_id)
    if run is None:
        raise not_found("run", run_id)
    return run_public(run, now=now(), ops=await ledger.op_counts(session, run_id=run_id))


@router.get("/runs/{run_id}/operations", responses=problem_responses(400, 404))
async def list_operations(
    run_id: str,
    _: Viewer,
    session: SessionDep,
    hr_id: Annotated[str | None, Query(max_length=200)] = None,
    kind: OpKind | None = None,
    status: RunOpStatus | None = None,
    after: AfterQuery = None,
    limit: LimitQuery = queries.DEFAULT_LIMIT,
) -> Page[RunOpPublic]:
    """The run's operations in plan order, optionally only one person's, one kind or one status."""
    if await session.get(Run, run_id) is None:
        raise not_found("run", run_id)
    stmt = select(RunOp).where(col(RunOp.run_id) == run_id)
    if hr_id is not None:
        stmt = stmt.where(col(RunOp.hr_id) == hr_id)
    if kind is not None:
        stmt = stmt.where(col(RunOp.kind) == kind.value)
    if status is not None:
        stmt = stmt.where(col(RunOp.status) == status.value)
    items, following = await queries.page(session, stmt, queries.OPS_ORDER, after=after, limit=limit)
    return Page(items=[run_op_public(op) for op in items], next=following)
