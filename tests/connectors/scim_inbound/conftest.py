"""Fixtures for the scim-inbound tests and the shared contract suite (`SourceContract`)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pydantic import SecretStr

from enrolsync.connectors.scim_inbound import ScimInboundSource
from enrolsync.connectors.scim_inbound.config import ScimInboundConfig
from enrolsync.connectors.scim_inbound.fake import ScimServiceFake
from enrolsync.connectors.testing.fakes import FakeServer

SIZE = 45  # three pages of 20, the last one short


@pytest.fixture
def fake() -> ScimServiceFake:
    return ScimServiceFake.seeded(SIZE, seed=3)


@pytest.fixture
def config(fake: ScimServiceFake) -> ScimInboundConfig:
    return ScimInboundConfig.model_validate(
        {"base_url": "https://idp.test/scim/v2/", "token": fake.token, "page_size": 20}
    )


@pytest.fixture
def bad_config(config: ScimInboundConfig) -> ScimInboundConfig:
    return config.model_copy(update={"token": SecretStr("not-the-token-5c1e")})


@pytest.fixture
def connector_cls() -> type[ScimInboundSource]:
    return ScimInboundSource


@pytest.fixture
def expected_hr_ids(fake: ScimServiceFake) -> set[str]:
    return set(fake.users)


@pytest.fixture
def mutate() -> Callable[[FakeServer], str]:
    def move_someone(fake: FakeServer) -> str:
        assert isinstance(fake, ScimServiceFake)
        fake.users["u9"]["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"] = "Legal"
        return "u9"

    return move_someone
