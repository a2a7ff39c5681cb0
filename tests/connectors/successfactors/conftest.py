"""Fixtures for the SuccessFactors tests and the shared contract suite (`SourceContract`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from pydantic import SecretStr

from enrolsync.connectors.kit.client import build_client
from enrolsync.connectors.kit.retry import ReadRetry
from enrolsync.connectors.successfactors import SuccessFactorsSource
from enrolsync.connectors.successfactors.config import SuccessFactorsConfig
from enrolsync.connectors.successfactors.fake import SuccessFactorsFake
from enrolsync.connectors.successfactors.fake.saml import signing_key
from enrolsync.connectors.testing.fakes import FakeClock, FakeServer
from tests.support.connectors import COMPANY_SIZE, successfactors_config


@pytest.fixture
def fake() -> SuccessFactorsFake:
    return SuccessFactorsFake.seeded(COMPANY_SIZE, seed=7)


@pytest.fixture
def config(fake: SuccessFactorsFake) -> SuccessFactorsConfig:
    return successfactors_config(fake)


@pytest.fixture
def bad_config(fake: SuccessFactorsFake) -> SuccessFactorsConfig:
    """An assertion signed with a key the OAuth client does not trust."""
    stranger = signing_key("not-the-registered-certificate")
    return successfactors_config(fake, private_key=SecretStr(stranger.private_key_pem), certificate=None)


@pytest.fixture
def connector_cls() -> type[SuccessFactorsSource]:
    return SuccessFactorsSource


@pytest.fixture
def expected_hr_ids(fake: SuccessFactorsFake) -> set[str]:
    return fake.hr_ids()


@pytest.fixture
def mutate() -> Callable[[FakeServer], str]:
    def move_someone(fake: FakeServer) -> str:
        assert isinstance(fake, SuccessFactorsFake)
        fake.tick(60)
        fake.move("120", department="Legal", manager="101")
        return "120"

    return move_someone


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def source(
    config: SuccessFactorsConfig, fake: SuccessFactorsFake, clock: FakeClock
) -> AsyncIterator[SuccessFactorsSource]:
    """The connector on a client built without auth, as the engine builds it: the connector adds its own."""
    async with build_client(config, transport=fake.transport()) as http:
        yield SuccessFactorsSource(config, http, retry=ReadRetry(attempts=4, clock=clock), clock=clock)
