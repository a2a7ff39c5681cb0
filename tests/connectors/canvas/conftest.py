"""Fixtures for the Canvas connector: a seeded fake instance, a valid and a wrong-token config, the contract's."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from enrolsync.connectors.canvas import CanvasTarget
from enrolsync.connectors.canvas.config import CanvasConfig
from enrolsync.connectors.canvas.fake import FakeCanvas
from enrolsync.connectors.kit.client import build_client
from enrolsync.connectors.kit.retry import ReadRetry
from enrolsync.connectors.testing.fakes import FakeClock

TOKEN = "canvas-test-token-7d41c2"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake(clock: FakeClock) -> FakeCanvas:
    return FakeCanvas.seeded(token=TOKEN, clock=clock)


@pytest.fixture
def config() -> CanvasConfig:
    return CanvasConfig(base_url="https://canvas.example.test/", token=SecretStr(TOKEN))


@pytest.fixture
def bad_config(config: CanvasConfig) -> CanvasConfig:
    return config.model_copy(update={"token": SecretStr("wrong-token-0a9d77")})


@pytest.fixture
def connector_cls() -> type[CanvasTarget]:
    return CanvasTarget


@pytest.fixture
def course_ids(fake: FakeCanvas) -> list[str]:
    return [str(c) for c in sorted(fake.state.courses)][:2]


@pytest.fixture
def roles() -> list[str]:
    return ["learner", "instructor", "manager"]


@pytest.fixture
def sso_auth() -> str:
    return "saml2"


@pytest.fixture
def existing_accounts(fake: FakeCanvas) -> set[str]:
    return {str(u.id) for u in fake.state.live_users()}


@pytest.fixture
async def target(config: CanvasConfig, fake: FakeCanvas, clock: FakeClock) -> AsyncIterator[CanvasTarget]:
    async with build_client(config, transport=fake.transport()) as http:
        yield CanvasTarget(config, http, retry=ReadRetry(attempts=4, clock=clock))
