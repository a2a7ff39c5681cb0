"""Scenario 5: how long from an HR change to the enrolment it causes being visible in the LMS, through the service.

Each event moves one person into Engineering in the fake HR system, tells the service, and polls the fake LMS
until the person is enrolled in SEC-200 (the Engineering course). Events go one at a time: the next one is sent
when the previous run has finished, so each latency is that of one event on an idle service.

How the service is told (`via`):
- `webhook`: the HR system's signed call, `POST /webhooks/{connection_id}` (the service's event intake);
- `api`: a person-scoped run, `POST /pipelines/{id}/runs {"scope": "people", "hr_ids": [...]}`, what the
  webhook intake does after it has verified and stored the event; used while the service has no webhook route.
`auto` picks `webhook` when the service's OpenAPI document lists it.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any

import httpx

from bench.procs import FakeProcess

COURSE = "SEC-200"
DEPARTMENT = "Engineering"
EVENT_TIMEOUT_SECONDS = 60.0
POLL_SECONDS = 0.01
FINAL = {"succeeded", "partially_failed", "failed", "cancelled", "blocked"}
WEBHOOK_PREFIX = "/webhooks/"


@dataclass
class Service:
    api: httpx.Client
    pipeline_id: str
    source_id: str

    def webhook_route(self) -> bool:
        paths: dict[str, Any] = self.api.get("/openapi.json").json().get("paths", {})
        return any(path.startswith(WEBHOOK_PREFIX) for path in paths)

    def notify(self, hr_id: str, call: dict[str, Any] | None) -> bool:
        """Tell the service about `hr_id`: the signed webhook `call`, else a person-scoped run. False if refused."""
        if call is not None:
            response = self.api.post(f"{WEBHOOK_PREFIX}{self.source_id}", content=call["body"], headers=call["headers"])
        else:
            body = {"mode": "apply", "scope": "people", "hr_ids": [hr_id]}
            response = self.api.post(f"/pipelines/{self.pipeline_id}/runs", json=body)
        return not response.is_error

    def wait_idle(self, deadline: float) -> None:
        """Until the pipeline has no queued or running run (a run requested meanwhile would be coalesced)."""
        while time.perf_counter() < deadline:
            page = self.api.get(f"/pipelines/{self.pipeline_id}/runs", params={"limit": 1}).json()
            items = page.get("items", [])
            if not items or items[0]["status"] in FINAL:
                return
            time.sleep(POLL_SECONDS)


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def measure(service: Service, hr: FakeProcess, lms: FakeProcess, *, events: int, via: str) -> dict[str, Any]:
    """Send `events` changes one by one; the latency of each, from notifying the service to the LMS showing it."""
    chosen = via if via != "auto" else ("webhook" if service.webhook_route() else "api")
    latencies: list[float] = []
    timeouts = refused = 0
    for _ in range(events):
        hr_id = hr.control("move", department=DEPARTMENT)
        if hr_id is None:
            break  # everyone is in Engineering already
        call = hr.control("webhook", hr_id=hr_id) if chosen == "webhook" else None
        started = time.perf_counter()
        deadline = started + EVENT_TIMEOUT_SECONDS
        if not service.notify(str(hr_id), call):
            refused += 1
            continue
        while COURSE not in lms.control("enrolled", idnumber=hr_id):
            if time.perf_counter() > deadline:
                timeouts += 1
                break
            time.sleep(POLL_SECONDS)
        else:
            latencies.append(time.perf_counter() - started)
        service.wait_idle(deadline)
    return {
        "via": chosen,
        "label": "webhook -> enrolment" if chosen == "webhook" else "person-scoped run over the API -> enrolment",
        "events": len(latencies) + timeouts + refused,
        "timeouts": timeouts,
        "refused": refused,
        "p50_s": round(statistics.median(latencies), 3) if latencies else None,
        "p95_s": round(_percentile(latencies, 0.95), 3) if latencies else None,
        "max_s": round(max(latencies), 3) if latencies else None,
    }
