"""With the database gone, the API answers 503 problem+json with Retry-After and logs one line, no traceback."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from structlog.testing import capture_logs

from enrolsync.api.deps import Services
from enrolsync.sync.store.db import session_factory
from tests.support.assertions import assert_problem
from tests.support.database import Database


@pytest.fixture
async def dead_engine(db: Database, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """An engine whose database cannot be reached: a closed port for PostgreSQL, an unopenable file for SQLite."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    url = (
        "postgresql+psycopg://enrolsync@127.0.0.1:9/gone"
        if db.kind == "postgresql"
        else f"sqlite+aiosqlite:///{blocker / 'gone.sqlite'}"
    )
    engine = create_async_engine(url)
    yield engine
    await engine.dispose()


async def test_requests_during_an_outage_answer_503_with_retry_after(
    app: FastAPI, client: httpx.AsyncClient, dead_engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    services: Services = app.state.services
    app.state.services = dataclasses.replace(services, sessions=session_factory(dead_engine))  # the database dies
    caplog.set_level(logging.DEBUG)

    with capture_logs() as logs:
        answers = [
            await client.get("/runs/some-run"),
            await client.post("/webhooks/some-connection", content=b"{}", headers={"Content-Type": "application/json"}),
            await client.get("/pipelines"),
        ]
        ready = await client.get("/ready")

    for response in answers:
        body = assert_problem(response, 503)
        assert int(response.headers["Retry-After"]) > 0
        assert "Traceback" not in response.text and "gone" not in response.text
        assert body["type"] == "urn:enrolsync:problem:unavailable"
    assert_problem(ready, 503)
    loud = [entry for entry in logs if entry["log_level"] in ("warning", "error", "critical")]
    assert [entry["event"] for entry in loud] == ["database_unavailable"] * 3 + ["ready.database_unavailable"]
    assert not any("exc_info" in entry or "exception" in entry for entry in logs)
    assert not any(record.exc_info or "Traceback" in record.getMessage() for record in caplog.records)
