"""One limiter per connection: a request budget, a concurrency cap and a shared pause for `Retry-After`.

The steady budget is aiolimiter's leaky bucket. A throttled answer (429/503 with `Retry-After`) pauses every
request of the connection until the remote system said it is ready, not just the one that was refused.
Long windows (TalentLMS: 2,000 calls per hour) are `WindowBudget`s: a leaky bucket would let twice the budget
through in one window, so they count the calls of the last window exactly and wait for the oldest to age out.
A vendor whose own throttle is a leaky bucket of unpublished size (Docebo) opts into `pace_on_throttle`: a 429's
`Retry-After` (the time one call takes to drain) becomes the spacing of later calls, so the connection slows to
the bucket's rate rather than being refused again by every burst that follows a pause.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import httpx
from aiolimiter import AsyncLimiter

from enrolsync.connectors.base import Rate
from enrolsync.connectors.kit.clock import SYSTEM_CLOCK, Clock
from enrolsync.connectors.kit.errors import THROTTLE_STATUSES, parse_retry_after

PACE_MAX = 60.0  # seconds: the longest Retry-After taken as a call spacing rather than a pause
PACE_LAPSE = 100  # unthrottled answers after which a learnt spacing is dropped


class WindowBudget:
    """At most `calls` requests in any `per_seconds` (a sliding window, so a vendor's fixed window is kept too).

    A request past the budget waits (on the clock) until the oldest one leaves the window: a big sync is spread
    over the allowed time instead of being refused. `sync` adopts what the vendor's `X-RateLimit-*` headers say
    (another plan's limit, or calls someone else made with the same key).
    """

    def __init__(self, rate: Rate, clock: Clock) -> None:
        self.calls = rate.calls
        self.per_seconds = rate.per_seconds
        self._clock = clock
        self._stamps: deque[float] = deque()
        self.waited = 0.0  # seconds requests spent waiting for the window: the budget at work, for reports

    def _expire(self, now: float) -> None:
        while self._stamps and self._stamps[0] <= now - self.per_seconds:
            self._stamps.popleft()

    @property
    def used(self) -> int:
        self._expire(self._clock.monotonic())
        return len(self._stamps)

    async def acquire(self) -> None:
        while True:
            now = self._clock.monotonic()
            self._expire(now)
            if len(self._stamps) < self.calls:
                self._stamps.append(now)
                return
            wait = self._stamps[0] + self.per_seconds - now
            self.waited += wait
            await self._clock.sleep(wait)

    def sync(self, limit: int | None, remaining: int | None) -> None:
        """Take the vendor's word: its limit for the window, and how many calls it still allows in it."""
        if limit is not None and limit > 0:
            self.calls = limit
        if remaining is None:
            return
        now = self._clock.monotonic()
        self._expire(now)
        unseen = (self.calls - max(remaining, 0)) - len(self._stamps)
        # Calls we did not make (another client on the same key) count from now: the cautious guess.
        self._stamps.extend([now] * max(unseen, 0))


def _header_int(response: httpx.Response, name: str) -> int | None:
    try:
        return int(response.headers[name])
    except (KeyError, ValueError):
        return None


class RateLimiter:
    def __init__(
        self,
        rate: Rate | None = None,
        *,
        max_concurrency: int = 4,
        clock: Clock = SYSTEM_CLOCK,
        windows: Sequence[Rate] = (),
        pace_on_throttle: bool = False,
    ) -> None:
        self.rate = rate
        self._bucket = AsyncLimiter(rate.calls, rate.per_seconds) if rate else None
        # Longest last: the vendor's X-RateLimit-* headers describe its main (longest) window.
        self.windows = [WindowBudget(w, clock) for w in sorted(windows, key=lambda w: w.per_seconds)]
        self._slots = asyncio.Semaphore(max_concurrency)
        self._clock = clock
        self._paused_until = 0.0
        self.throttled = 0
        self.requests = 0
        self.pace_on_throttle = pace_on_throttle
        self.pace: WindowBudget | None = None  # one call per the last Retry-After, learnt from a throttle
        self._unthrottled = 0

    def pause(self, seconds: float) -> None:
        """Hold every request of this connection for `seconds` from now (extends, never shortens a pause)."""
        self._paused_until = max(self._paused_until, self._clock.monotonic() + seconds)

    async def _wait_out_pause(self) -> None:
        while (remaining := self._paused_until - self._clock.monotonic()) > 0:
            await self._clock.sleep(remaining)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        async with self._slots:
            await self._wait_out_pause()
            if self._bucket is not None:
                await self._bucket.acquire()
            for window in self.windows:
                await window.acquire()
            if self.pace is not None:
                await self.pace.acquire()
            self.requests += 1
            yield

    def observe(self, response: httpx.Response) -> None:
        if self.windows:
            limit = _header_int(response, "X-RateLimit-Limit")
            remaining = _header_int(response, "X-RateLimit-Remaining")
            if limit is not None or remaining is not None:
                self.windows[-1].sync(limit, remaining)
        if response.status_code in THROTTLE_STATUSES:
            self.throttled += 1
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if retry_after:
                self.pause(retry_after)
                self._learn_pace(retry_after)
        elif self.pace is not None:
            self._unthrottled += 1
            if self._unthrottled >= PACE_LAPSE:  # the vendor may have more room now: try full speed again
                self.pace = None

    def _learn_pace(self, retry_after: float) -> None:
        """A leaky bucket's Retry-After is how long one call takes to drain: space calls that far apart from now
        on (a longer wait than `PACE_MAX` is a window running out, kept as a pause only)."""
        self._unthrottled = 0
        if not self.pace_on_throttle or retry_after > PACE_MAX:
            return
        if self.pace is None or retry_after > self.pace.per_seconds:
            self.pace = WindowBudget(Rate(calls=1, per_seconds=retry_after), self._clock)


class LimitedTransport(httpx.AsyncBaseTransport):
    """Wraps a transport so every request of a client passes through the connection's limiter."""

    def __init__(self, inner: httpx.AsyncBaseTransport, limiter: RateLimiter) -> None:
        self._inner = inner
        self.limiter = limiter

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        async with self.limiter.slot():
            response = await self._inner.handle_async_request(request)
        self.limiter.observe(response)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()
