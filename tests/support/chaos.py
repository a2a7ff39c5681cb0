"""Randomized fault injection for the fakes: each request may draw a fault from a seeded RNG.

Kinds: HTTP 500/502/503, 429 with and without `Retry-After`, timeouts, dropped connections, malformed JSON, a
write that takes effect but whose answer is lost, and, for BambooHR's dataset, inconsistent pagination (a page
served again, a page skipped).
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx

from enrolsync.connectors.bamboohr.fake.server import START, BambooHRFake, generate_company
from enrolsync.connectors.testing.fakes import FakeServer, Fault

HTTP_KINDS = ("500", "502", "503", "429", "429+retry-after", "timeout", "disconnect", "malformed", "lost")
PAGE_KINDS = ("page-repeat", "page-skip")


def fault(kind: str) -> Fault:
    """The `Fault` of one kind (see `HTTP_KINDS`)."""
    if kind in ("500", "502", "503", "429"):
        return Fault("status", status=int(kind))
    if kind == "429+retry-after":
        return Fault("status", status=429, retry_after=7)
    return Fault(kind)


@dataclass
class Chaos:
    """Draws a fault for a request with probability `rate`; counts what it served."""

    rng: random.Random
    rate: float
    kinds: tuple[str, ...] = HTTP_KINDS
    served: Counter[str] = field(default_factory=Counter)

    def __call__(self, request: httpx.Request) -> Fault | None:
        if self.rng.random() >= self.rate:
            return None
        kind = self.rng.choice(self.kinds)
        self.served[kind] += 1
        return fault(kind)


def calm(*fakes: FakeServer) -> None:
    """Stop injecting faults (queued ones too)."""
    for fake in fakes:
        fake.chaos = None
        fake._faults.clear()


class ShakyBambooHR(BambooHRFake):
    """A BambooHR fake whose dataset paging can be inconsistent: asked for page n > 1 it may answer page n - 1
    again (`page-repeat`) or page n + 1 (`page-skip`), each labelled with the page it really is."""

    def __init__(self, rows: Iterable[Any] = (), **options: Any) -> None:
        super().__init__(rows, **options)
        self.paging: Chaos | None = None

    def _dataset(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content or b"{}")
        page = body.get("page", 1) if isinstance(body, dict) else 1
        kind = None
        paging = self.paging
        if paging is not None and isinstance(page, int) and page > 1 and paging.rng.random() < paging.rate:
            kind = paging.rng.choice(paging.kinds)
            paging.served[kind] += 1
        if kind is None:
            return super()._dataset(request)
        shifted = {**body, "page": page - 1 if kind == "page-repeat" else page + 1}
        moved = httpx.Request(request.method, request.url, headers=request.headers, content=json.dumps(shifted))
        return super()._dataset(moved)


def shaky(people: int, seed: int) -> ShakyBambooHR:
    """A `ShakyBambooHR` holding `generate_company(people, seed)`."""
    return ShakyBambooHR(generate_company(people, seed, today=START.date()))
