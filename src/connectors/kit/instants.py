"""Points in time as HR APIs write them: ISO 8601 in, tz-aware UTC out, and back at second precision.

Vendors mix zoned and zone-less timestamps (HiBob's `triggeredAt` has none; BambooHR's and Personio's carry one);
a zone-less value is read as UTC, the zone every one of them documents for its API.
"""

from __future__ import annotations

from datetime import UTC, datetime

from enrolsync.connectors.errors import PermanentError


def parse_instant(value: str | None) -> datetime | None:
    """An ISO 8601 instant as tz-aware UTC (naive values are UTC); None when absent or unreadable."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def require_instant(value: str | None, *, source: str) -> datetime | None:
    """As `parse_instant`, but a value that is present and unreadable is `source` breaking its own contract:
    `PermanentError` naming it, rather than a silently missing date."""
    parsed = parse_instant(value)
    if value and parsed is None:
        raise PermanentError(f"{source} sent a date that is not ISO 8601: {value!r}")
    return parsed


def format_instant(value: datetime) -> str:
    """RFC 3339 in UTC at second precision with `Z`: what BambooHR's `since=` and Personio's `updated_at.gt=`
    take (no `+` to escape in a query string)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
