"""Serve a fake HR or LMS system on loopback in its own process, metered, optionally throttled, with a control API.

    python -m bench.serve_fake bamboohr --people 10000 --seed 7 [--port 0]
    python -m bench.serve_fake moodle [--budget 20] [--request-ms 30 --item-ms 3 --workers 4]

Prints `READY <port>` once it listens. Requests under `/_bench/` steer the fake and read its meter (they are not
metered); everything else is the vendor API, counted, and refused with 429 + `Retry-After` beyond `--budget`
requests per second (a token bucket holding one second of budget, as an API gateway in front of the site would).
`--request-ms`, `--item-ms` and `--workers` make the fake Moodle answer in a real site's time: a worker's time per
call and per record returned, with that many workers (`enrolsync.connectors.moodle.fake.cost`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import socket
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TextIO

import httpx
import uvicorn

from enrolsync.connectors.bamboohr.fake import BambooHRFake
from enrolsync.connectors.bamboohr.fake.company import DEPARTMENTS, generate_company
from enrolsync.connectors.moodle.fake import FakeMoodle
from enrolsync.connectors.moodle.fake.cost import SiteCost
from enrolsync.connectors.testing.fakes import FakeServer, json_response
from enrolsync.demo_systems import COURSES

HR_API_KEY = "bench-bamboohr-key"
HR_WEBHOOK_KEY = "bench-bamboohr-webhook-key"
LMS_TOKEN = "bench-moodle-token"  # noqa: S105 - a stand-in site's token
COMPANY = "acme"
CONTROL = "/_bench/"


class Meter:
    """Counts what a fake served and enforces an optional request budget (token bucket, one second deep)."""

    def __init__(self) -> None:
        self.budget: float | None = None
        self._tokens = 0.0
        self._refilled = time.monotonic()
        self.reset()

    def reset(self) -> None:
        self.accepted = self.writes = self.throttled = 0
        self._cpu_at_reset = time.process_time()
        self.first_at: float | None = None
        self.last_at: float | None = None

    def set_budget(self, budget: float | None) -> None:
        self.budget = budget
        self._tokens = budget or 0.0
        self._refilled = time.monotonic()

    def admit(self) -> float | None:
        """None when the request may pass; else the whole seconds to wait (Retry-After has one-second grain)."""
        now = time.monotonic()
        if self.budget is not None:
            self._tokens = min(self.budget, self._tokens + (now - self._refilled) * self.budget)
            self._refilled = now
            if self._tokens < 1:
                self.throttled += 1
                return float(max(1, math.ceil((1 - self._tokens) / self.budget)))
            self._tokens -= 1
        self.accepted += 1
        self.first_at = self.first_at or now
        self.last_at = now
        return None

    def stats(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "writes": self.writes,
            "throttled": self.throttled,
            "budget": self.budget,
            "span_seconds": (self.last_at - self.first_at) if self.first_at and self.last_at else 0.0,
            "cpu_seconds": round(time.process_time() - self._cpu_at_reset, 3),  # what serving cost the fake itself
        }


Control = Callable[[dict[str, Any]], Any]
ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


class Metered(FakeServer):
    """Mixed in before a fake: meters and throttles its API, and answers `/_bench/...` from `controls`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.meter = Meter()
        self.recording: TextIO | None = None
        self.controls: dict[str, Control] = {
            "stats": lambda _: self.stats(),
            "reset": lambda _: self.meter.reset(),
            "throttle": lambda body: self.meter.set_budget(body.get("budget")),
            "record": self._record,
        }

    def _record(self, body: dict[str, Any]) -> int:
        """Start writing each write request served to the file `path` (one JSON line each), or stop (no path).

        The physical-limit scenario replays the file against a fresh fake: the same calls with no engine behind
        them. Returns how many writes the meter has counted so far."""
        if self.recording is not None:
            self.recording.close()
            self.recording = None
        if body.get("path"):
            self.recording = open(body["path"], "w", encoding="utf-8")  # noqa: SIM115 - closed by the next call
        return self.meter.writes

    def stats(self) -> dict[str, Any]:
        return self.meter.stats()

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith(CONTROL):
            return self._control(request)
        wait = self.meter.admit()
        if wait is not None:
            body = {"error": "rate limit exceeded", "budget_per_second": self.meter.budget}
            return json_response(429, body, headers={"Retry-After": str(int(wait))})
        response = super().handler(request)
        if self.is_write(request):
            self.meter.writes += 1
            if self.recording is not None:
                self.recording.write(json.dumps(recorded(request)) + "\n")
        self.requests.clear()  # the meter counts; a log of every request would grow with the company
        return response

    def _control(self, request: httpx.Request) -> httpx.Response:
        name = request.url.path[len(CONTROL) :]
        control = self.controls.get(name)
        if control is None:
            return json_response(404, {"error": f"no control {name!r}"})
        body: dict[str, Any] = dict(request.url.params)
        request.read()
        if request.content:
            body |= json.loads(request.content)
        return json_response(200, {"result": control(body)})


def recorded(request: httpx.Request) -> dict[str, Any]:
    """What replaying `request` needs: method, path with query, content type and body (form or JSON text)."""
    return {
        "method": request.method,
        "path": request.url.raw_path.decode("ascii"),
        "content_type": request.headers.get("content-type", ""),
        "body": request.content.decode("utf-8"),
    }


class BenchBambooHR(Metered, BambooHRFake):
    """The fake BambooHR company, with controls to change people and sign webhook calls."""

    def __init__(self, rows: Any, **options: Any) -> None:
        super().__init__(rows, **options)
        self.controls |= {"move_some": self._move_some, "move": self._move, "webhook": self._webhook}
        self.controls |= {"move_many": self._move_many, "webhooks": self._webhooks}

    def _active(self) -> list[str]:
        return sorted((i for i in self.hr_ids() if self.row(i)["status"] == "Active"), key=int)

    def _move_some(self, body: dict[str, Any]) -> list[str]:
        """Move a share of the active people to another department; returns their hr_ids."""
        rng = random.Random(int(body.get("seed", 1)))
        active = self._active()
        chosen = sorted(rng.sample(active, max(1, round(len(active) * float(body["fraction"])))), key=int)
        names = [d.name for d in DEPARTMENTS]
        for hr_id in chosen:
            current = self.row(hr_id)["jobInformationDepartment"]
            self.move(hr_id, department=rng.choice([n for n in names if n != current]))
        return chosen

    def _move(self, body: dict[str, Any]) -> str | None:
        """Move one person (or the next active person outside it) into `department`; returns the hr_id."""
        department = body["department"]
        hr_id = body.get("hr_id") or next(
            (i for i in self._active() if self.row(i)["jobInformationDepartment"] != department), None
        )
        if hr_id is not None:
            self.move(hr_id, department=department)
        return hr_id

    def _move_many(self, body: dict[str, Any]) -> list[str]:
        """Move up to `count` active people from outside `department` into it; returns their hr_ids."""
        department = body["department"]
        chosen = [i for i in self._active() if self.row(i)["jobInformationDepartment"] != department]
        chosen = chosen[: int(body["count"])]
        for hr_id in chosen:
            self.move(hr_id, department=department)
        return chosen

    def _webhooks(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        """A signed webhook call for each of `hr_ids`, in order."""
        return [self._webhook({"hr_id": hr_id}) for hr_id in body["hr_ids"]]

    def _webhook(self, body: dict[str, Any]) -> dict[str, Any]:
        """A signed webhook call about `hr_id`, as BambooHR would send it now.

        Signed at the wall clock's time: the service checks the timestamp against its own clock, and this fake's
        clock runs ahead of it by a second per change made (it orders changes by whole seconds).
        """
        raw = self.webhook_request(str(body["hr_id"]), changed_fields=["department"])
        headers = {**dict(raw.headers), **self.sign(raw.body, int(time.time()))}
        return {"headers": headers, "body": raw.body.decode()}


class BenchMoodle(Metered, FakeMoodle):
    """The fake Moodle site with the demo's courses, with controls to read its state."""

    def __init__(self, token: str) -> None:
        super().__init__(token)
        self.call_counts: Counter[str] = Counter()
        # When each (user id, course id) enrolment was first served, by the wall clock, which the bench shares:
        # the webhook burst measures from its HTTP call to this moment.
        self.enrolled_at: dict[tuple[int, int], float] = {}
        self.add_profile_field("jobtitle")
        self.add_profile_field("enrolsyncroles")
        self.course_ids = {short: self.add_course(short, full) for short, full in COURSES.items()}
        self.controls |= {"info": self._info, "enrolled": self._enrolled, "counts": lambda _: self._counts()}
        self.controls["enrolled_at"] = self._enrolled_at
        self.controls["reset"] = self._reset

    def handler(self, request: httpx.Request) -> httpx.Response:
        response = super().handler(request)
        self.call_counts.update(name for name, _ in self.calls)
        now = time.time()
        for name, params in self.calls:
            if name == "enrol_manual_enrol_users":
                for entry in params["enrolments"]:
                    self.enrolled_at.setdefault((int(entry["userid"]), int(entry["courseid"])), now)
        self.calls.clear()  # counted, not kept: a log of every call's parameters would grow with the company
        return response

    def _reset(self, _: dict[str, Any]) -> None:
        self.meter.reset()
        self.call_counts.clear()
        self.enrolled_at.clear()
        self.served.clear()

    def stats(self) -> dict[str, Any]:
        return {**super().stats(), "calls": dict(self.call_counts), "items": dict(self.served)}

    def _info(self, _: dict[str, Any]) -> dict[str, Any]:
        roles = {name: self.role_id(name) for name in ("student", "editingteacher", "manager", "parent")}
        return {"course_ids": self.course_ids, "role_ids": roles}

    def _enrolled(self, body: dict[str, Any]) -> list[str]:
        """Shortnames of the courses the account with idnumber `idnumber` is enrolled in."""
        found = [u for u in self.state.users.with_idnumber(str(body["idnumber"])) if not u.deleted]
        if len(found) != 1:
            return []
        courses = self.courses_of(found[0].id)
        return sorted(short for short, course_id in self.course_ids.items() if course_id in courses)

    def _enrolled_at(self, body: dict[str, Any]) -> dict[str, float | None]:
        """For each of `idnumbers`: when its account was enrolled in the course `course` (a shortname), or None."""
        course_id = self.course_ids[body["course"]]
        found: dict[str, float | None] = {}
        for idnumber in body["idnumbers"]:
            users = [u for u in self.state.users.with_idnumber(str(idnumber)) if not u.deleted]
            found[str(idnumber)] = self.enrolled_at.get((users[0].id, course_id)) if len(users) == 1 else None
        return found

    def _counts(self) -> dict[str, int]:
        return {
            "users": len(self.state.users),
            "enrolments": len(self.state.enrolments),
            "role_assignments": len(self.state.assignments),
        }


def delayed(app: ASGIApp, seconds: float) -> ASGIApp:
    """The app, answering API requests `seconds` later (a remote site's round trip), controls at once."""

    async def later(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and not scope["path"].startswith(CONTROL):
            await asyncio.sleep(seconds)
        await app(scope, receive, send)

    return later


def build(kind: str, people: int, seed: int) -> Metered:
    if kind == "bamboohr":
        now = datetime.now(UTC).replace(microsecond=0)
        options = {"company_domain": COMPANY, "api_key": HR_API_KEY, "webhook_key": HR_WEBHOOK_KEY}
        return BenchBambooHR(generate_company(people, seed, today=now.date()), now=now, **options)
    return BenchMoodle(LMS_TOKEN)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.serve_fake", description=__doc__)
    parser.add_argument("kind", choices=("bamboohr", "moodle"))
    parser.add_argument("--people", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--budget", type=float, default=None, help="requests per second before 429")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="answer each API request this much later")
    parser.add_argument("--request-ms", type=float, default=0.0, help="moodle: a worker's time per call")
    parser.add_argument("--item-ms", type=float, default=0.0, help="moodle: a worker's time per record returned")
    parser.add_argument("--workers", type=int, default=4, help="moodle: calls answered at once (PHP workers)")
    parser.add_argument("--others", type=int, default=0, help="moodle: accounts the pipeline does not manage")
    args = parser.parse_args(argv)
    fake = build(args.kind, args.people, args.seed)
    if isinstance(fake, BenchMoodle):
        if args.request_ms or args.item_ms:
            fake.cost = SiteCost(request_ms=args.request_ms, item_ms=args.item_ms, workers=args.workers)
        for n in range(args.others):
            fake.add_user(f"other{n}", "Other", f"User {n}", f"other{n}@elsewhere.example", idnumber=f"X{n}")
    fake.meter.set_budget(args.budget)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    print(f"READY {sock.getsockname()[1]}", flush=True)
    # The fake answers with its own Date (its clock drives change tracking), so uvicorn must not add one.
    config = uvicorn.Config(
        delayed(fake.asgi, args.latency_ms / 1000) if args.latency_ms else fake.asgi,
        interface="asgi3",
        log_level="warning",
        access_log=False,
        lifespan="off",
        date_header=False,
        server_header=False,
    )
    uvicorn.Server(config).run(sockets=[sock])
    sys.exit(0)


if __name__ == "__main__":
    main()
