"""The shared target contract, run against the fake Docebo platform."""

from __future__ import annotations

from enrolsync.connectors.testing.contract import TargetContract


class TestDoceboContract(TargetContract):
    pass
