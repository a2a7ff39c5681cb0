"""A connection whose vendor throttles with a leaky bucket (Docebo) learns the drain rate from Retry-After."""

from __future__ import annotations

import httpx

from enrolsync.connectors.kit.ratelimit import PACE_LAPSE, RateLimiter
from enrolsync.connectors.testing.fakes import FakeClock


def throttled(seconds: int) -> httpx.Response:
    return httpx.Response(429, headers={"Retry-After": str(seconds)})


async def sent_at(limiter: RateLimiter, clock: FakeClock, n: int) -> list[float]:
    stamps: list[float] = []
    for _ in range(n):
        async with limiter.slot():
            stamps.append(clock.now)
        limiter.observe(httpx.Response(200))
    return stamps


async def test_after_a_throttle_calls_are_spaced_by_its_retry_after() -> None:
    clock = FakeClock()
    limiter = RateLimiter(None, clock=clock, pace_on_throttle=True)
    limiter.observe(throttled(3))

    stamps = await sent_at(limiter, clock, 4)

    assert stamps[0] >= 1003, "the pause is kept first"
    assert [b - a for a, b in zip(stamps, stamps[1:], strict=False)] == [3, 3, 3]


async def test_without_opting_in_a_throttle_is_only_a_pause() -> None:
    clock = FakeClock()
    limiter = RateLimiter(None, clock=clock)
    limiter.observe(throttled(3))

    stamps = await sent_at(limiter, clock, 4)

    assert stamps == [1003.0] * 4 and limiter.pace is None


async def test_a_learnt_spacing_lapses_after_a_long_unthrottled_stretch() -> None:
    clock = FakeClock()
    limiter = RateLimiter(None, clock=clock, pace_on_throttle=True)
    limiter.observe(throttled(2))
    await sent_at(limiter, clock, PACE_LAPSE)
    assert limiter.pace is None
    start = clock.now
    assert await sent_at(limiter, clock, 3) == [start] * 3


async def test_a_long_retry_after_is_a_pause_not_a_spacing() -> None:
    clock = FakeClock()
    limiter = RateLimiter(None, clock=clock, pace_on_throttle=True)
    limiter.observe(throttled(3600))
    assert limiter.pace is None
