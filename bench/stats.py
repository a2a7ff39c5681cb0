"""Percentiles of measured latencies: pure arithmetic, unit-tested."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], share: float) -> float:
    """The nearest-rank percentile: the smallest value with at least `share` of the values at or below it.

    Nearest rank never invents a latency nobody saw (interpolation would), and with 500 samples p99 is the
    fifth-slowest. Raises ValueError on no values or a share outside (0, 1].
    """
    if not values:
        raise ValueError("no values")
    if not 0 < share <= 1:
        raise ValueError(f"share {share} is not in (0, 1]")
    ordered = sorted(values)
    return ordered[max(1, math.ceil(share * len(ordered))) - 1]


def summary(values: Sequence[float]) -> dict[str, float | int | None]:
    """Count, p50, p95, p99 and max, rounded to the millisecond; None figures when there are no values."""
    if not values:
        return {"count": 0, "p50_s": None, "p95_s": None, "p99_s": None, "max_s": None}
    return {
        "count": len(values),
        "p50_s": round(percentile(values, 0.50), 3),
        "p95_s": round(percentile(values, 0.95), 3),
        "p99_s": round(percentile(values, 0.99), 3),
        "max_s": round(max(values), 3),
    }
