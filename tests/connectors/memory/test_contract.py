"""The memory connectors pass both contract suites: this tests the suites themselves."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from pydantic import SecretStr

from enrolsync.connectors.kit.webhooks import sign_timestamped
from enrolsync.connectors.memory import MemorySource, MemoryTarget
from enrolsync.connectors.memory.config import MemoryConfig
from enrolsync.connectors.memory.fake import MemoryFake
from enrolsync.connectors.memory.state import DATASETS, dataset
from enrolsync.connectors.model import AccountFields, Person, RawRequest
from enrolsync.connectors.testing.contract import SourceContract, TargetContract
from enrolsync.connectors.testing.fakes import FakeServer


@pytest.fixture
def name() -> Iterator[str]:
    key = uuid.uuid4().hex
    yield key
    DATASETS.pop(key, None)


@pytest.fixture
def fake(name: str) -> MemoryFake:
    data = dataset(name)
    for n in range(120):
        data.hris.put(Person(hr_id=f"E{n:03}", given_name="P", family_name=str(n), work_email=f"p{n}@example.com"))
    for n in range(3):
        data.lms.new_account(
            AccountFields(username=f"seed{n}", given_name="S", family_name=str(n), email=f"seed{n}@example.com")
        )
    return MemoryFake(data)


@pytest.fixture
def config(name: str) -> MemoryConfig:
    return MemoryConfig(dataset=name, page_size=25, webhook_secret=SecretStr(WEBHOOK_SECRET))


@pytest.fixture
def bad_config(name: str) -> MemoryConfig:
    return MemoryConfig(dataset=name, token=SecretStr("not-the-token-0451"))


WEBHOOK_SECRET = "memory-webhook-secret-77"


class TestMemorySourceContract(SourceContract):
    @pytest.fixture
    def event_request(self) -> RawRequest:
        body = json.dumps({"events": [{"id": "ev-1", "type": "updated", "hr_id": "E007"}]}).encode()
        now = datetime.now(UTC)
        header = sign_timestamped(WEBHOOK_SECRET, body, int(now.timestamp()))
        return RawRequest(headers={"Enrolsync-Signature": header}, body=body, received_at=now)

    @pytest.fixture
    def event_hr_id(self) -> str:
        return "E007"

    @pytest.fixture
    def connector_cls(self) -> type[MemorySource]:
        return MemorySource

    @pytest.fixture
    def expected_hr_ids(self) -> set[str]:
        return {f"E{n:03}" for n in range(120)}

    @pytest.fixture
    def mutate(self) -> Callable[[FakeServer], str]:
        def change(fake: FakeServer) -> str:
            assert isinstance(fake, MemoryFake)
            fake.data.hris.put(Person(hr_id="E007", given_name="Changed", family_name="7", department="Sales"))
            return "E007"

        return change


class TestMemoryTargetContract(TargetContract):
    @pytest.fixture
    def connector_cls(self) -> type[MemoryTarget]:
        return MemoryTarget

    @pytest.fixture
    def course_ids(self) -> list[str]:
        return ["C1", "C2"]

    @pytest.fixture
    def roles(self) -> list[str]:
        return ["learner", "manager"]

    @pytest.fixture
    def sso_auth(self) -> str:
        return "saml2"

    @pytest.fixture
    def existing_accounts(self, fake: MemoryFake) -> set[str]:
        return set(fake.data.lms.accounts)

    @pytest.fixture
    def mark_started(self) -> Callable[[FakeServer, str, str], None]:
        def start(fake: FakeServer, account_id: str, course_id: str) -> None:
            assert isinstance(fake, MemoryFake)
            fake.data.lms.started.add((account_id, course_id))

        return start
