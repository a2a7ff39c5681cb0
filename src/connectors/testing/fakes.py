"""Base for stateful fakes of vendor APIs: a `Request -> Response` handler with fault injection and a request log.

A fake serves tests through `httpx.MockTransport(fake.handler)` and the demo over real loopback HTTP through
`fake.asgi` (uvicorn), so the same code answers both.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

Predicate = Callable[[httpx.Request], bool]


@dataclass
class Fault:
    kind: str  # "status" | "timeout" | "disconnect" | "malformed" | "lost" (took effect, the answer never came)
    status: int = 503
    retry_after: float | None = None
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    when: Predicate | None = None


class FakeClock:
    """A clock whose `sleep` advances time instantly and records every pause."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


class FakeServer:
    """Subclasses implement `handle(request)` with the vendor's real paths, fields, paging, auth and errors."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self._faults: deque[Fault] = deque()
        self.faults_served = 0
        # Draws a fault (or None) for each request no queued fault claims: randomized fault injection.
        self.chaos: Callable[[httpx.Request], Fault | None] | None = None

    # -- what subclasses implement -------------------------------------------------------------------------
    def handle(self, request: httpx.Request) -> httpx.Response:
        raise NotImplementedError

    def is_write(self, request: httpx.Request) -> bool:
        """Whether a request changes state (counts toward 'writes'); vendors whose reads are POSTs override."""
        return request.method not in ("GET", "HEAD", "OPTIONS")

    # -- fault injection ------------------------------------------------------------------------------------
    def fail_next(
        self,
        n: int = 1,
        *,
        status: int = 503,
        retry_after: float | None = None,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        when: Predicate | None = None,
    ) -> None:
        for _ in range(n):
            self._faults.append(Fault("status", status, retry_after, body, dict(headers or {}), when))

    def timeout_next(self, n: int = 1, *, when: Predicate | None = None) -> None:
        self._faults.extend(Fault("timeout", when=when) for _ in range(n))

    def disconnect_next(self, n: int = 1, *, when: Predicate | None = None) -> None:
        self._faults.extend(Fault("disconnect", when=when) for _ in range(n))

    def malformed_next(self, n: int = 1, *, when: Predicate | None = None) -> None:
        self._faults.extend(Fault("malformed", status=200, when=when) for _ in range(n))

    def lose_response_next(self, n: int = 1, *, when: Predicate | None = None) -> None:
        """The next `n` requests take effect, then their answers are lost (a read timeout after the write)."""
        self._faults.extend(Fault("lost", when=when) for _ in range(n))

    def _take_fault(self, request: httpx.Request) -> Fault | None:
        for fault in self._faults:
            if fault.when is None or fault.when(request):
                self._faults.remove(fault)
                self.faults_served += 1
                return fault
        drawn = self.chaos(request) if self.chaos is not None else None
        if drawn is not None and (drawn.when is None or drawn.when(request)):
            self.faults_served += 1
            return drawn
        return None

    # -- serving ----------------------------------------------------------------------------------------------
    @property
    def writes(self) -> list[httpx.Request]:
        return [r for r in self.requests if self.is_write(r)]

    def handler(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        fault = self._take_fault(request)
        if fault is None:
            return self.handle(request)
        if fault.kind == "lost":
            self.handle(request)
            raise httpx.ReadTimeout("injected timeout after the request took effect", request=request)
        if fault.kind == "timeout":
            raise httpx.ReadTimeout("injected timeout", request=request)
        if fault.kind == "disconnect":
            raise httpx.RemoteProtocolError("injected disconnect", request=request)
        if fault.kind == "malformed":
            return httpx.Response(200, content=b'{"truncated": ', headers={"Content-Type": "application/json"})
        headers = dict(fault.headers)
        if fault.retry_after is not None:
            headers["Retry-After"] = str(int(fault.retry_after))
        return httpx.Response(fault.status, content=fault.body, headers=headers)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)

    async def asgi(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Serve this fake as an ASGI app (the demo and benchmarks run it under uvicorn on loopback)."""
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        host = dict(scope["headers"]).get(b"host", b"localhost").decode()
        query = scope.get("query_string", b"").decode()
        url = f"{scope.get('scheme', 'http')}://{host}{scope['path']}" + (f"?{query}" if query else "")
        request = httpx.Request(scope["method"], url, headers=[(k, v) for k, v in scope["headers"]], content=body)
        try:
            response = self.handler(request)
        except httpx.TransportError:
            response = httpx.Response(504, content=b"injected transport fault")
        await send(
            {
                "type": "http.response.start",
                "status": response.status_code,
                "headers": [(k.lower(), v) for k, v in response.headers.raw if k.lower() != b"content-length"],
            }
        )
        await send({"type": "http.response.body", "body": response.content})


def json_response(status: int, data: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(
        status,
        content=json.dumps(data).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
    )
