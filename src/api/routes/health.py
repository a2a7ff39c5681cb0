"""Liveness and readiness.

- `/healthz` (and its older name `/health`): the process answers. Touches nothing else.
- `/readyz`: the service can do its work: the database answers, its schema is at this code's newest migration,
  and at least one worker was seen in the last `ENROLSYNC_WORKER_SEEN_SECONDS` (without one, requested runs stay
  `queued`). A 503 names every part that is missing.
- `/ready`: the database answers (the API alone can serve requests): what a container's health check wants,
  since an API waiting for workers to be ready would never let the workers start behind it.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
import structlog
from fastapi import APIRouter
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import select

from enrolsync.api.deps import ClockDep, SessionDep, SettingsDep
from enrolsync.api.problems import Problem, problem_responses
from enrolsync.api.schemas import HealthPublic, ReadinessPublic
from enrolsync.sync.store import repo_gauges

router = APIRouter(tags=["health"])
log = structlog.get_logger("enrolsync.api")


@router.get("/healthz")
async def healthz() -> HealthPublic:
    """The process is up. Touches nothing else, so a slow database never gets a live process restarted."""
    return HealthPublic(status="ok")


@router.get("/health")
async def health() -> HealthPublic:
    """The older name of `/healthz`."""
    return HealthPublic(status="ok")


@router.get("/ready", responses=problem_responses(503))
async def ready(session: SessionDep) -> HealthPublic:
    """The API can serve requests: the database answers a trivial query (workers are not asked for)."""
    try:
        await session.exec(select(sa.literal(1)))
    except (SQLAlchemyError, OSError) as error:
        log.warning("ready.database_unavailable", error=type(error).__name__)
        raise Problem(503, "the database does not answer") from None
    return HealthPublic(status="ok")


@router.get("/readyz", responses=problem_responses(503))
async def readyz(session: SessionDep, settings: SettingsDep, now: ClockDep) -> ReadinessPublic:
    """The service can execute runs: database, migrations, and a live worker. A 503 names what is missing."""
    try:
        await session.exec(select(sa.literal(1)))
    except (SQLAlchemyError, OSError) as error:
        log.warning("ready.database_unavailable", error=type(error).__name__)
        raise Problem(503, "not ready: the database does not answer") from None
    missing: list[str] = []
    current, head = await repo_gauges.schema_revision(session)
    if current != head:
        missing.append(f"the database is at migration {current or 'none'}, this code needs {head} (enrolsync migrate)")
    seen = settings.worker_seen_seconds
    workers = await repo_gauges.live_workers(session, since=now() - timedelta(seconds=seen))
    if not workers:
        missing.append(f"no worker seen in the last {seen:g} s (start one: enrolsync worker)")
    if missing:
        raise Problem(503, "not ready: " + "; ".join(missing))
    return ReadinessPublic(status="ok", migration=head or "", live_workers=len(workers))
