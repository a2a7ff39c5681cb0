"""Fixtures for the LearnUpon connector: a seeded fake portal, a valid and a wrong-key config, and the contract's."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from enrolsync.connectors.kit.client import build_client
from enrolsync.connectors.kit.retry import ReadRetry
from enrolsync.connectors.learnupon import LearnUponTarget
from enrolsync.connectors.learnupon.config import LearnUponConfig
from enrolsync.connectors.learnupon.fake import FakeLearnUpon
from enrolsync.connectors.testing.fakes import FakeClock
from tests.support.connectors import LU_KEY, LU_SECRET


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake(clock: FakeClock) -> FakeLearnUpon:
    return FakeLearnUpon.seeded(key=LU_KEY, secret=LU_SECRET, clock=clock.monotonic, page_size=3)


@pytest.fixture
def config() -> LearnUponConfig:
    return LearnUponConfig(
        base_url="https://acme.learnupon.test/",
        api_username=LU_KEY,
        api_password=SecretStr(LU_SECRET),
        department_field="department",
        sso_auth="saml2",
        sso_field="sign_in",
    )


@pytest.fixture
def bad_config(config: LearnUponConfig) -> LearnUponConfig:
    return config.model_copy(update={"api_password": SecretStr("wrong-password-77a1c")})


@pytest.fixture
def connector_cls() -> type[LearnUponTarget]:
    return LearnUponTarget


@pytest.fixture
def course_ids(fake: FakeLearnUpon) -> list[str]:
    return [str(c) for c in sorted(fake.portal.courses)[:2]]


@pytest.fixture
def roles() -> list[str]:
    return ["learner", "manager", "instructor", "admin"]


@pytest.fixture
def sso_auth() -> str:
    return "saml2"


@pytest.fixture
def existing_accounts(fake: FakeLearnUpon) -> set[str]:
    return {str(u) for u in fake.portal.users}


@pytest.fixture
async def target(config: LearnUponConfig, fake: FakeLearnUpon, clock: FakeClock) -> AsyncIterator[LearnUponTarget]:
    async with build_client(config, transport=fake.transport()) as http:
        yield LearnUponTarget(config, http, retry=ReadRetry(attempts=4, clock=clock))
