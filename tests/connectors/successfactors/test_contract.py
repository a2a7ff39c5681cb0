"""SuccessFactors passes the shared source contract against its fake (fixtures in conftest.py)."""

from __future__ import annotations

from enrolsync.connectors.testing.contract import SourceContract


class TestSuccessFactorsContract(SourceContract):
    pass
