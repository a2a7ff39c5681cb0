"""The shared target contract, run against the fake TalentLMS portal."""

from __future__ import annotations

from enrolsync.connectors.testing.contract import TargetContract


class TestTalentLMSContract(TargetContract):
    pass
