"""Workday passes the shared source contract against its fake, through SOAP Get_Workers and through a RaaS report
(fixtures in conftest.py)."""

from __future__ import annotations

import pytest

from enrolsync.connectors.testing.contract import SourceContract


class TestWorkdaySoapContract(SourceContract):
    pass


class TestWorkdayRaasContract(SourceContract):
    @pytest.fixture
    def api(self) -> str:
        return "raas"
