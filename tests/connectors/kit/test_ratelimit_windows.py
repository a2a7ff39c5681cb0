"""Long rate windows (TalentLMS: 2,000 calls an hour) are spread over the window, never exceeded in it."""

from __future__ import annotations

import httpx

from enrolsync.connectors.base import Rate
from enrolsync.connectors.kit.ratelimit import LimitedTransport, RateLimiter
from enrolsync.connectors.testing.fakes import FakeClock


def busiest_window(stamps: list[float], seconds: float) -> int:
    return max(sum(1 for t in stamps if start <= t < start + seconds) for start in stamps)


async def test_calls_past_the_budget_wait_for_the_window_instead_of_going_out() -> None:
    clock = FakeClock()
    limiter = RateLimiter(None, clock=clock, windows=[Rate(calls=5, per_seconds=60)])
    sent: list[float] = []
    for _ in range(12):
        async with limiter.slot():
            sent.append(clock.now)

    assert sent[:5] == [sent[0]] * 5, "calls within the budget do not wait"
    assert busiest_window(sent, 60) == 5
    assert sent[-1] - sent[0] >= 120, "12 calls at 5 a minute take two full windows"
    assert limiter.windows[0].waited == sum(clock.sleeps) > 0


async def test_the_vendors_headers_set_the_limit_and_count_calls_made_elsewhere() -> None:
    clock = FakeClock()
    answers = iter([(3, 1)] + [(3, 3)] * 10)  # (limit, remaining): someone else already spent most of it

    def vendor(request: httpx.Request) -> httpx.Response:
        limit, remaining = next(answers)
        return httpx.Response(200, headers={"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(remaining)})

    limiter = RateLimiter(None, clock=clock, windows=[Rate(calls=100, per_seconds=3600)])
    sent: list[float] = []
    async with httpx.AsyncClient(transport=LimitedTransport(httpx.MockTransport(vendor), limiter)) as http:
        for _ in range(4):
            await http.get("https://lms.test/")
            sent.append(clock.now)

    assert limiter.windows[0].calls == 3, "the plan's limit is taken from X-RateLimit-Limit"
    # After the first answer (1 of 3 left, one call ours): one more fits, then the hour must pass.
    assert sent[1] == sent[0] and sent[2] >= sent[0] + 3600
    assert busiest_window(sent, 3600) <= 3


async def test_the_short_window_and_the_long_one_both_hold() -> None:
    clock = FakeClock()
    limiter = RateLimiter(None, clock=clock, windows=[Rate(calls=20, per_seconds=3600), Rate(calls=4, per_seconds=5)])
    sent: list[float] = []
    for _ in range(25):
        async with limiter.slot():
            sent.append(clock.now)
    assert busiest_window(sent, 5) <= 4 and busiest_window(sent, 3600) <= 20
    assert sent[-1] - sent[0] >= 3600
