"""Percentiles of the webhook burst's latencies: nearest rank, never an invented value."""

from __future__ import annotations

import pytest

from bench.stats import percentile, summary


@pytest.mark.parametrize(
    ("values", "share", "expected"),
    [
        ([5.0], 0.5, 5.0),
        ([5.0], 0.99, 5.0),
        ([1.0, 2.0, 3.0, 4.0], 0.5, 2.0),  # half the values at or below 2
        ([4.0, 3.0, 2.0, 1.0], 0.5, 2.0),  # order of arrival does not matter
        ([1.0, 2.0, 3.0, 4.0], 0.51, 3.0),
        ([1.0, 2.0, 3.0, 4.0], 1.0, 4.0),
        ([float(v) for v in range(1, 101)], 0.95, 95.0),
        ([float(v) for v in range(1, 101)], 0.99, 99.0),
        ([float(v) for v in range(1, 501)], 0.99, 495.0),  # 500 calls: p99 is the fifth-slowest
    ],
)
def test_percentile_is_the_nearest_rank(values: list[float], share: float, expected: float) -> None:
    assert percentile(values, share) == expected


def test_percentile_refuses_no_values_and_shares_outside_zero_to_one() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 0.5)
    for share in (0.0, 1.5, -0.1):
        with pytest.raises(ValueError, match="not in"):
            percentile([1.0], share)


def test_summary_rounds_to_the_millisecond_and_reports_the_count() -> None:
    found = summary([0.10049, 0.2, 0.3, 2.5])
    assert found == {"count": 4, "p50_s": 0.2, "p95_s": 2.5, "p99_s": 2.5, "max_s": 2.5}
    assert summary([])["p95_s"] is None
