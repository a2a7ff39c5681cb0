"""Personio passes the shared source contract against its fake (fixtures in conftest.py)."""

from __future__ import annotations

import pytest

from enrolsync.connectors.base import SourceConnector
from enrolsync.connectors.errors import AuthError
from enrolsync.connectors.model import RawRequest
from enrolsync.connectors.testing.contract import SourceContract


class TestPersonioContract(SourceContract):
    def test_event_with_tampered_body_is_rejected(self, connector: SourceConnector, event_request: RawRequest) -> None:  # type: ignore[override]
        """Replaced: Personio signs nothing (https://developer.personio.de/docs/webhooks), so a changed body
        cannot be detected; what proves a call is Personio's is the token it carries in `Authorization`."""
        forged = event_request.model_copy(update={"headers": {**event_request.headers, "Authorization": "Bearer x"}})
        with pytest.raises(AuthError):
            connector.parse_event(forged)
        unsigned = event_request.model_copy(update={"headers": {"Content-Type": "application/json"}})
        with pytest.raises(AuthError):
            connector.parse_event(unsigned)
