"""The demo's stand-in HR and LMS systems: the fakes shipped beside their connectors, served over loopback HTTP.

They are the same fakes the connector tests run against, installed with the wheel, so `enrolsync demo` works
from any install, not only from a checkout. They run in a process of their own (`systems_apart`), as the real
systems would: in the demo's process they took a share of the one core the API, the worker and the engine share,
while the machine's other cores sat idle. The demo talks to them over loopback HTTP only, and asks their process
for what it reports (write requests so far) and to make the HR changes.

Each system declares its own request budget, and the demo's connections are paced by it (`FakeBudgets`): the
connectors' default budgets (BambooHR 100 calls a minute, Moodle 600) are courtesy towards the vendors' hosted
services, which throttle; a fake on loopback never throttles, so holding it to them would only show the demo
waiting on a limit nobody set. Each connection keeps its connector's concurrency cap and obeys Retry-After as
always; a connection to any other system keeps its connector's default budget.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import sys
from asyncio.subprocess import PIPE
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import unquote_plus

import httpx
import uvicorn

from enrolsync.connectors.bamboohr.fake import BambooHRFake
from enrolsync.connectors.base import ConnectorConfig, ConnectorInfo, Rate
from enrolsync.connectors.kit.ratelimit import RateLimiter
from enrolsync.connectors.moodle.fake import FakeMoodle
from enrolsync.connectors.moodle.fake.server import WRITE_FUNCTIONS
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


# A form field naming the web service function: Moodle's clients send it in the body (or the URL's query).
_FUNCTION_FIELD = re.compile(rb"(?:^|&)wsfunction=([^&]*)")
# The one write function whose request may change nothing: updating only user id 0 is a probe (`is_write`).
_MAY_PROBE = "core_user_update_users"


class WriteTally:
    """The write requests the fake Moodle served so far, each request judged once, when first counted.

    `FakeServer.writes` judges the whole request log again at every call (a form body parsed per request): at
    5,000 people the demo's six reports spent a tenth of its CPU re-reading the log. Judging a request here reads
    only the function's name off the form (a batch's form holds thousands of fields); only a call that may be a
    probe is parsed whole and judged by the fake itself."""

    def __init__(self, moodle: FakeMoodle) -> None:
        self._moodle = moodle
        self._judged = 0
        self._writes = 0

    def __call__(self) -> int:
        log = self._moodle.requests
        self._writes += sum(1 for request in log[self._judged :] if self._is_write(request))
        self._judged = len(log)
        return self._writes

    def _is_write(self, request: httpx.Request) -> bool:
        function = _function(request)
        if function is None or function == _MAY_PROBE:
            return self._moodle.is_write(request)
        return function in WRITE_FUNCTIONS


def _function(request: httpx.Request) -> str | None:
    """The function a request calls, as the fake reads it (the last `wsfunction` field, the body's after the
    URL's), without parsing the rest of the form: form values are encoded, so `&wsfunction=` only starts a field."""
    named = _FUNCTION_FIELD.findall(request.content) if request.method == "POST" else []
    if named:
        return unquote_plus(named[-1].decode())
    in_url = request.url.params.get_list("wsfunction")
    return in_url[-1] if in_url else None


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


@dataclass(frozen=True)
class HrChanges:
    """The people the demo's HR changes touched, by name, id and department."""

    hired: str
    moved: str
    terminated: str


def change_hr(bamboohr: BambooHRFake) -> HrChanges:
    """A hire (an engineer reporting to the first engineer), a move (the last engineer to Sales) and a termination
    (the last active person, today), made in the HR system as its users would."""
    active = [i for i in sorted(bamboohr.hr_ids(), key=int) if bamboohr.row(i)["status"] == "Active"]
    engineers = [i for i in active if bamboohr.row(i)["jobInformationDepartment"] == "Engineering"]

    def name(hr_id: str) -> str:
        row = bamboohr.row(hr_id)
        return f"{row['firstName']} {row['lastName']} (#{hr_id}, {row['jobInformationDepartment']})"

    hired = bamboohr.hire(first_name="Ada", last_name="Newhire", department="Engineering", manager=engineers[0])
    moved_from = name(engineers[-1])
    bamboohr.move(engineers[-1], department="Sales")
    terminated = name(active[-1])
    bamboohr.terminate(active[-1], on=bamboohr.today)
    return HrChanges(hired=name(hired), moved=f"{moved_from} -> Sales", terminated=terminated)


@dataclass(frozen=True)
class Served:
    """What the demo knows of its systems: where they listen, the ids it configures, the budget they declare."""

    hr_url: str
    lms_url: str
    course_ids: dict[str, str]
    role_ids: dict[str, int]
    budget: Rate | None


Command = Literal["writes", "change_hr", "stop"]


class SystemsApart:
    """The demo's handle on the fakes' process: one question at a time, a JSON line each way over the process's
    stdin and stdout, answered by its event loop between the HTTP requests it serves (so the fakes' state is only
    ever touched by one thread). Its first line says where the systems listen (`ready`)."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process
        self._served: Served | None = None

    async def ready(self) -> Served:
        """Where the systems listen, once they do (the process's first line, read once)."""
        if self._served is None:
            assert self._process.stdout is not None  # noqa: S101 - `systems_apart` pipes it
            hello = _answer(await self._process.stdout.readline())
            declared = hello.pop("budget")
            self._served = Served(**hello, budget=Rate(**declared) if declared is not None else None)
        return self._served

    @property
    def served(self) -> Served:
        if self._served is None:
            raise RuntimeError("the demo's systems are not known to be up yet: await `ready()` first")
        return self._served

    async def _ask(self, command: Command) -> Any:
        assert self._process.stdin is not None and self._process.stdout is not None  # noqa: S101 - `systems_apart` pipes both
        await self.ready()  # the answer to come is the line after the first
        self._process.stdin.write(json.dumps(command).encode() + b"\n")
        await self._process.stdin.drain()
        return _answer(await self._process.stdout.readline())

    async def writes(self) -> int:
        """Write requests the fake Moodle has served so far (`WriteTally`)."""
        count: int = await self._ask("writes")
        return count

    async def change_hr(self) -> HrChanges:
        return HrChanges(**await self._ask("change_hr"))


class SystemsFailed(RuntimeError):
    """The fakes' process failed or ended; the message says what it reported."""


def _answer(line: bytes) -> Any:
    if not line:
        raise SystemsFailed("the demo's fake systems ended unexpectedly (their error is above)")
    answer: dict[str, Any] = json.loads(line)
    if "error" in answer:
        raise SystemsFailed(f"the demo's fake systems failed: {answer['error']}")
    return answer["ok"]


@asynccontextmanager
async def systems_apart(people: int, seed: int, *, ready: bool = True) -> AsyncIterator[SystemsApart]:
    """The demo's fake BambooHR and Moodle, built and served on loopback by a process of their own for the block
    (this module run by the same interpreter). It ends when told to stop, or when its stdin closes, so a demo that
    dies leaves no fakes behind.

    With `ready=False` the block starts as soon as the process is started, and `await systems.ready()` waits for
    the systems to listen: the process imports, builds the company and starts serving on the other core while
    the caller sets itself up."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", __name__, str(people), str(seed), stdin=PIPE, stdout=PIPE
    )
    try:
        systems = SystemsApart(process)
        if ready:
            await systems.ready()
        yield systems
    finally:
        if process.returncode is None:
            assert process.stdin is not None  # noqa: S101 - piped above
            with suppress(OSError):  # it ended already
                process.stdin.write(json.dumps("stop").encode() + b"\n")
                process.stdin.close()
            try:
                await asyncio.wait_for(process.wait(), timeout=10)
            except TimeoutError:
                process.kill()
                await process.wait()


async def _serve_apart(people: int, seed: int) -> None:
    """The fakes' process: answers go to the demo on the stdout it was given; anything else printed (uvicorn's
    warnings, a traceback) goes to stderr, which the demo's terminal shows."""
    channel = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())

    def say(**answer: Any) -> None:
        channel.write(json.dumps(answer) + "\n")

    try:
        systems = build_systems(people, seed)
    except Exception as error:  # the demo shows why its systems could not be built
        say(error=repr(error))
        return
    tally = WriteTally(systems.moodle)
    async with serve(systems.bamboohr.asgi, fake=True) as hr_url, serve(systems.moodle.asgi, fake=True) as lms_url:
        say(ok=asdict(Served(hr_url, lms_url, systems.course_ids, systems.role_ids, systems.budget)))
        while line := await asyncio.to_thread(sys.stdin.readline):  # empty: the demo's end closed
            command: Command = json.loads(line)
            if command == "stop":
                return
            try:
                say(ok=tally() if command == "writes" else asdict(change_hr(systems.bamboohr)))
            except Exception as error:  # answered, not raised here: the demo's process reports it
                say(error=repr(error))


if __name__ == "__main__":
    with suppress(KeyboardInterrupt):  # Ctrl-C reaches the whole process group; the demo reports it
        asyncio.run(_serve_apart(int(sys.argv[1]), int(sys.argv[2])))
