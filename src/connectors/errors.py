"""One error taxonomy for every connector: retry decisions become data."""

from __future__ import annotations


class ConnectorError(Exception):
    """A failure talking to a remote system. Messages never carry secrets or personal data."""

    def __init__(self, reason: str, *, status: int | None = None) -> None:
        super().__init__(reason if status is None else f"{reason} (HTTP {status})")
        self.reason = reason
        self.status = status


class TransientError(ConnectorError):
    """Worth retrying later: throttling, 5xx, timeouts, dropped connections."""

    def __init__(self, reason: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(reason, status=status)
        self.retry_after = retry_after


class PermanentError(ConnectorError):
    """Retrying the same call will fail the same way."""


class AuthError(PermanentError):
    """Credentials are missing, wrong, expired or lack a permission."""


class NotFound(PermanentError):
    """The addressed object does not exist."""


class Invalid(PermanentError):
    """The remote system rejected the data (validation, uniqueness)."""
