"""Default mapping of HTTP outcomes to the connector error taxonomy.

429, 503 and other 5xx and transport failures are transient; 401/403 are auth errors; 404 not found; 400, 409
and 422 invalid. A vendor overrides this in one function (its own `classify`) for its quirks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx
import structlog

from enrolsync.connectors.errors import (
    AuthError,
    ConnectorError,
    Invalid,
    NotFound,
    PermanentError,
    TransientError,
)
from enrolsync.connectors.kit.redaction import remote_text

log = structlog.get_logger("enrolsync.http")
THROTTLE_STATUSES = frozenset({429, 503})


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header: delta-seconds or an HTTP date (RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def classify(response: httpx.Response, reason: str | None = None) -> ConnectorError | None:
    """The error a response means, or None for success.

    `reason` is remote text (a vendor's error message): whatever of the request it echoes (credentials, query
    tokens, form values) is redacted here, where the error is made, so no later reader can see it.
    """
    status = response.status_code
    if status < 400:
        return None
    text = remote_text(reason or response.reason_phrase or "error", _request_of(response))
    if status in THROTTLE_STATUSES or status >= 500:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return TransientError(text, status=status, retry_after=retry_after)
    if status in (401, 403):
        return AuthError(text, status=status)
    if status == 404:
        return NotFound(text, status=status)
    if status in (400, 409, 422):
        return Invalid(text, status=status)
    return PermanentError(text, status=status)


def _request_of(response: httpx.Response) -> httpx.Request | None:
    try:
        return response.request
    except RuntimeError:  # a response built by hand, never sent
        return None


def raise_for(response: httpx.Response, reason: str | None = None) -> None:
    error = classify(response, reason)
    if error is not None:
        raise error


# One reason for every transport failure: telling a refused connection from a timeout or a non-HTTP answer
# would let whoever sets a base URL scan ports through the check endpoint. The kind is logged server-side.
UNREACHABLE = "no HTTP answer from the system (cannot connect, or the connection failed or timed out)"


@asynccontextmanager
async def transport_errors() -> AsyncIterator[None]:
    """Turn httpx transport failures (timeouts, resets, refused connections) into `TransientError`."""
    try:
        yield
    except httpx.TransportError as exc:
        log.info("http.unreachable", kind=type(exc).__name__)
        raise TransientError(UNREACHABLE) from exc
