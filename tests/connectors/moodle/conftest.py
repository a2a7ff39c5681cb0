"""Fixtures for the Moodle connector: a seeded fake site, a valid and a wrong-token config, and the contract's."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from enrolsync.connectors.kit.client import build_client
from enrolsync.connectors.kit.retry import ReadRetry
from enrolsync.connectors.moodle import MoodleTarget
from enrolsync.connectors.moodle.config import MoodleConfig
from enrolsync.connectors.moodle.fake.server import FakeMoodle
from enrolsync.connectors.testing.fakes import FakeClock
from tests.support.connectors import MIRROR_FIELD, MOODLE_TOKEN


@pytest.fixture
def fake() -> FakeMoodle:
    return FakeMoodle.seeded(token=MOODLE_TOKEN)


@pytest.fixture
def config(fake: FakeMoodle) -> MoodleConfig:
    role_ids = {name: fake.role_id(name) for name in ("student", "editingteacher", "manager", "parent")}
    return MoodleConfig(
        base_url="https://moodle.example.test/",
        token=SecretStr(MOODLE_TOKEN),
        role_ids=role_ids,
        role_mirror_field=MIRROR_FIELD,
        job_title_field="jobtitle",
    )


@pytest.fixture
def bad_config(config: MoodleConfig) -> MoodleConfig:
    return config.model_copy(update={"token": SecretStr("wrong-token-0a9d77")})


@pytest.fixture
def connector_cls() -> type[MoodleTarget]:
    return MoodleTarget


@pytest.fixture
def course_ids() -> list[str]:
    return ["2", "3"]


@pytest.fixture
def roles() -> list[str]:
    return ["learner", "instructor", "manager"]


@pytest.fixture
def sso_auth() -> str:
    return "saml2"


@pytest.fixture
def existing_accounts() -> set[str]:
    return {"2", "3", "4", "5"}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def target(config: MoodleConfig, fake: FakeMoodle, clock: FakeClock) -> AsyncIterator[MoodleTarget]:
    async with build_client(config, transport=fake.transport()) as http:
        yield MoodleTarget(config, http, retry=ReadRetry(attempts=3, clock=clock))
