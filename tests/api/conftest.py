"""API test fixtures: an app on the `db` database with the memory connectors, a recording run queue, a client."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import ClassVar

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlmodel.ext.asyncio.session import AsyncSession

from enrolsync.api.app import create_app
from enrolsync.api.deps import Services
from enrolsync.connectors.base import Capability, ConnectorConfig, ConnectorInfo
from enrolsync.connectors.memory import MemorySource, MemoryTarget
from enrolsync.connectors.memory.state import DATASETS, Dataset, dataset
from enrolsync.connectors.registry import Registry
from enrolsync.settings import Settings
from enrolsync.sync.clients import ClientFactory
from enrolsync.sync.store.crypto import generate_key
from tests.conftest import Database


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

    async def enqueue(self, run_id: str) -> None:
        self.ids.append(run_id)


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


@pytest.fixture
async def app(settings: Settings, registry: Registry, queue: RecordingQueue) -> AsyncIterator[FastAPI]:
    app = create_app(settings, registry=registry, clients=ClientFactory(), queue=queue)
    # ASGITransport does not run the lifespan (migrations, engine, secret box): run it around the test.
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://enrolsync.test") as client:
        yield client


@pytest.fixture
async def session(app: FastAPI) -> AsyncIterator[AsyncSession]:
    """A session on the app's database, to seed or inspect rows the API does not write (runs' progress, ops)."""
    services: Services = app.state.services
    async with services.sessions() as session:
        yield session


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
