"""API test fixtures: an app on the `db` database with the memory connectors, a recording run queue, clients with
a token of each role (`client` is an admin), and a guard that fails any test leaking a secret.

Secret values in API tests contain `LEAK_MARKER` (as `s3cret-Value-4711` does); the guard fails a test when the
marker, or any bearer token the fixtures minted, shows up in a response body or a log record.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import ClassVar

import httpx
import pytest
import structlog
from fastapi import FastAPI
from pydantic import SecretStr
from sqlmodel.ext.asyncio.session import AsyncSession
from structlog.testing import LogCapture

from enrolsync.api.app import create_app
from enrolsync.api.deps import Services
from enrolsync.api.tokens import mint_token
from enrolsync.connectors.base import Capability, ConnectorConfig, ConnectorInfo
from enrolsync.connectors.kit.retry import ReadRetry
from enrolsync.connectors.memory import MemorySource, MemoryTarget
from enrolsync.connectors.memory.state import DATASETS, Dataset, dataset
from enrolsync.connectors.registry import Registry
from enrolsync.connectors.testing.fakes import FakeClock
from enrolsync.settings import Settings
from enrolsync.sync.run import steps
from enrolsync.sync.run.clients import ClientFactory
from enrolsync.sync.run.context import Runtime
from enrolsync.sync.store.crypto import generate_key
from enrolsync.sync.store.tables import ApiRole, Run, utcnow
from tests.conftest import Database

LEAK_MARKER = "s3cret"


class StrictConfig(ConnectorConfig):
    """A config with required fields, as real connectors have (the memory config has defaults for everything)."""

    subdomain: str
    api_key: SecretStr


class StrictSource(MemorySource):
    info: ClassVar[ConnectorInfo] = ConnectorInfo(
        key="strict-source",
        kind="hris",
        title="HR system with required settings",
        config_model=StrictConfig,
        capabilities=frozenset({Capability.PERSONS_FULL}),
    )


class RecordingQueue:
    """Stands in for the job engine's queue: remembers the run ids it was handed."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.generations: list[int] = []

    async def enqueue(self, run_id: str, *, generation: int = 0) -> None:
        self.ids.append(run_id)
        self.generations.append(generation)


@pytest.fixture
def settings(db: Database, tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        database_url=db.url,
        secret_keys=[SecretStr(generate_key())],
        allowed_http_hosts=["127.0.0.1", "localhost", "memory.invalid"],
    )


@pytest.fixture
def queue() -> RecordingQueue:
    return RecordingQueue()


@pytest.fixture
def registry() -> Registry:
    return Registry.from_classes(MemorySource, MemoryTarget, StrictSource)


class Clock:
    """The app's wall clock, set by the test (token expiry, dry-run age, "today" in people views)."""

    def __init__(self) -> None:
        self.moment: datetime | None = None

    def __call__(self) -> datetime:
        return self.moment or utcnow()


class LeakGuard:
    """Collects response bodies and log records of one test and finds secrets in them."""

    def __init__(self) -> None:
        self.watched: list[str] = [LEAK_MARKER]
        self.bodies: list[str] = []
        self.structlog = LogCapture()

    def watch(self, secret: str) -> None:
        if len(secret) >= 8:  # shorter strings match by chance, not by leaking
            self.watched.append(secret)

    async def on_response(self, response: httpx.Response) -> None:
        await response.aread()
        self.bodies.append(response.text)

    def leaks(self, records: list[logging.LogRecord]) -> list[str]:
        texts = [*self.bodies, *(repr(entry) for entry in self.structlog.entries)]
        texts += [record.getMessage() + repr(record.__dict__.get("args")) for record in records]
        return [secret for secret in self.watched for text in texts if secret.lower() in text.lower()]


@pytest.fixture(autouse=True)
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
) -> AsyncIterator[FastAPI]:
    app = create_app(
        settings, registry=registry, clients=ClientFactory(), queue=queue, oidc_transport=oidc_transport, now=clock
    )
    # ASGITransport does not run the lifespan (migrations, engine, secret box): run it around the test.
    async with app.router.lifespan_context(app):
        yield app


MakeClient = Callable[[str | None], httpx.AsyncClient]


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


async def token_for(app: FastAPI, role: ApiRole, leak_guard: LeakGuard, **kwargs: object) -> str:
    """Mint a token of `role` on the app's database; the guard watches for it."""
    services: Services = app.state.services
    secret = await mint_token(services.sessions, name=f"test {role.value}", role=role, **kwargs)  # type: ignore[arg-type]
    leak_guard.watch(secret)
    return secret


@pytest.fixture
async def tokens(app: FastAPI, leak_guard: LeakGuard) -> dict[ApiRole, str]:
    """A token of each role."""
    return {role: await token_for(app, role, leak_guard) for role in ApiRole}


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


Execute = Callable[[str], Awaitable[str]]


@pytest.fixture
def runtime(app: FastAPI) -> Runtime:
    """What a worker executes runs with, on the app's database and connectors."""
    services: Services = app.state.services
    fake = FakeClock()
    return Runtime(
        sessions=services.sessions,
        registry=services.registry,
        box=services.box,
        clients=ClientFactory(clock=fake, read_retry=ReadRetry(clock=fake)),
        clock=fake,
        chunk=50,
    )


@pytest.fixture
def execute(runtime: Runtime) -> Execute:
    """Runs a queued run to its end in-process, as a worker would (at the run's current generation)."""

    async def run(run_id: str) -> str:
        async with runtime.sessions() as session:
            found = await session.get(Run, run_id)
            assert found is not None
        return await steps.execute(runtime, run_id, found.generation)

    return run


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


RULE = {"name": "sales onboarding", "when": {"attr": "department", "op": "equals", "value": "Sales"}, "enrol": ["C1"]}
