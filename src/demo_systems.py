"""The demo's stand-in HR and LMS systems: the fakes shipped beside their connectors, served over loopback HTTP.

They are the same fakes the connector tests run against, installed with the wheel, so `enrolsync demo` works
from any install, not only from a checkout.

Each system declares its own request budget, and the demo's connections are paced by it (`FakeBudgets`): the
connectors' default budgets (BambooHR 100 calls a minute, Moodle 600) are courtesy towards the vendors' hosted
services, which throttle; a fake on loopback never throttles, so holding it to them would only show the demo
waiting on a limit nobody set. Each connection keeps its connector's concurrency cap and obeys Retry-After as
always; a connection to any other system keeps its connector's default budget.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import uvicorn

from enrolsync.connectors.bamboohr.fake import BambooHRFake
from enrolsync.connectors.base import ConnectorConfig, ConnectorInfo, Rate
from enrolsync.connectors.kit.ratelimit import RateLimiter
from enrolsync.connectors.moodle.fake import FakeMoodle
from enrolsync.sync.run.clients import ClientFactory

COURSES = {
    "SAFETY-101": "Workplace safety",
    "SEC-200": "Secure engineering",
    "LEAD-1": "Leading a team",
    "SALES-110": "Selling responsibly",
}


# The fakes answer every call they are sent and never answer 429 or 503 with Retry-After: they have no budget.
FAKE_BUDGET: Rate | None = None


@dataclass
class DemoSystems:
    bamboohr: BambooHRFake
    moodle: FakeMoodle
    course_ids: dict[str, str]
    role_ids: dict[str, int]
    budget: Rate | None = FAKE_BUDGET  # the request budget both fakes declare (None: unthrottled)


class WriteTally:
    """The write requests the fake Moodle served so far, each request judged once, when first counted.

    `FakeServer.writes` judges the whole request log again at every call (a form body parsed per request): at
    5,000 people that was seconds per report, most of the demo's own time."""

    def __init__(self, moodle: FakeMoodle) -> None:
        self._moodle = moodle
        self._judged = 0
        self._writes = 0

    def __call__(self) -> int:
        log = self._moodle.requests
        self._writes += sum(1 for request in log[self._judged :] if self._moodle.is_write(request))
        self._judged = len(log)
        return self._writes


def build_systems(people: int, seed: int) -> DemoSystems:
    bamboohr = BambooHRFake.seeded(
        people, seed, now=datetime.now(UTC).replace(microsecond=0), company_domain="acme", api_key="demo-bamboohr-key"
    )
    moodle = FakeMoodle(token="demo-moodle-token")  # noqa: S106 - a stand-in site's token
    moodle.add_profile_field("jobtitle")
    moodle.add_profile_field("enrolsyncroles")
    course_ids = {short: str(moodle.add_course(short, full)) for short, full in COURSES.items()}
    role_ids = {name: moodle.role_id(name) for name in ("student", "editingteacher", "manager", "parent")}
    return DemoSystems(bamboohr=bamboohr, moodle=moodle, course_ids=course_ids, role_ids=role_ids)


@dataclass
class FakeBudgets(ClientFactory):
    """Connectors whose connections to the demo's systems are paced by the budget those systems declare.

    `budgets` maps a system's origin (`http://127.0.0.1:PORT`, as `serve` yields it) to its budget; a connection
    to any other origin gets its connector's default. Like the default, one limiter per endpoint in the process.
    """

    budgets: Mapping[str, Rate | None] = field(default_factory=dict)

    def limiter(self, info: ConnectorInfo, config: ConnectorConfig) -> RateLimiter:
        url = config.base_url
        origin = f"{url.scheme}://{url.host}:{url.port}"
        if origin not in self.budgets:
            return super().limiter(info, config)
        key = (info.key, str(url))
        if key not in self._limiters:
            # The vendor's longer windows are the vendor's too; its concurrency cap and Retry-After handling stay.
            self._limiters[key] = RateLimiter(
                self.budgets[origin],
                max_concurrency=info.max_concurrency,
                clock=self.clock,
                pace_on_throttle=info.pace_on_throttle,
            )
        return self._limiters[key]


class PortInUse(OSError):
    """The port asked for is taken; the message says which and how to choose another."""


def _loopback_socket(port: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as error:
        sock.close()
        raise PortInUse(
            f"port {port} on 127.0.0.1 is not free ({error.strerror}): choose another with --port "
            "(or ENROLSYNC_DEMO_PORT), or 0 for any free port"
        ) from None
    return sock


@asynccontextmanager
async def serve(app: Any, *, port: int = 0, fake: bool = False) -> AsyncIterator[str]:
    """Serve an ASGI app on 127.0.0.1 (a free port unless given) for the block; yields its base URL.

    A fake answers with its own `Date` (its clock drives change tracking), so uvicorn must not add another.
    """
    # Bound here, not by uvicorn: a port in use is one clear error instead of uvicorn's exit from inside its task.
    sock = _loopback_socket(port)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        interface="asgi3",
        date_header=not fake,
        server_header=not fake,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()  # raises why the server could not start (e.g. the port is taken)
        await asyncio.sleep(0.02)
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{bound}"
    finally:
        server.should_exit = True
        await task
