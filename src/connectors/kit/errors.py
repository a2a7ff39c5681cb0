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

from enrolsync.connectors.errors import (
    AuthError,
    ConnectorError,
    Invalid,
    NotFound,
    PermanentError,
    TransientError,
)

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
    """The error a response means, or None for success. Never reads secrets into the message."""
    status = response.status_code
    if status < 400:
        return None
    text = reason or response.reason_phrase or "error"
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


def raise_for(response: httpx.Response, reason: str | None = None) -> None:
    error = classify(response, reason)
    if error is not None:
        raise error


@asynccontextmanager
async def transport_errors() -> AsyncIterator[None]:
    """Turn httpx transport failures (timeouts, resets, refused connections) into `TransientError`."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise TransientError(f"timeout: {type(exc).__name__}") from exc
    except httpx.TransportError as exc:
        raise TransientError(f"transport: {type(exc).__name__}") from exc
