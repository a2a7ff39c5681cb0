"""API test fixtures, a pytest plugin (the root conftest registers it): an app on the `db` database with the memory
connectors, a recording run queue, clients with a token of each role (`client` is an admin), and `leak_guard`.

They live here, not in tests/api/conftest.py, because tests/reliability drives the API too and a conftest is never
imported as a library. `leak_guard` is not autouse: tests/api and tests/reliability each turn it on for every test
of theirs in their conftest.py. Secret values in API tests contain `LEAK_MARKER` (as `s3cret-Value-4711` does);
the guard fails a test when the marker, or any bearer token the fixtures minted, shows up in a response body or
a log record.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from functools import partial
from pathlib import Path

import httpx
import pytest
import structlog
from fastapi import FastAPI
from sqlmodel.ext.asyncio.session import AsyncSession

from enrolsync.api.app import create_app
from enrolsync.api.deps import Services
from enrolsync.connectors.kit.egress import EgressPolicy
from enrolsync.connectors.memory import MemorySource, MemoryTarget
from enrolsync.connectors.memory.state import DATASETS, Dataset, dataset
from enrolsync.connectors.registry import Registry
from enrolsync.connectors.testing.fakes import FakeClock
from enrolsync.settings import Settings
from enrolsync.sync.run.clients import ClientFactory
from enrolsync.sync.run.context import Runtime
from enrolsync.sync.store.tables import ApiRole
from tests.support import harness
from tests.support.api import Clock, Execute, KeepingTarget, MakeClient, StrictSource, app_settings, token_for
from tests.support.database import Database
from tests.support.dns import FakeDns
from tests.support.harness import RecordingQueue, make_runtime
from tests.support.leaks import LeakGuard


@pytest.fixture
def private_hosts() -> list[str]:
    """What the app's egress policy admits beyond public addresses; a test parametrizes it to change that."""
    return ["127.0.0.1", "localhost", "[::1]"]


@pytest.fixture
def settings(db: Database, tmp_path: Path, private_hosts: list[str]) -> Settings:
    return app_settings(db, tmp_path, allowed_private_hosts=private_hosts)


@pytest.fixture
def dns() -> FakeDns:
    """What host names resolve to for the app's egress policy (no test asks the real DNS)."""
    return FakeDns()


@pytest.fixture
def clients(dns: FakeDns) -> ClientFactory:
    """The app's connector factory: no fakes' transports, the egress policy resolving through `dns`."""
    return ClientFactory(egress=EgressPolicy(resolve=dns))


@pytest.fixture
def queue() -> RecordingQueue:
    return RecordingQueue()


@pytest.fixture
def registry() -> Registry:
    return Registry.from_classes(MemorySource, MemoryTarget, StrictSource, KeepingTarget)


@pytest.fixture
def leak_guard(caplog: pytest.LogCaptureFixture) -> Iterator[LeakGuard]:
    """Fails the test when a watched secret appears in any response body or log record it produced."""
    guard = LeakGuard()
    caplog.set_level(logging.INFO)
    previous = structlog.get_config()
    structlog.configure(processors=[structlog.processors.format_exc_info, guard.structlog])
    try:
        yield guard
    finally:
        structlog.configure(**previous)
    leaks = guard.leaks(caplog.records)
    assert not leaks, f"secrets leaked into responses or logs: {sorted(set(leaks))}"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def oidc_transport() -> httpx.AsyncBaseTransport | None:
    """Where the app fetches an OIDC issuer's keys from; the OIDC tests serve them."""
    return None


@pytest.fixture
async def app(
    settings: Settings,
    registry: Registry,
    queue: RecordingQueue,
    clock: Clock,
    oidc_transport: httpx.AsyncBaseTransport | None,
    clients: ClientFactory,
) -> AsyncIterator[FastAPI]:
    app = create_app(
        settings, registry=registry, clients=clients, queue=queue, oidc_transport=oidc_transport, now=clock
    )
    # ASGITransport does not run the lifespan (migrations, engine, secret box): run it around the test.
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def make_client(app: FastAPI, leak_guard: LeakGuard) -> AsyncIterator[MakeClient]:
    """Builds clients on the app: with `Authorization: Bearer <token>`, or with no token for None."""
    made: list[httpx.AsyncClient] = []

    def make(token: str | None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://enrolsync.test",
            headers=headers,
            event_hooks={"response": [leak_guard.on_response]},
        )
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()


@pytest.fixture
async def tokens(app: FastAPI, leak_guard: LeakGuard) -> dict[ApiRole, str]:
    """A token of each role; the manager's is bound to HR id `M` (who leads the `team` factory's people)."""
    return {
        role: await token_for(app, role, leak_guard, **({"hr_id": "M"} if role is ApiRole.MANAGER else {}))
        for role in ApiRole
    }


@pytest.fixture
def client(make_client: MakeClient, tokens: dict[ApiRole, str]) -> httpx.AsyncClient:
    """An admin's client."""
    return make_client(tokens[ApiRole.ADMIN])


@pytest.fixture
def anonymous(make_client: MakeClient) -> httpx.AsyncClient:
    """A client without a token."""
    return make_client(None)


@pytest.fixture
async def session(app: FastAPI) -> AsyncIterator[AsyncSession]:
    """A session on the app's database, to seed or inspect rows the API does not write (runs' progress, ops)."""
    services: Services = app.state.services
    async with services.sessions() as session:
        yield session


@pytest.fixture
def runtime(app: FastAPI) -> Runtime:
    """What a worker executes runs with, on the app's database and connectors."""
    services: Services = app.state.services
    return make_runtime(services.sessions, services.registry, services.box, clock=FakeClock())


@pytest.fixture
def execute(runtime: Runtime) -> Execute:
    """Runs a queued run to its end in-process, as a worker would (at the run's current generation)."""
    return partial(harness.execute, runtime)


@pytest.fixture
def memory() -> Iterator[tuple[str, Dataset]]:
    """A fresh in-memory HR + LMS system under a unique name, dropped after the test."""
    name = f"api-{uuid.uuid4().hex[:8]}"
    data = dataset(name)
    yield name, data
    DATASETS.pop(name, None)


@pytest.fixture
async def ends(client: httpx.AsyncClient, memory: tuple[str, Dataset]) -> tuple[str, str]:
    """(source id, target id): an HR and an LMS connection on the test's memory systems."""
    name, _ = memory
    ids = []
    for connector in ("memory-source", "memory-target"):
        body = {"name": connector, "connector": connector, "config": {"dataset": name}}
        response = await client.post("/connections", json=body)
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    return ids[0], ids[1]
