"""The shared target contract, run against the fake Moodle site."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from enrolsync.connectors.moodle.fake.server import FakeMoodle
from enrolsync.connectors.testing.contract import TargetContract
from enrolsync.connectors.testing.fakes import FakeServer

OPENED_AT = 1_717_000_000  # a Unix time: the learner opened the course


class TestMoodleContract(TargetContract):
    @pytest.fixture
    def mark_started(self) -> Callable[[FakeServer, str, str], None]:
        def start(fake: FakeServer, account_id: str, course_id: str) -> None:
            assert isinstance(fake, FakeMoodle)
            fake.state.lastaccess[(int(account_id), int(course_id))] = OPENED_AT

        return start
