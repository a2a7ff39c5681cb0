"""Steering runs: cancel, approve a run the deletion guard blocked, apply a reviewed dry run. Operators and up."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

import structlog
from fastapi import APIRouter, Response
from sqlmodel.ext.asyncio.session import AsyncSession

from enrolsync.api import audit
from enrolsync.api.auth import Operator, Principal
from enrolsync.api.deps import ClockDep, QueueDep, SessionDep, SettingsDep
from enrolsync.api.problems import conflict, not_found, problem_responses
from enrolsync.api.routes.runs import run_public
from enrolsync.api.schemas_runs import RunPublic
from enrolsync.sync.jobs import control
from enrolsync.sync.store.tables import Run

router = APIRouter(prefix="/runs/{run_id}", tags=["runs"])
log = structlog.get_logger("enrolsync.api")


@contextmanager
def _refusals(run_id: str) -> Iterator[None]:
    try:
        yield
    except control.RunNotFound:
        raise not_found("run", run_id) from None
    except control.RunStateConflict as error:
        raise conflict(str(error)) from None


def _audit(
    session: AsyncSession, principal: Principal, action: str, at: Callable[[], datetime], **detail: str
) -> Callable[[Run], object]:
    def add(run: Run) -> object:
        return audit.record(
            session, principal, action=action, resource_type="run", resource_id=run.id, at=at(), detail=detail
        )

    return add


@router.post("/cancel", responses=problem_responses(404, 409))
async def cancel_run(run_id: str, principal: Operator, session: SessionDep, now: ClockDep) -> RunPublic:
    """Cancel a queued, running or blocked run. A running run stops between two waves of batches, within
    about a second; operations already applied stay applied."""
    with _refusals(run_id):
        run = await control.cancel_run(
            session,
            run_id=run_id,
            actor=principal.subject,
            now=now(),
            before_commit=_audit(session, principal, "run.cancel", now),
        )
    log.info("run.cancelled", run_id=run_id)
    return run_public(run, now=now())


@router.post("/approve", responses=problem_responses(404, 409))
async def approve_run(
    run_id: str, principal: Operator, session: SessionDep, queue: QueueDep, now: ClockDep
) -> RunPublic:
    """Approve a run the deletion guard blocked (it deactivates more accounts than the pipeline allows): it is
    queued again and applies its plan as it stands."""
    with _refusals(run_id):
        run = await control.approve_run(
            session,
            run_id=run_id,
            actor=principal.subject,
            queue=queue,
            now=now(),
            before_commit=_audit(session, principal, "run.approve", now),
        )
    log.info("run.approved", run_id=run_id)
    return run_public(run, now=now())


@router.post("/apply", status_code=202, responses=problem_responses(404, 409))
async def apply_plan(
    run_id: str,
    principal: Operator,
    session: SessionDep,
    queue: QueueDep,
    now: ClockDep,
    settings: SettingsDep,
    response: Response,
) -> RunPublic:
    """Apply exactly the operations a finished dry run planned, as a new run (`Location` names it).

    Refused (409) when the pipeline has changed since the dry run, the dry run is older than the configured
    maximum age (`ENROLSYNC_PLAN_MAX_AGE_HOURS`), or an applied run has changed the target since.
    """
    with _refusals(run_id):
        run = await control.apply_plan(
            session,
            plan_run_id=run_id,
            actor=principal.subject,
            queue=queue,
            now=now(),
            max_age=timedelta(hours=settings.plan_max_age_hours),
            before_commit=_audit(session, principal, "run.apply", now, plan_run_id=run_id),
        )
    response.headers["Location"] = f"/runs/{run.id}"
    log.info("run.plan_applied", run_id=run.id, plan_run_id=run_id)
    return run_public(run, now=now())
