"""Quarantine: a pipeline whose runs keep failing as a whole is held back (see `sync/run/quarantine.py`).

Its state shows on `GET /pipelines/{id}` (`quarantine`); run requests for a quarantined pipeline answer 409
naming the reason; an operator lifts a quarantine here once the cause is fixed (the worker also lifts it by
itself when a probe of both connections succeeds).
"""

from __future__ import annotations

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlmodel.ext.asyncio.session import AsyncSession

from enrolsync.api import audit
from enrolsync.api.auth import Operator
from enrolsync.api.deps import ClockDep, SessionDep
from enrolsync.api.problems import CONFLICT, ProblemDocument, conflict, not_found, problem_response, problem_responses
from enrolsync.api.schemas import QuarantinePublic
from enrolsync.sync.run import quarantine
from enrolsync.sync.store.tables import Pipeline, PipelineHealth

router = APIRouter(prefix="/pipelines/{pipeline_id}/quarantine", tags=["pipelines"])
log = structlog.get_logger("enrolsync.api")


def quarantine_public(row: PipelineHealth | None) -> QuarantinePublic | None:
    """The API view of a pipeline's health; None for a healthy pipeline."""
    if row is None or (row.quarantined_at is None and not row.failures):
        return None
    return QuarantinePublic(
        quarantined=row.quarantined_at is not None,
        reason=row.reason,
        quarantined_at=row.quarantined_at,
        failures=row.failures,
        last_error=row.last_error,
        hold_until=row.hold_until,
        probes=row.probes,
        next_probe_at=row.next_probe_at,
        last_probe_at=row.last_probe_at,
        last_probe_detail=row.last_probe_detail,
    )


async def pipeline_quarantine(session: AsyncSession, pipeline_id: str) -> QuarantinePublic | None:
    """A pipeline's failure and quarantine state, or None when it is healthy."""
    return quarantine_public(await quarantine.health(session, pipeline_id))


async def on_quarantined(request: Request, exc: Exception) -> JSONResponse:
    """Exception handler: a run requested for a quarantined pipeline is a 409 naming the reason."""
    if not isinstance(exc, quarantine.PipelineQuarantined):
        raise exc
    detail = (
        f"the pipeline is quarantined: {exc.reason}; once the cause is fixed, an operator can lift it "
        f"(POST /pipelines/{exc.pipeline_id}/quarantine/lift)"
    )
    return problem_response(request, ProblemDocument(type=CONFLICT, title="Conflict", status=409, detail=detail))


@router.post("/lift", responses=problem_responses(404, 409))
async def lift_quarantine(
    pipeline_id: str, principal: Operator, session: SessionDep, now: ClockDep
) -> QuarantinePublic:
    """End the pipeline's quarantine: scheduled and event-triggered runs start again, run requests are accepted.
    Refused (409) when the pipeline is not quarantined."""
    if await session.get(Pipeline, pipeline_id) is None:
        raise not_found("pipeline", pipeline_id)
    reason = await quarantine.quarantined(session, pipeline_id)
    row = await quarantine.lift(session, pipeline_id, now=now())
    if row is None:
        raise conflict("the pipeline is not quarantined")
    audit.record(
        session,
        principal,
        action="pipeline.quarantine_lift",
        resource_type="pipeline",
        resource_id=pipeline_id,
        at=now(),
        detail={"reason": (reason or "")[:200]},
    )
    await session.commit()
    log.info("pipeline.quarantine_lifted", pipeline_id=pipeline_id)
    return QuarantinePublic(quarantined=False, failures=0)
