"""Fixtures for the scim target: the real scim2-server in process, seeded with users and course groups."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from pydantic import SecretStr

from enrolsync.connectors.kit.client import build_client
from enrolsync.connectors.kit.retry import ReadRetry
from enrolsync.connectors.scim import ScimTarget
from enrolsync.connectors.scim.config import ScimConfig
from enrolsync.connectors.testing.fakes import FakeClock
from tests.support.scim_server import BASE_URL, SCIM_TOKEN, ScimServer


@pytest.fixture
def fake() -> ScimServer:
    server = ScimServer()
    server.add_user("seed.one@example.com", "SEED-1", active=True)
    server.add_user("seed.two@example.com", "SEED-2", active=True)
    server.add_group("SAFETY-101")
    server.add_group("SEC-200")
    server.add_group("Instructors")
    return server


@pytest.fixture
def config(fake: ScimServer) -> ScimConfig:
    return ScimConfig(
        base_url=BASE_URL, token=SecretStr(SCIM_TOKEN), role_groups={"instructor": fake.group_named("Instructors")}
    )


@pytest.fixture
def bad_config(config: ScimConfig) -> ScimConfig:
    return config.model_copy(update={"token": SecretStr("wrong-token-5be1c0")})


@pytest.fixture
def connector_cls() -> type[ScimTarget]:
    return ScimTarget


@pytest.fixture
def course_ids(fake: ScimServer) -> list[str]:
    return [fake.group_named("SAFETY-101"), fake.group_named("SEC-200")]


@pytest.fixture
def roles() -> list[str]:
    return ["instructor", "manager"]


@pytest.fixture
def sso_auth() -> str:
    return "none"


@pytest.fixture
def existing_accounts(fake: ScimServer) -> set[str]:
    return {u["id"] for u in fake.users()}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


Make = Callable[..., AsyncIterator[ScimTarget]]


@pytest.fixture
async def target(fake: ScimServer, config: ScimConfig, clock: FakeClock) -> AsyncIterator[ScimTarget]:
    """The connector on the in-process scim2-server, read retries on the fake clock."""
    async with build_client(config, transport=fake.transport()) as http:
        yield ScimTarget(config, http, retry=ReadRetry(attempts=4, clock=clock))
