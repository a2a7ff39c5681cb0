"""Scenario 5: the webhook path under a burst, from each signed HTTP call to the enrolment it causes.

`events` people move into Engineering in the fake HR system; the bench then sends BambooHR's signed webhook call
for each (`POST /webhooks/{connection_id}`), `concurrency` at a time, to the service (uvicorn and a worker in a
process of their own), noting when each call was sent. The fake Moodle notes when it first served each
enrolment into SEC-200 (the Engineering course); one latency is the span between the two, on the one wall clock
the processes share. The service coalesces the burst into person-scoped runs (one executing and one waiting per
pipeline), so the figures show how a burst queues, not one event on an idle service.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import httpx

from bench.procs import FakeProcess
from bench.stats import summary

COURSE = "SEC-200"
DEPARTMENT = "Engineering"
WEBHOOK_PREFIX = "/webhooks/"
POLL_SECONDS = 0.25


@dataclass(frozen=True)
class Burst:
    events: int = 500
    concurrency: int = 20
    timeout_s: float = 300.0  # after the last call, how long to wait for enrolments still missing


async def _send(
    api_url: str, source_id: str, calls: dict[str, dict[str, Any]], concurrency: int
) -> tuple[dict[str, float], Counter[int]]:
    """Send every call, `concurrency` in flight; when each was sent (wall clock) and the statuses answered."""
    sent: dict[str, float] = {}
    statuses: Counter[int] = Counter()
    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=api_url, timeout=120, limits=limits) as client:

        async def one(hr_id: str, call: dict[str, Any]) -> None:
            async with gate:
                sent[hr_id] = time.time()
                path = f"{WEBHOOK_PREFIX}{source_id}"
                response = await client.post(path, content=call["body"].encode(), headers=call["headers"])
                statuses[response.status_code] += 1

        await asyncio.gather(*(one(hr_id, call) for hr_id, call in calls.items()))
    return sent, statuses


def _wait_applied(lms: FakeProcess, hr_ids: list[str], timeout_s: float) -> dict[str, float | None]:
    deadline = time.monotonic() + timeout_s
    while True:
        applied: dict[str, float | None] = lms.control("enrolled_at", idnumbers=hr_ids, course=COURSE)
        if all(applied.values()) or time.monotonic() > deadline:
            return applied
        time.sleep(POLL_SECONDS)


def measure(api_url: str, source_id: str, hr: FakeProcess, lms: FakeProcess, burst: Burst) -> dict[str, Any]:
    """Move `burst.events` people, send their webhook calls at once, and time each call to its enrolment."""
    hr_ids: list[str] = hr.control("move_many", department=DEPARTMENT, count=burst.events)
    calls = dict(zip(hr_ids, hr.control("webhooks", hr_ids=hr_ids), strict=True))
    lms.control("reset")  # forget earlier enrolments: only those the burst causes are timed
    started = time.time()
    sent, statuses = asyncio.run(_send(api_url, source_id, calls, burst.concurrency))
    sent_s = time.time() - started
    applied = _wait_applied(lms, hr_ids, burst.timeout_s)
    latencies = [at - sent[hr_id] for hr_id, at in applied.items() if at is not None and hr_id in sent]
    last = max((at for at in applied.values() if at is not None), default=None)
    return {
        "events": len(hr_ids),
        "concurrency": burst.concurrency,
        "statuses": {str(code): n for code, n in sorted(statuses.items())},
        "send_s": round(sent_s, 3),
        "applied": len(latencies),
        "missing": len(hr_ids) - len(latencies),
        "drain_s": round(last - started, 3) if last is not None else None,  # first call to last enrolment
        **summary(latencies),
    }
