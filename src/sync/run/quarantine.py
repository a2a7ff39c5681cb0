"""Quarantine: a pipeline whose runs keep failing as a whole stops hammering the remote systems.

A run that ends with a run-level error (the target is down, the credentials were revoked, the source loops) is a
whole-run failure; a run that ends without one, even with some operations failed, is a success here. Each
failure in a row holds back automatic runs (schedules, HR events) for an exponentially growing, capped time;
at `QuarantinePolicy.threshold` failures the pipeline is quarantined with the last error as its reason. While
quarantined, automatic runs are not started and admin requests are refused (`PipelineQuarantined`). The
worker's maintenance loop probes the pipeline's two connections (`check()`) on the same back-off schedule and
lifts the quarantine when both answer; an operator can lift it too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from enrolsync.connectors.errors import ConnectorError
from enrolsync.sync.run.context import Runtime
from enrolsync.sync.store.connections import load_config
from enrolsync.sync.store.tables import Connection, Pipeline, PipelineHealth, Run, utcnow

log = structlog.get_logger("enrolsync.quarantine")

REASON_LIMIT = 500


class PipelineQuarantined(Exception):
    """The pipeline is quarantined: no run is started until a probe succeeds or an operator lifts it."""

    def __init__(self, pipeline_id: str, reason: str) -> None:
        super().__init__(f"pipeline {pipeline_id} is quarantined: {reason}")
        self.pipeline_id = pipeline_id
        self.reason = reason


@dataclass(frozen=True)
class QuarantinePolicy:
    """How many whole-run failures in a row quarantine a pipeline, and the back-off between tries."""

    threshold: int = 3
    base_seconds: float = 60.0
    cap_seconds: float = 3600.0

    def backoff(self, n: int) -> timedelta:
        """The wait after the `n`th failure (or failed probe) in a row: base * 2^(n-1), at most the cap."""
        return timedelta(seconds=min(self.base_seconds * 2.0 ** max(n - 1, 0), self.cap_seconds))


DEFAULT_POLICY = QuarantinePolicy()


async def health(session: AsyncSession, pipeline_id: str) -> PipelineHealth | None:
    """The pipeline's health row; None when it never failed."""
    return await session.get(PipelineHealth, pipeline_id)


async def quarantined(session: AsyncSession, pipeline_id: str) -> str | None:
    """The quarantine's reason, or None when the pipeline is not quarantined."""
    row = await health(session, pipeline_id)
    if row is None or row.quarantined_at is None:
        return None
    return row.reason or "repeated failures"


async def holds(session: AsyncSession, pipeline_id: str, *, now: datetime) -> str | None:
    """Why an automatic run (schedule, HR event) may not start now, or None when it may."""
    row = await health(session, pipeline_id)
    if row is None:
        return None
    if row.quarantined_at is not None:
        return f"quarantined: {row.reason}"
    if row.hold_until is not None and row.hold_until > now:
        return f"backing off after {row.failures} failed run(s) until {row.hold_until.isoformat()}"
    return None


async def ensure_open(session: AsyncSession, pipeline_id: str) -> None:
    """Raises `PipelineQuarantined` when the pipeline is quarantined."""
    reason = await quarantined(session, pipeline_id)
    if reason is not None:
        raise PipelineQuarantined(pipeline_id, reason)


def _failure(row: PipelineHealth, error: str, now: datetime, policy: QuarantinePolicy) -> None:
    row.failures += 1
    row.last_error = error[:REASON_LIMIT]
    row.hold_until = now + policy.backoff(row.failures)
    if row.quarantined_at is None and row.failures >= policy.threshold:
        row.quarantined_at, row.reason = now, row.last_error
        row.probes, row.next_probe_at = 0, now + policy.backoff(1)
        log.warning("pipeline.quarantined", pipeline_id=row.pipeline_id, failures=row.failures)


async def note_run_end(
    session: AsyncSession, run: Run, *, now: datetime | None = None, policy: QuarantinePolicy = DEFAULT_POLICY
) -> None:
    """Count a finished run: a run-level error is a failure in a row, anything else resets the count.
    Adds to the session; the caller commits (with the run's own final state)."""
    now = now or utcnow()
    row = await health(session, run.pipeline_id)
    if run.error:
        row = row or PipelineHealth(pipeline_id=run.pipeline_id)
        _failure(row, run.error, now, policy)
    elif row is not None and (row.failures or row.hold_until):
        # A run that got through proves the systems answer: the count starts again (a quarantine ends by probe
        # or by an operator, since no automatic run starts while it lasts).
        row.failures, row.hold_until, row.last_error = 0, None, None
    else:
        return
    row.updated_at = now
    session.add(row)


async def lift(session: AsyncSession, pipeline_id: str, *, now: datetime | None = None) -> PipelineHealth | None:
    """End the quarantine and the back-off (an operator, or a successful probe). Returns the row, or None when
    the pipeline was not quarantined. The caller commits."""
    row = await health(session, pipeline_id)
    if row is None or row.quarantined_at is None:
        return None
    row.quarantined_at = row.reason = row.hold_until = row.next_probe_at = None
    row.failures = row.probes = 0
    row.updated_at = now or utcnow()
    session.add(row)
    return row


async def _check_one(rt: Runtime, connection_id: str) -> str | None:
    async with rt.sessions() as session:
        connection = await session.get(Connection, connection_id)
    if connection is None:
        return f"connection {connection_id} is gone"
    try:
        cls = rt.registry.get(connection.connector)
        config = load_config(cls.info.config_model, connection.config, connection.secrets, rt.box)
        async with rt.clients.connector(cls, config, connection=connection.id) as connector:
            result = await connector.check()
    except ConnectorError as error:
        return f"{connection.connector}: {type(error).__name__}: {error}"
    except Exception as error:  # an unloadable connector or config: the probe fails, the loop goes on
        return f"{connection.connector}: {type(error).__name__}"
    return None if result.ok else f"{connection.connector}: {result.detail}"


async def _check(rt: Runtime, pipeline: Pipeline) -> str | None:
    """None when both connections answer their `check()`; else what failed first."""
    return await _check_one(rt, pipeline.source_id) or await _check_one(rt, pipeline.target_id)


async def probe_due(rt: Runtime, *, now: datetime, policy: QuarantinePolicy = DEFAULT_POLICY) -> list[str]:
    """Probe every quarantined pipeline whose probe is due; lift those whose connections answer. Returns the ids
    of the pipelines lifted. A failed probe moves the next one further out (exponential, capped)."""
    async with rt.sessions() as session:
        stmt = select(PipelineHealth).where(
            col(PipelineHealth.quarantined_at).is_not(None), col(PipelineHealth.next_probe_at) <= now
        )
        due = list((await session.exec(stmt)).all())
    lifted: list[str] = []
    for row in due:
        async with rt.sessions() as session:
            pipeline = await session.get(Pipeline, row.pipeline_id)
        problem = "the pipeline is gone" if pipeline is None else await _check(rt, pipeline)
        async with rt.sessions() as session:
            current = await health(session, row.pipeline_id)
            if current is None or current.quarantined_at is None:
                continue  # lifted meanwhile
            current.last_probe_at, current.last_probe_detail = now, (problem or "both connections answer")[:500]
            if problem is None:
                await lift(session, row.pipeline_id, now=now)
                lifted.append(row.pipeline_id)
                log.info("pipeline.recovered", pipeline_id=row.pipeline_id)
            else:
                current.probes += 1
                current.next_probe_at = now + policy.backoff(current.probes + 1)
                session.add(current)
            await session.commit()
    return lifted
