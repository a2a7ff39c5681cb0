"""The shared target contract, run against the fake Moodle site of every release it imitates."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from enrolsync.connectors.moodle.fake.server import FakeMoodle
from enrolsync.connectors.moodle.fake.versions import VERSIONS
from enrolsync.connectors.testing.contract import TargetContract
from enrolsync.connectors.testing.fakes import FakeServer
from tests.support.connectors import MOODLE_TOKEN

OPENED_AT = 1_717_000_000  # a Unix time: the learner opened the course


class TestMoodleContract(TargetContract):
    @pytest.fixture(params=sorted(VERSIONS))
    def fake(self, request: pytest.FixtureRequest) -> FakeMoodle:
        return FakeMoodle.seeded(token=MOODLE_TOKEN, version=request.param)

    @pytest.fixture
    def mark_started(self) -> Callable[[FakeServer, str, str], None]:
        def start(fake: FakeServer, account_id: str, course_id: str) -> None:
            assert isinstance(fake, FakeMoodle)
            fake.state.lastaccess[(int(account_id), int(course_id))] = OPENED_AT

        return start
