"""Instants as HR APIs write them: zone-less values are UTC, offsets are converted, bad text is no instant."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from enrolsync.connectors.kit.instants import format_instant, parse_instant


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-06-02T10:15:30", datetime(2025, 6, 2, 10, 15, 30, tzinfo=UTC)),  # HiBob's triggeredAt: no zone
        ("2025-06-02T12:15:30+02:00", datetime(2025, 6, 2, 10, 15, 30, tzinfo=UTC)),
        (" 2025-06-02T10:15:30Z ", datetime(2025, 6, 2, 10, 15, 30, tzinfo=UTC)),
        ("0000-00-00", None),
        ("yesterday", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_instant_reads_utc_or_nothing(text: str | None, expected: datetime | None) -> None:
    assert parse_instant(text) == expected


def test_format_instant_is_second_precision_utc_with_z_and_reads_back() -> None:
    text = format_instant(datetime(2025, 6, 2, 12, 15, 30, 987_000, tzinfo=UTC))
    assert text == "2025-06-02T12:15:30Z"
    assert "+" not in text  # travels in a query string unescaped
    assert parse_instant(text) == datetime(2025, 6, 2, 12, 15, 30, tzinfo=UTC)
