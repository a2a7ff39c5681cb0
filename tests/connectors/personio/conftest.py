"""Fixtures for the Personio tests and the shared contract suite (`SourceContract`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from pydantic import SecretStr

from enrolsync.connectors.kit.client import build_client
from enrolsync.connectors.kit.retry import ReadRetry
from enrolsync.connectors.model import RawRequest
from enrolsync.connectors.personio import PersonioSource
from enrolsync.connectors.personio.config import PersonioConfig
from enrolsync.connectors.personio.fake import PersonioFake
from enrolsync.connectors.testing.fakes import FakeClock, FakeServer
from tests.support.connectors import COMPANY_SIZE, personio_config


@pytest.fixture
def fake() -> PersonioFake:
    return PersonioFake.seeded(COMPANY_SIZE, seed=7)


@pytest.fixture
def config(fake: PersonioFake) -> PersonioConfig:
    return personio_config(fake)


@pytest.fixture
def bad_config(fake: PersonioFake) -> PersonioConfig:
    return personio_config(fake, client_secret=SecretStr("not-the-secret-8c1d"))


@pytest.fixture
def connector_cls() -> type[PersonioSource]:
    return PersonioSource


@pytest.fixture
def expected_hr_ids(fake: PersonioFake) -> set[str]:
    return fake.hr_ids()


@pytest.fixture
def mutate() -> Callable[[FakeServer], str]:
    def move_someone(fake: FakeServer) -> str:
        assert isinstance(fake, PersonioFake)
        fake.move("120", manager="101", job_title="Counsel")
        return "120"

    return move_someone


@pytest.fixture
def event_hr_id() -> str:
    return "120"


@pytest.fixture
def event_request(fake: PersonioFake, event_hr_id: str) -> RawRequest:
    return fake.webhook_request(event_hr_id)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def source(config: PersonioConfig, fake: PersonioFake, clock: FakeClock) -> AsyncIterator[PersonioSource]:
    """The connector on a client built without auth, as the engine builds it: the connector adds its own."""
    async with build_client(config, transport=fake.transport()) as http:
        yield PersonioSource(config, http, retry=ReadRetry(attempts=4, clock=clock), clock=clock)
