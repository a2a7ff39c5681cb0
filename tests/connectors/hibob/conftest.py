"""Fixtures for the HiBob tests and the shared contract suite (`SourceContract`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from pydantic import SecretStr

from enrolsync.connectors.hibob import HiBobSource
from enrolsync.connectors.hibob.config import HiBobConfig
from enrolsync.connectors.hibob.fake.server import HiBobFake
from enrolsync.connectors.kit.client import build_client
from enrolsync.connectors.kit.retry import ReadRetry
from enrolsync.connectors.model import RawRequest
from enrolsync.connectors.testing.fakes import FakeClock, FakeServer
from tests.support.connectors import COMPANY_SIZE, hibob_config


@pytest.fixture
def fake() -> HiBobFake:
    return HiBobFake.seeded(COMPANY_SIZE, seed=7)


@pytest.fixture
def config(fake: HiBobFake) -> HiBobConfig:
    return hibob_config(fake)


@pytest.fixture
def bad_config(fake: HiBobFake) -> HiBobConfig:
    return hibob_config(fake, service_user_token=SecretStr("not-the-token-7f3a9"))


@pytest.fixture
def connector_cls() -> type[HiBobSource]:
    return HiBobSource


@pytest.fixture
def expected_hr_ids(fake: HiBobFake) -> set[str]:
    return fake.hr_ids()


@pytest.fixture
def mutate() -> Callable[[FakeServer], str]:
    def move_someone(fake: FakeServer) -> str:
        assert isinstance(fake, HiBobFake)
        fake.move("120", department="Legal", manager="101")
        return "120"

    return move_someone


@pytest.fixture
def event_hr_id() -> str:
    return "120"


@pytest.fixture
def event_request(fake: HiBobFake, event_hr_id: str) -> RawRequest:
    return fake.webhook_request(event_hr_id)


@pytest.fixture
def sleeps() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def source(config: HiBobConfig, fake: HiBobFake, sleeps: FakeClock) -> AsyncIterator[HiBobSource]:
    """The connector on a client built without auth, as the engine builds it: the connector adds its own."""
    async with build_client(config, transport=fake.transport()) as http:
        yield HiBobSource(config, http, retry=ReadRetry(attempts=4, clock=sleeps))
