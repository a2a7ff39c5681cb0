"""Liveness (`/health`: the process answers) and readiness (`/ready`: the database answers too)."""

from __future__ import annotations

import sqlalchemy as sa
import structlog
from fastapi import APIRouter
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import select

from enrolsync.api.deps import SessionDep
from enrolsync.api.problems import Problem
from enrolsync.api.schemas import HealthPublic

router = APIRouter(tags=["health"])
log = structlog.get_logger("enrolsync.api")


@router.get("/health")
async def health() -> HealthPublic:
    """The process is up. Touches nothing else, so a slow database never gets a live process restarted."""
    return HealthPublic(status="ok")


@router.get("/ready", responses={503: {"description": "The database does not answer."}})
async def ready(session: SessionDep) -> HealthPublic:
    """The process can serve requests: the database answers a trivial query."""
    try:
        await session.exec(select(sa.literal(1)))
    except (SQLAlchemyError, OSError) as error:
        log.warning("ready.database_unavailable", error=type(error).__name__)
        raise Problem(503, "the database does not answer") from None
    return HealthPublic(status="ok")
