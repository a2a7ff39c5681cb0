"""The shared target contract, run against the real scim2-server (its WSGI app in process)."""

from __future__ import annotations

import pytest

from enrolsync.connectors.testing.contract import TargetContract


class TestScimContract(TargetContract):
    async def test_a_started_enrolment_is_never_removed(self) -> None:  # type: ignore[override]
        pytest.skip("SCIM carries no learning progress: a Group membership cannot be 'started' (README: Limits)")
