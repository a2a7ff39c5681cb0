"""Fixtures for the Docebo connector: a seeded fake platform, valid and wrong-secret configs, the contract's."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from pydantic import SecretStr

from enrolsync.connectors.docebo import DoceboTarget
from enrolsync.connectors.docebo.config import DoceboConfig
from enrolsync.connectors.docebo.fake import DoceboFake
from enrolsync.connectors.kit.client import build_client
from enrolsync.connectors.kit.retry import ReadRetry
from enrolsync.connectors.testing.fakes import FakeClock, FakeServer
from tests.support.docebo import docebo_config

CLIENT_SECRET = "docebo-s3cret-client-7e21"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake(clock: FakeClock) -> DoceboFake:
    return DoceboFake.seeded(client_secret=CLIENT_SECRET, clock=clock.monotonic)


@pytest.fixture
def config(fake: DoceboFake) -> DoceboConfig:
    return docebo_config(fake)


@pytest.fixture
def bad_config(fake: DoceboFake) -> DoceboConfig:
    return docebo_config(fake, client_secret=SecretStr("wrong-secret-0c41d9"))


@pytest.fixture
def connector_cls() -> type[DoceboTarget]:
    return DoceboTarget


@pytest.fixture
def course_ids(fake: DoceboFake) -> list[str]:
    return [str(c) for c in sorted(fake.platform.courses)][:2]


@pytest.fixture
def roles() -> list[str]:
    return ["learner", "power_user", "manager"]


@pytest.fixture
def sso_auth() -> str:
    return "saml2"


@pytest.fixture
def existing_accounts(fake: DoceboFake) -> set[str]:
    return {str(u) for u in fake.platform.users}


@pytest.fixture
def mark_started() -> Callable[[FakeServer, str, str], None]:
    def start(fake: FakeServer, account_id: str, course_id: str) -> None:
        assert isinstance(fake, DoceboFake)
        fake.start(int(account_id), int(course_id))

    return start


@pytest.fixture
async def target(config: DoceboConfig, fake: DoceboFake, clock: FakeClock) -> AsyncIterator[DoceboTarget]:
    async with build_client(config, transport=fake.transport()) as http:
        yield DoceboTarget(config, http, retry=ReadRetry(attempts=3, clock=clock), clock=clock)
