"""Concurrency that follows Canvas's rate-limit budget.

Canvas throttles each access token with a leaky bucket (instructure/canvas-lms `doc/api/throttling.md`): every
answer says what the request cost (`X-Request-Cost`) and, once throttling applies, how much quota is left
(`X-Rate-Limit-Remaining`); every request in flight is charged a pre-flight penalty of 50 units until it finishes,
so parallel requests drain the bucket faster than serial ones; an empty bucket answers `403 Forbidden (Rate Limit
Exceeded)`. So the number of requests in flight is cut to what the remaining quota affords, two penalties of
headroom each, and drops to one after a throttled answer until the bucket reports room again.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

PREFLIGHT_PENALTY = 50.0  # units Canvas holds per request in flight (throttling.md)
REMAINING = "X-Rate-Limit-Remaining"
COST = "X-Request-Cost"


def is_throttled(response: httpx.Response) -> bool:
    """Canvas's throttled answer: a 403 whose body says "Rate Limit Exceeded" (other 403s are permissions)."""
    return response.status_code == 403 and b"rate limit exceeded" in response.content.lower()


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class Budget:
    """Admits at most `limit` requests at once; `limit` moves between 1 and `ceiling` with the remaining quota."""

    def __init__(self, ceiling: int) -> None:
        self.ceiling = ceiling
        self.limit = ceiling
        self.remaining: float | None = None
        self.spent = 0.0  # the sum of X-Request-Cost seen, for the run's figures
        self.throttled = 0
        self.peak = 0  # the most requests ever in flight at once
        self._in_flight = 0
        self._room = asyncio.Condition()

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        async with self._room:
            await self._room.wait_for(lambda: self._in_flight < self.limit)
            self._in_flight += 1
            self.peak = max(self.peak, self._in_flight)
        try:
            yield
        finally:
            async with self._room:
                self._in_flight -= 1
                self._room.notify_all()

    async def observe(self, response: httpx.Response) -> None:
        """Learn from an answer's headers; a throttled answer leaves one request in flight."""
        self.spent += _number(response.headers.get(COST)) or 0.0
        remaining = _number(response.headers.get(REMAINING))
        if is_throttled(response):
            self.throttled += 1
            limit = 1
        elif remaining is not None:
            self.remaining = remaining
            limit = max(1, min(self.ceiling, int(remaining // (2 * PREFLIGHT_PENALTY))))
        else:
            return  # throttling does not apply to this token (no header): keep what we have
        async with self._room:
            self.limit = limit
            self._room.notify_all()
