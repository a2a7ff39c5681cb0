"""Quarantine: a pipeline whose runs keep failing as a whole backs off, is quarantined with the reason, starts no
automatic run and refuses run requests while quarantined, recovers by itself when a probe succeeds, and can be
lifted by an operator (audited). Memory connectors; the engine on both databases, then the API.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa

from enrolsync.connectors.memory.state import Dataset
from enrolsync.sync.jobs import events, maintenance, run_requests, schedules
from enrolsync.sync.run import quarantine
from enrolsync.sync.run.quarantine import DEFAULT_POLICY, PipelineQuarantined
from enrolsync.sync.store.tables import ApiRole, Event, Pipeline, PipelineHealth, Run, RunStatus, utcnow
from tests.support.api import Execute, MakeClient, create_pipeline
from tests.support.database import Database
from tests.support.factories import employee as person
from tests.support.factories import seed
from tests.support.figures import Figures
from tests.support.harness import Engine, RecordingQueue, make_engine


async def _engine(db: Database) -> Engine:
    engine = await make_engine(db)
    seed(engine.data, person("M"), person("A", manager="M"), person("B", department="Sales", manager="M"))
    return engine


async def _health(engine: Engine) -> PipelineHealth:
    async with engine.db.sessions() as session:
        row = await quarantine.health(session, engine.pipeline_id)
    assert row is not None
    return row


async def _fail_until_quarantined(engine: Engine) -> list[Run]:
    engine.data.lms.token = "revoked"  # the LMS no longer accepts the connection's credentials
    failed = [await engine.run() for _ in range(DEFAULT_POLICY.threshold)]
    assert all(run.status == RunStatus.FAILED and "AuthError" in (run.error or "") for run in failed)
    return failed


@pytest.mark.usefixtures("cleanup_datasets")
async def test_failures_back_off_exponentially_then_quarantine_with_the_reason(db: Database, figures: Figures) -> None:
    engine = await _engine(db)
    engine.data.lms.token = "revoked"
    holds: list[timedelta] = []
    for n in range(1, DEFAULT_POLICY.threshold + 1):
        run = await engine.run()
        row = await _health(engine)
        assert row.failures == n and row.hold_until is not None and row.updated_at is not None
        holds.append(row.hold_until - row.updated_at)
        assert (row.quarantined_at is not None) is (n == DEFAULT_POLICY.threshold)

    assert holds == [timedelta(seconds=60), timedelta(seconds=120), timedelta(seconds=240)]
    assert row.reason == run.error and "AuthError" in (row.reason or "")
    assert DEFAULT_POLICY.backoff(20) == timedelta(seconds=DEFAULT_POLICY.cap_seconds)
    figures.add("quarantine", runs=DEFAULT_POLICY.threshold)


@pytest.mark.usefixtures("cleanup_datasets")
async def test_a_run_that_gets_through_resets_the_count(db: Database) -> None:
    engine = await _engine(db)
    engine.data.lms.token = "revoked"
    await engine.run()
    engine.data.lms.token = "memory-token"

    assert (await engine.run()).status == RunStatus.SUCCEEDED

    row = await _health(engine)
    assert (row.failures, row.hold_until, row.quarantined_at) == (0, None, None)


@pytest.mark.usefixtures("cleanup_datasets")
async def test_while_quarantined_no_scheduled_event_or_requested_run_starts(db: Database) -> None:
    engine = await _engine(db)
    queue = RecordingQueue()
    async with db.sessions() as session:
        pipeline = await session.get(Pipeline, engine.pipeline_id)
        assert pipeline is not None
        pipeline.spec = {**pipeline.spec, "schedule": "*/5 * * * *"}
        session.add(pipeline)
        await session.commit()
        start = utcnow() - timedelta(hours=1)
        assert await schedules.fire_due(session, queue=queue, now=start) == []  # the schedule starts counting
    await _fail_until_quarantined(engine)
    later = utcnow() + timedelta(minutes=10)
    async with db.sessions() as session:
        assert await schedules.fire_due(session, queue=queue, now=later) == []
        source = pipeline.source_id
        session.add(Event(connection_id=source, event_id=uuid.uuid4().hex, body="{}", hr_ids=["A"]))
        await session.commit()
        assert await events.dispatch(session, connection_id=source, queue=queue) == 0
        with pytest.raises(PipelineQuarantined, match="AuthError"):
            await run_requests.request_run(
                session, pipeline_id=engine.pipeline_id, mode="apply", scope="full", queue=queue
            )
    assert queue.ids == []

    async with db.sessions() as session:
        assert await quarantine.lift(session, engine.pipeline_id) is not None
        await session.commit()
        assert await events.dispatch(session, connection_id=source, queue=queue) == 1, "the held event was kept"
        await (await session.connection()).execute(sa.update(Run).values(status=RunStatus.SUCCEEDED))  # ran
        await session.commit()
        fired = await schedules.fire_due(session, queue=queue, now=later)
        assert len(fired) == 1, "the tick held back fires once the quarantine is lifted"
    assert len(queue.ids) == 2 and queue.ids[1:] == fired


@pytest.mark.usefixtures("cleanup_datasets")
async def test_probes_back_off_and_lift_the_quarantine_when_the_systems_answer(db: Database) -> None:
    engine = await _engine(db)
    await _fail_until_quarantined(engine)
    row = await _health(engine)
    assert row.next_probe_at is not None
    first = row.next_probe_at

    assert await quarantine.probe_due(engine.rt, now=first - timedelta(seconds=1)) == []
    assert await quarantine.probe_due(engine.rt, now=first) == []  # still revoked: the probe fails
    row = await _health(engine)
    assert row.probes == 1 and row.quarantined_at is not None
    assert "credentials rejected" in (row.last_probe_detail or "")
    assert row.next_probe_at == first + DEFAULT_POLICY.backoff(2)

    engine.data.lms.token = "memory-token"  # the admin fixed the credentials on the LMS side
    fake_engine = maintenance.Engine(queue=engine.queue, state=_no_workflow, abandon=_nothing)
    await maintenance.pass_once(engine.rt, fake_engine, now=row.next_probe_at)

    row = await _health(engine)
    assert (row.quarantined_at, row.failures) == (None, 0)
    assert row.last_probe_detail == "both connections answer"
    assert (await engine.run()).status == RunStatus.SUCCEEDED


async def _no_workflow(run_id: str, generation: int) -> str | None:
    return None


async def _nothing(run_id: str, generation: int) -> None:
    return None


# -- through the API -----------------------------------------------------------------------------------------


async def test_the_api_shows_refuses_and_lifts_a_quarantine(
    client: httpx.AsyncClient,
    make_client: MakeClient,
    tokens: dict[ApiRole, str],
    memory: tuple[str, Dataset],
    ends: tuple[str, str],
    execute: Execute,
) -> None:
    _, data = memory
    seed(data, person("M"), person("A", manager="M"))
    pid = await create_pipeline(client, ends)
    assert (await client.get(f"/pipelines/{pid}")).json()["quarantine"] is None
    data.lms.token = "revoked"
    for _ in range(DEFAULT_POLICY.threshold):
        started = await client.post(f"/pipelines/{pid}/runs", json={"mode": "apply"})
        await execute(started.json()["id"])

    shown = (await client.get(f"/pipelines/{pid}")).json()["quarantine"]
    refused = await client.post(f"/pipelines/{pid}/runs", json={"mode": "apply"})
    viewer = make_client(tokens[ApiRole.VIEWER])
    operator = make_client(tokens[ApiRole.OPERATOR])
    forbidden = await viewer.post(f"/pipelines/{pid}/quarantine/lift")
    lifted = await operator.post(f"/pipelines/{pid}/quarantine/lift")
    again = await operator.post(f"/pipelines/{pid}/quarantine/lift")

    assert shown["quarantined"] is True and "AuthError" in shown["reason"] and shown["failures"] == 3
    assert refused.status_code == 409 and refused.headers["content-type"] == "application/problem+json"
    assert "quarantined" in refused.json()["detail"] and "AuthError" in refused.json()["detail"]
    assert forbidden.status_code == 403
    assert lifted.status_code == 200, lifted.text
    assert lifted.json()["quarantined"] is False
    assert again.status_code == 409
    assert (await client.get(f"/pipelines/{pid}")).json()["quarantine"] is None
    trail = (await client.get("/audit", params={"resource_type": "pipeline"})).json()["items"]
    assert [e["action"] for e in trail if e["resource_id"] == pid][0] == "pipeline.quarantine_lift"
    data.lms.token = "memory-token"
    assert (await client.post(f"/pipelines/{pid}/runs", json={"mode": "apply"})).status_code == 202
