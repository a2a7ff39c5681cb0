"""The shared target contract, run against the fake Canvas instance."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from enrolsync.connectors.canvas.fake import FakeCanvas
from enrolsync.connectors.testing.contract import TargetContract
from enrolsync.connectors.testing.fakes import FakeServer


class TestCanvasContract(TargetContract):
    @pytest.fixture
    def mark_started(self) -> Callable[[FakeServer, str, str], None]:
        def start(fake: FakeServer, account_id: str, course_id: str) -> None:
            assert isinstance(fake, FakeCanvas)
            for e in fake.state.enrollments_in(int(course_id)):
                if e.user_id == int(account_id):
                    e.last_activity_at, e.total_activity_time = "2026-11-30T09:15:00Z", 1800

        return start
