"""Gauges and probes (issue 17): `/metrics` scraped and read series by series, `/healthz`, `/readyz` naming what
is missing, the API's documentation served without a network, and `/` leading somewhere."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from enrolsync.api.deps import Services
from enrolsync.connectors.base import ConnectorConfig, ConnectorInfo
from enrolsync.connectors.errors import TransientError
from enrolsync.connectors.kit.retry import ReadRetry, with_retry
from enrolsync.connectors.kit.webhooks import sign_timestamped
from enrolsync.connectors.memory.state import Dataset
from enrolsync.connectors.model import Person
from enrolsync.connectors.testing.fakes import FakeClock
from enrolsync.sync.run.clients import ClientFactory
from enrolsync.sync.store import repo_gauges
from enrolsync.sync.store.migrate import head_revision
from tests.support.api import Clock, Execute, create_pipeline, run

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def _scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def _value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


# --- a connector that talks HTTP, to see latency, 429s and read retries counted per connection -----------------


class ProbeConfig(ConnectorConfig):
    pass


class Probe:
    info = ConnectorInfo(key="probe", kind="hris", title="Probe", config_model=ProbeConfig, capabilities=frozenset())

    def __init__(self, config: ProbeConfig, http: httpx.AsyncClient, *, retry: ReadRetry) -> None:
        self.http, self.retry = http, retry

    async def read(self) -> int:
        async def once() -> int:
            response = await self.http.get("/people")
            if response.status_code == 429:
                raise TransientError("throttled", status=429, retry_after=1.0)
            return response.status_code

        return await with_retry(once, self.retry)


@pytest.fixture
async def throttled_then_ok() -> AsyncIterator[ClientFactory]:
    answers = iter([httpx.Response(429, headers={"Retry-After": "1"}), httpx.Response(200, json=[])])
    transport = httpx.MockTransport(lambda request: next(answers))
    yield ClientFactory(transports={"probe.invalid": transport}, clock=FakeClock())


async def test_remote_latency_429s_and_retries_are_counted_per_connection(
    client: httpx.AsyncClient, throttled_then_ok: ClientFactory
) -> None:
    before = await _scrape(client)
    config = ProbeConfig(base_url="http://probe.invalid/")  # type: ignore[arg-type]
    async with throttled_then_ok.connector(Probe, config, connection="conn-42") as probe:  # type: ignore[type-var]
        assert await probe.read() == 200
    after = await _scrape(client)
    labels = {"connection": "conn-42", "connector": "probe"}
    count = "enrolsync_remote_request_seconds_count"
    assert _value(after, count, **labels) - _value(before, count, **labels) == 2
    assert (
        _value(after, "enrolsync_remote_throttled_total", **labels)
        - _value(before, "enrolsync_remote_throttled_total", **labels)
        == 1
    )
    retries = "enrolsync_remote_retries_total"
    assert _value(after, retries, kind="read", **labels) - _value(before, retries, kind="read", **labels) == 1


# --- the database's gauges, ops by outcome, webhook events -----------------------------------------------------

SECRET = "gauges-webhook-secret-1234"


async def _webhook(anonymous: httpx.AsyncClient, source_id: str, events: list[dict[str, str]], secret: str) -> int:
    body = json.dumps({"events": events}).encode()
    signature = sign_timestamped(secret, body, int(datetime.now(UTC).timestamp()))
    headers = {"Enrolsync-Signature": signature, "Content-Type": "application/json"}
    return (await anonymous.post(f"/webhooks/{source_id}", content=body, headers=headers)).status_code


async def test_metrics_serve_every_series(
    client: httpx.AsyncClient,
    anonymous: httpx.AsyncClient,
    execute: Execute,
    memory: tuple[str, Dataset],
    app: FastAPI,
    clock: Clock,
) -> None:
    name, data = memory
    for n in range(3):
        data.hris.put(Person(hr_id=f"G{n}", given_name="G", family_name=str(n), work_email=f"g{n}@example.com"))
    ids = []
    for connector, config in (("memory-source", {"webhook_secret": SECRET}), ("memory-target", {})):
        body = {"name": connector, "connector": connector, "config": {"dataset": name, **config}}
        ids.append((await client.post("/connections", json=body)).json()["id"])
    spec = {"rules": [{"name": "all", "when": {"attr": "family_name", "op": "exists"}, "enrol": ["C1"]}]}
    pipeline_id = await create_pipeline(client, (ids[0], ids[1]), spec)
    before = await _scrape(client)

    finished = await run(client, execute, pipeline_id)
    assert finished["status"] == "succeeded"
    await client.post(f"/pipelines/{pipeline_id}/runs", json={"mode": "plan", "scope": "full"})  # stays queued
    assert await _webhook(anonymous, ids[0], [{"id": "e1", "type": "updated", "hr_id": "G1"}], SECRET) == 202
    assert await _webhook(anonymous, ids[0], [{"id": "e1", "type": "updated", "hr_id": "G1"}], SECRET) == 202
    assert await _webhook(anonymous, ids[0], [{"id": "e2", "type": "updated", "hr_id": "G1"}], "wrong") == 401
    services: Services = app.state.services
    async with services.sessions() as session:
        await repo_gauges.beat(session, worker_id="w-live", now=clock())
        await repo_gauges.beat(session, worker_id="w-dead", now=clock() - timedelta(hours=1))

    after = await _scrape(client)

    def grew(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert _value(after, "enrolsync_runs", status="succeeded") == 1
    assert _value(after, "enrolsync_runs", status="failed") == 0  # every status is a series, even at zero
    assert _value(after, "enrolsync_queue_depth") >= 1
    assert _value(after, "enrolsync_workers_live") == 1
    # The rule enrols everyone: three accounts made and three enrolments, all done.
    assert grew("enrolsync_operations_total", kind="create_user", outcome="done") == 3
    assert grew("enrolsync_operations_total", kind="enrol", outcome="done") == 3
    assert grew("enrolsync_webhook_events_total", outcome="accepted") == 1
    assert grew("enrolsync_webhook_events_total", outcome="duplicate") == 1
    assert grew("enrolsync_webhook_events_total", outcome="refused") == 1


# --- probes ---------------------------------------------------------------------------------------------------


async def test_healthz_answers_without_a_token(anonymous: httpx.AsyncClient) -> None:
    assert (await anonymous.get("/healthz")).json() == {"status": "ok"}


async def test_readyz_names_the_missing_worker_then_is_ready(
    anonymous: httpx.AsyncClient, app: FastAPI, clock: Clock
) -> None:
    missing = await anonymous.get("/readyz")
    assert missing.status_code == 503
    assert missing.headers["content-type"] == "application/problem+json"
    assert "no worker seen in the last 60 s" in missing.json()["detail"]
    assert "migration" not in missing.json()["detail"]  # the schema is current: only the worker is named

    services: Services = app.state.services
    async with services.sessions() as session:
        await repo_gauges.beat(session, worker_id="w1", now=clock() - timedelta(seconds=59))
    ready: dict[str, Any] = (await anonymous.get("/readyz")).json()
    assert ready["status"] == "ok" and ready["live_workers"] == 1 and ready["migration"]


async def test_readyz_names_a_database_behind_this_code(
    anonymous: httpx.AsyncClient, app: FastAPI, clock: Clock
) -> None:
    services: Services = app.state.services
    stamp = "UPDATE alembic_version SET version_num = :version"
    async with services.sessions() as session:
        await repo_gauges.beat(session, worker_id="w1", now=clock())
        await session.exec(sa.text(stamp).bindparams(version="0006"))  # type: ignore[call-overload]
        await session.commit()
    try:
        behind = await anonymous.get("/readyz")
    finally:  # the PostgreSQL test database outlives the test: give it its true revision back
        async with services.sessions() as session:
            await session.exec(sa.text(stamp).bindparams(version=head_revision()))  # type: ignore[call-overload]
            await session.commit()
    assert behind.status_code == 503
    detail = behind.json()["detail"]
    assert "the database is at migration 0006, this code needs" in detail and "enrolsync migrate" in detail
    assert "no worker seen" not in detail  # the worker is alive: only what is missing is named


async def test_docs_work_offline_and_the_root_leads_to_them(anonymous: httpx.AsyncClient) -> None:
    root = await anonymous.get("/")
    assert root.status_code == 307 and root.headers["location"] == "/ui"
    for page in ("/docs", "/redoc"):
        html = (await anonymous.get(page)).text
        assert "cdn." not in html and "unpkg" not in html, f"{page} loads from a CDN"
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js"):
        served = await anonymous.get(f"/static-offline-docs/{asset}")
        assert served.status_code == 200 and len(served.content) > 10_000, asset
    assert "/static-offline-docs/swagger-ui-bundle.js" in (await anonymous.get("/docs")).text
