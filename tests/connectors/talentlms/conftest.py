"""Fixtures for the TalentLMS connector: a seeded fake portal, valid and wrong-key configs, the contract's."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from pydantic import SecretStr

from enrolsync.connectors.kit.client import build_client
from enrolsync.connectors.kit.retry import ReadRetry
from enrolsync.connectors.talentlms import TalentLMSTarget
from enrolsync.connectors.talentlms.config import TalentLMSConfig
from enrolsync.connectors.talentlms.fake import TalentLMSFake
from enrolsync.connectors.testing.fakes import FakeClock, FakeServer
from tests.support.talentlms import talentlms_config

API_KEY = "talentlms-s3cret-key-91f2"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake(clock: FakeClock) -> TalentLMSFake:
    return TalentLMSFake.seeded(api_key=API_KEY, clock=clock.monotonic)


@pytest.fixture
def config(fake: TalentLMSFake) -> TalentLMSConfig:
    return talentlms_config(fake)


@pytest.fixture
def bad_config(fake: TalentLMSFake) -> TalentLMSConfig:
    return talentlms_config(fake, api_key=SecretStr("wrong-key-0c41d9"))


@pytest.fixture
def connector_cls() -> type[TalentLMSTarget]:
    return TalentLMSTarget


@pytest.fixture
def course_ids(fake: TalentLMSFake) -> list[str]:
    return [str(c) for c in sorted(fake.portal.courses)][:2]


@pytest.fixture
def roles() -> list[str]:
    return ["learner", "instructor", "manager"]


@pytest.fixture
def sso_auth() -> str:
    return "saml2"


@pytest.fixture
def existing_accounts(fake: TalentLMSFake) -> set[str]:
    return {str(u) for u in fake.portal.users}


@pytest.fixture
def mark_started() -> Callable[[FakeServer, str, str], None]:
    def start(fake: FakeServer, account_id: str, course_id: str) -> None:
        assert isinstance(fake, TalentLMSFake)
        fake.start(int(account_id), int(course_id))

    return start


@pytest.fixture
async def target(config: TalentLMSConfig, fake: TalentLMSFake, clock: FakeClock) -> AsyncIterator[TalentLMSTarget]:
    async with build_client(config, transport=fake.transport()) as http:
        yield TalentLMSTarget(config, http, retry=ReadRetry(attempts=3, clock=clock))
