"""The shared target contract, run against the fake LearnUpon portal."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from enrolsync.connectors.learnupon.fake import FakeLearnUpon
from enrolsync.connectors.testing.contract import TargetContract
from enrolsync.connectors.testing.fakes import FakeServer


class TestLearnUponContract(TargetContract):
    @pytest.fixture
    def mark_started(self) -> Callable[[FakeServer, str, str], None]:
        def start(fake: FakeServer, account_id: str, course_id: str) -> None:
            assert isinstance(fake, FakeLearnUpon)
            fake.set_status(int(account_id), int(course_id), "in_progress")

        return start
