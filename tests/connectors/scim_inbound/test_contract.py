"""scim-inbound passes the shared source contract against its SCIM service fake (fixtures in conftest.py)."""

from __future__ import annotations

from enrolsync.connectors.testing.contract import SourceContract


class TestScimInboundContract(SourceContract):
    pass
