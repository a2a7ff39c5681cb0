"""The shared target contract, run against the fake Moodle site."""

from __future__ import annotations

from enrolsync.connectors.testing.contract import TargetContract


class TestMoodleContract(TargetContract):
    pass
