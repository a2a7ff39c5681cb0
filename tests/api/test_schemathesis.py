"""Property-based tests of the whole API from its own OpenAPI document (schemathesis), in-process, as an admin.

Schemathesis generates requests for every operation (valid ones, and invalid ones the API must reject); each
answer must not be a 5xx and must conform to the document (status code, content type, headers, body schema).
Hypothesis drives the generation in a worker thread; each request is sent through the test's own ASGI client on
the event loop, so the app's lifespan, database and fixtures are the usual ones. Bounded: a fixed number of
examples per operation, derandomized, so the run is repeatable and fast.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import Case, checks

from enrolsync.connectors.memory.state import Dataset
from enrolsync.sync.run.context import Runtime
from enrolsync.sync.store import repo_gauges
from enrolsync.sync.store.tables import utcnow
from tests.support.api import Execute, create_pipeline, run
from tests.support.factories import employee as person
from tests.support.factories import seed

EXAMPLES = 20
# A schema-valid request may still name something that does not exist (a connector key, a connection id in a
# pipeline): the API answers 422 naming the field, which is right, and which this check would call a failure.
# `ignored_auth` sends requests of its own over the network; test_auth.py covers the same ground (every route,
# no token and bad tokens).
EXCLUDED = [checks.positive_data_acceptance, checks.ignored_auth]


def _send(client: httpx.AsyncClient, case: Case[Any]) -> Any:
    kwargs = case.as_transport_kwargs(base_url=str(client.base_url))
    # requests-style keyword arguments as httpx takes them; the client's own Authorization header stays.
    headers = {k: v for k, v in (kwargs.get("headers") or {}).items() if k.lower() != "authorization"}
    assert not kwargs.get("cookies"), "the API uses no cookies"
    return client.request(
        kwargs["method"],
        kwargs["url"],
        params=kwargs.get("params"),
        headers=headers,
        json=kwargs.get("json"),
        content=kwargs.get("data"),
    )


def _explore(document: dict[str, Any], client: httpx.AsyncClient, loop: asyncio.AbstractEventLoop) -> list[str]:
    """Run every operation's strategy in this (worker) thread; return the failures found."""
    schema = schemathesis.openapi.from_dict(document)
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]  # an invalid operation fails the test here

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def check(case: Case[Any]) -> None:
            response = asyncio.run_coroutine_threadsafe(_send(client, case), loop).result(timeout=30)
            case.validate_response(response, headers=dict(client.headers), excluded_checks=EXCLUDED)

        try:
            check()
        except (Exception, BaseExceptionGroup) as error:  # noqa: BLE001 - collected per operation, reported below
            failures.append(f"{operation.label}: {error}")
    return failures


async def test_the_api_keeps_its_documented_promises(
    client: httpx.AsyncClient,
    ends: tuple[str, str],
    memory: tuple[str, Dataset],
    execute: Execute,
    runtime: Runtime,
) -> None:
    # Some data, so generated requests reach more than 404s: a pipeline with people and a finished run.
    seed(memory[1], person("M"), person("A", manager="M"))
    pipeline_id = await create_pipeline(client, ends)
    await run(client, execute, pipeline_id, mode="plan")
    # A worker is alive, as in any working deployment: /readyz answers 200 (its 503 is tested in test_gauges.py).
    async with runtime.sessions() as session:
        await repo_gauges.beat(session, worker_id="schemathesis-worker", now=utcnow())
    document = (await client.get("/openapi.json")).json()

    failures = await asyncio.to_thread(_explore, document, client, asyncio.get_running_loop())

    assert not failures, "\n\n".join(failures)
