"""Fixtures for the Workday tests and the shared contract suite (`SourceContract`), for either API (`api`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from pydantic import SecretStr

from enrolsync.connectors.kit.client import build_client
from enrolsync.connectors.kit.retry import ReadRetry
from enrolsync.connectors.testing.fakes import FakeClock, FakeServer
from enrolsync.connectors.workday import WorkdaySource
from enrolsync.connectors.workday.config import WorkdayConfig
from enrolsync.connectors.workday.fake import WorkdayFake
from tests.support.connectors import COMPANY_SIZE, workday_config


@pytest.fixture
def api() -> str:
    return "soap"


@pytest.fixture
def fake() -> WorkdayFake:
    return WorkdayFake.seeded(COMPANY_SIZE, seed=7)


@pytest.fixture
def config(fake: WorkdayFake, api: str) -> WorkdayConfig:
    return workday_config(fake, api=api)


@pytest.fixture
def bad_config(fake: WorkdayFake, api: str) -> WorkdayConfig:
    return workday_config(fake, api=api, password=SecretStr("not-the-isu-password"))


@pytest.fixture
def connector_cls() -> type[WorkdaySource]:
    return WorkdaySource


@pytest.fixture
def expected_hr_ids(fake: WorkdayFake) -> set[str]:
    return fake.hr_ids()


@pytest.fixture
def mutate() -> Callable[[FakeServer], str]:
    def move_someone(fake: FakeServer) -> str:
        assert isinstance(fake, WorkdayFake)
        fake.tick(600)
        fake.move("120", department="Legal", manager="101")
        return "120"

    return move_someone


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def source(config: WorkdayConfig, fake: WorkdayFake, clock: FakeClock) -> AsyncIterator[WorkdaySource]:
    """The connector on a client built without auth, as the engine builds it: the connector adds its own."""
    async with build_client(config, transport=fake.transport()) as http:
        yield WorkdaySource(config, http, retry=ReadRetry(attempts=4, clock=clock), clock=clock)
