"""One limiter per connection: a request budget, a concurrency cap and a shared pause for `Retry-After`.

The steady budget is aiolimiter's leaky bucket. A throttled answer (429/503 with `Retry-After`) pauses every
request of the connection until the remote system said it is ready, not just the one that was refused.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from aiolimiter import AsyncLimiter

from enrolsync.connectors.base import Rate
from enrolsync.connectors.kit.clock import SYSTEM_CLOCK, Clock
from enrolsync.connectors.kit.errors import THROTTLE_STATUSES, parse_retry_after


class RateLimiter:
    def __init__(self, rate: Rate | None = None, *, max_concurrency: int = 4, clock: Clock = SYSTEM_CLOCK) -> None:
        self.rate = rate
        self._bucket = AsyncLimiter(rate.calls, rate.per_seconds) if rate else None
        self._slots = asyncio.Semaphore(max_concurrency)
        self._clock = clock
        self._paused_until = 0.0
        self.throttled = 0
        self.requests = 0

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
            self.requests += 1
            yield

    def observe(self, response: httpx.Response) -> None:
        if response.status_code in THROTTLE_STATUSES:
            self.throttled += 1
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if retry_after:
                self.pause(retry_after)


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
