"""The process's own gauges (prometheus-client, default registry): what talking to remote systems costs and
what runs did, counted where it happens (the worker, or the API for checks and webhooks).

Each process exposes these itself: the API at `/metrics` (with the database's gauges added there), a worker on
`ENROLSYNC_WORKER_METRICS_PORT`. Labels are connection ids, connector keys, op kinds and outcomes: never a
person, a URL with its query, or anything a credential could be in.
"""

from __future__ import annotations

import time

import httpx
from prometheus_client import Counter, Histogram

REMOTE_SECONDS = Histogram(
    "enrolsync_remote_request_seconds",
    "Latency of requests to HR systems and learning platforms (remote answer only, after the rate limiter).",
    ["connection", "connector"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
REMOTE_THROTTLED = Counter(
    "enrolsync_remote_throttled",
    "Answers 429 Too Many Requests from a remote system (each pauses the connection's limiter).",
    ["connection", "connector"],
)
REMOTE_RETRIES = Counter(
    "enrolsync_remote_retries",
    "Retries after a transient failure: `read` (idempotent calls, in the kit) or `write` (ops, in the executor).",
    ["connection", "connector", "kind"],
)
OPERATIONS = Counter(
    "enrolsync_operations",
    "Operations applied to targets by outcome (done, already, failed, not_attempted).",
    ["kind", "outcome"],
)
WEBHOOK_EVENTS = Counter(
    "enrolsync_webhook_events",
    "HR webhook events: `accepted` (stored as new), `duplicate` (an id seen before), `refused` (a call answered "
    "4xx: bad signature, invalid body, reused id, too large; counted per call, its events unread).",
    ["outcome"],
)
for _outcome in ("accepted", "duplicate", "refused"):
    WEBHOOK_EVENTS.labels(outcome=_outcome)  # every series exists from the start, at 0


def connection_label(connection: str | None, host: str | None) -> str:
    """The `connection` label: the stored connection's id, else (a connector built without one) its host."""
    return connection or host or "unknown"


class MeteredTransport(httpx.AsyncBaseTransport):
    """Times each remote answer and counts 429s for one connection; innermost, so limiter waits are not latency."""

    def __init__(self, inner: httpx.AsyncBaseTransport, *, connection: str, connector: str) -> None:
        self._inner = inner
        self._seconds = REMOTE_SECONDS.labels(connection=connection, connector=connector)
        self._throttled = REMOTE_THROTTLED.labels(connection=connection, connector=connector)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        started = time.perf_counter()
        response = await self._inner.handle_async_request(request)
        self._seconds.observe(time.perf_counter() - started)
        if response.status_code == 429:
            self._throttled.inc()
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


def count_retries(connection: str, connector: str, kind: str, n: int = 1) -> None:
    if n:
        REMOTE_RETRIES.labels(connection=connection, connector=connector, kind=kind).inc(n)


def count_outcomes(outcomes: dict[tuple[str, str], int]) -> None:
    """Add applied ops, keyed by (op kind, outcome)."""
    for (kind, outcome), n in outcomes.items():
        if n:
            OPERATIONS.labels(kind=kind, outcome=outcome).inc(n)
