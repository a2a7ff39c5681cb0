"""Secrets stay secret: a connection's credentials and the callers' tokens appear in no response and no log line.

Every API test runs under `leak_guard` (conftest.py); this file drives the paths where a secret is most at
risk and checks that the guard itself would notice a leak.
"""

from __future__ import annotations

import logging

import httpx
import structlog

from enrolsync.connectors.memory.state import Dataset
from tests.support.api import Execute, create_pipeline, run
from tests.support.factories import employee as person
from tests.support.factories import seed
from tests.support.leaks import LeakGuard

SECRET = "s3cret-Redaction-0815"


async def test_a_connection_secret_never_leaves_the_service(
    client: httpx.AsyncClient, memory: tuple[str, Dataset], execute: Execute, leak_guard: LeakGuard
) -> None:
    name, data = memory
    data.hris.token = data.lms.token = SECRET
    ids = []
    for connector in ("memory-source", "memory-target"):
        body = {"name": connector, "connector": connector, "config": {"dataset": name, "token": SECRET}}
        ids.append((await client.post("/connections", json=body)).json()["id"])
    seed(data, person("M"), person("A", manager="M"))
    pid = await create_pipeline(client, (ids[0], ids[1]))
    applied = await run(client, execute, pid)
    await client.patch(f"/connections/{ids[0]}", json={"config": {"token": SECRET + "-wrong"}})
    failed_check = (await client.post(f"/connections/{ids[0]}/check")).json()
    failed_run = await run(client, execute, pid)

    for path in (
        "/connections",
        f"/connections/{ids[0]}",
        f"/runs/{applied['id']}/operations",
        f"/pipelines/{pid}/people/M",
        f"/pipelines/{pid}/teams/M",
        "/audit",
        "/openapi.json",
    ):
        assert (await client.get(path)).status_code == 200, path

    assert applied["status"] == "succeeded"
    assert failed_check["ok"] is False and failed_run["status"] == "failed"
    assert len(leak_guard.bodies) > 15  # and the guard finds the secret in none of them, nor in any log line


def test_the_guard_notices_a_leak_in_a_body_or_a_log_line() -> None:
    guard = LeakGuard()
    guard.watch("tok-0123456789")
    clean = logging.LogRecord("x", logging.INFO, __file__, 1, "run %s applied", ("r1",), None)
    leaky = logging.LogRecord("x", logging.INFO, __file__, 1, "header %s", ("Bearer tok-0123456789",), None)

    assert guard.leaks([clean]) == []
    assert guard.leaks([leaky]) == ["tok-0123456789"]
    guard.bodies.append('{"detail": "S3CRET-abc"}')
    assert guard.leaks([]) == ["s3cret"]
    guard.bodies.clear()
    structlog.configure(processors=[guard.structlog])
    try:
        structlog.get_logger("x").info("oops", token="tok-0123456789")
    finally:
        structlog.reset_defaults()
    assert guard.leaks([]) == ["tok-0123456789"]
