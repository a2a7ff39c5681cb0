"""A stateful fake of the BambooHR API that enrolsync reads, with BambooHR's paths, fields, paging and errors.

Served paths (gateway host `https://api.bamboohr.com/api/gateway.php/{companyDomain}/...` or the company host
`https://{companyDomain}.bamboohr.com/api/...`):
- `GET v1/employees/changed?since=&type=`: ids changed after `since`, `{latest, employees}`.
- `POST v2/datasets/employee/data`: rows `data[].fields`, page numbers in the body, `meta`/`links`, a small
  OData filter (`eq ne gt ge lt le in`, all-`and` or all-`or`), problem details for bad requests.
Auth is HTTP Basic with the API key as user (401 + `x-bamboohr-error-message` otherwise); throttling, timeouts
and broken bodies come from `FakeServer`'s fault injection. Every change bumps the fake's clock, which is also
the `Date` header, so `/employees/changed` behaves as on the real service.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx

from enrolsync.connectors.bamboohr.fake.company import FIELDS, FIRST_ID, Row, generate_company
from enrolsync.connectors.bamboohr.fake.dataset import DatasetQuery, problem
from enrolsync.connectors.bamboohr.fake.odata import FilterError, compile_filter, numeric
from enrolsync.connectors.model import RawRequest
from enrolsync.connectors.testing.fakes import FakeServer, json_response

START = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)
_PATH = re.compile(r"^/api/(?:gateway\.php/(?P<domain>[^/]+)/)?(?P<version>v1|v1_2|v2)/(?P<rest>.*)$")
# How the connector reads the few people a webhook names (`client.or_filter`): answered from an index by id.
_ID_FILTER = re.compile(r"eeid eq \d+(?: or eeid eq \d+)*")
_ID_LITERAL = re.compile(r"eeid eq (\d+)")

__all__ = ["START", "BambooHRFake", "generate_company"]


@dataclass
class _Employee:
    fields: Row
    changed: datetime
    action: str = "Inserted"
    deleted: bool = False


class BambooHRFake(FakeServer):
    """In-memory BambooHR company. Set `stuck_page` to make the dataset always answer page 1 (a looping server),
    `truncate` to make it answer only the first n rows (an empty or truncated answer)."""

    def __init__(
        self,
        rows: Iterable[Row] = (),
        *,
        company_domain: str = "acme",
        api_key: str = "fake-api-key",
        webhook_key: str = "fake-webhook-private-key",
        now: datetime = START,
    ) -> None:
        super().__init__()
        self.company_domain = company_domain
        self.api_key = api_key
        self.webhook_key = webhook_key
        self.now = now
        self.stuck_page = False
        self.truncate: int | None = None  # serve at most this many dataset rows: an API that lost people
        self._served = 0
        seeded = list(rows)
        # Seeded history lies strictly before `now`, so a read made now has seen all of it.
        self._employees: dict[str, _Employee] = {}
        # Indexes, so a company of 100,000 is not scanned for every request: hr_ids by the number their `eeid`
        # compares as in a filter, and each hr_id's place in the company (the order rows tie in).
        self._by_number: dict[float, set[str]] = {}
        self._place: dict[str, int] = {}
        for index, row in enumerate(seeded):
            self._add(str(row["eeid"]), _Employee(dict(row), now - timedelta(hours=len(seeded) - index)))
        # A read pages through one sorted answer: kept while nothing changes (`tick` counts changes).
        self._changes = 0
        self._sorted: tuple[tuple[int, str | None, tuple[tuple[str, bool], ...]], list[Row]] | None = None

    @classmethod
    def seeded(cls, n: int, seed: int = 0, *, now: datetime = START, **options: Any) -> BambooHRFake:
        """A company of `n` from `generate_company(n, seed)`, its dates relative to `now`."""
        return cls(generate_company(n, seed, today=now.date()), now=now, **options)

    # -- state for tests ------------------------------------------------------------------------------------
    @property
    def today(self) -> date:
        return self.now.date()

    def hr_ids(self) -> set[str]:
        return {hr_id for hr_id, employee in self._employees.items() if not employee.deleted}

    def row(self, hr_id: str) -> Row:
        return dict(self._employees[hr_id].fields)

    # -- mutations: each is one change at a new instant (the clock moves one second) ------------------------
    def tick(self, seconds: float = 1) -> datetime:
        self.now += timedelta(seconds=seconds)
        self._changes += 1  # every change ticks the clock (it orders changes), so cached answers go stale here
        return self.now

    def _add(self, hr_id: str, employee: _Employee) -> None:
        self._employees[hr_id] = employee
        self._place.setdefault(hr_id, len(self._place))
        self._index(hr_id, employee.fields)

    def _index(self, hr_id: str, row: Row) -> None:
        number = numeric(row.get("eeid"))
        if number is not None:
            self._by_number.setdefault(number, set()).add(hr_id)

    def hire(
        self,
        first_name: str,
        last_name: str,
        *,
        department: str,
        job_title: str = "Software Engineer",
        location: str = "London",
        manager: str | None = None,
        hire_date: date | None = None,
    ) -> str:
        """Add an employee (the next id); returns the new hr_id. A future hire is `Inactive` until their start, as
        BambooHR shows them."""
        hr_id = str(max((int(i) for i in self._employees), default=FIRST_ID - 1) + 1)
        local = f"{first_name}.{last_name}{hr_id}".lower()
        status = "Inactive" if hire_date is not None and hire_date > self.today else "Active"
        row: Row = {
            "eeid": hr_id, "employeeNumber": f"E{int(hr_id):05d}", "firstName": first_name, "lastName": last_name,
            "email": f"{local}@acme.example", "status": status, "employmentStatus": "Full-Time",
            "jobInformationDepartment": department, "jobInformationJobTitle": job_title,
            "jobInformationLocation": location, "supervisorEid": manager,
            "hireDate": (hire_date or self.today).isoformat(), "terminationDate": None,
            "customUsername": local, "customCostCenter": None,
        }  # fmt: skip
        self._add(hr_id, _Employee(row, self.tick(), "Inserted"))
        return hr_id

    def move(
        self, hr_id: str, *, department: str | None = None, manager: str | None = None, job_title: str | None = None
    ) -> None:
        """A job information change: new department, supervisor and/or title."""
        changes = {"jobInformationDepartment": department, "supervisorEid": manager}
        changes["jobInformationJobTitle"] = job_title
        self.update(hr_id, **{k: v for k, v in changes.items() if v is not None})

    def terminate(self, hr_id: str, on: date) -> None:
        """BambooHR keeps a future leaver Active until the termination date."""
        changes = {"terminationDate": on.isoformat(), "employmentStatus": "Terminated"}
        self.update(hr_id, **({**changes, "status": "Inactive"} if on <= self.today else changes))

    def rehire(self, hr_id: str, on: date) -> None:
        """Rehire a former employee: a new hire date; the old termination date stays on record. Until a future
        start date the employee stays `Inactive`."""
        changes = {"hireDate": on.isoformat(), "employmentStatus": "Full-Time"}
        self.update(hr_id, **changes, status="Active" if on <= self.today else "Inactive")

    def start(self, hr_id: str) -> None:
        """BambooHR's own flip of a future hire to `Active` on their start date."""
        self.update(hr_id, status="Active")

    def delete(self, hr_id: str) -> None:
        """Remove the record outright (not a termination): `/employees/changed` reports it as Deleted."""
        employee = self._employees[hr_id]
        employee.deleted, employee.action, employee.changed = True, "Deleted", self.tick()

    def update(self, hr_id: str, **fields: str | None) -> None:
        """Set dataset fields of one employee."""
        employee = self._employees[hr_id]
        unknown = set(fields) - FIELDS
        if unknown:
            raise KeyError(f"not dataset fields: {sorted(unknown)}")
        if "eeid" in fields and (number := numeric(employee.fields.get("eeid"))) is not None:
            self._by_number[number].discard(hr_id)
        employee.fields.update(fields)
        self._index(hr_id, employee.fields)
        employee.action, employee.changed = "Updated", self.tick()

    # -- webhooks -------------------------------------------------------------------------------------------
    def sign(self, body: bytes, timestamp: int) -> dict[str, str]:
        digest = hmac.new(self.webhook_key.encode(), body + str(timestamp).encode(), hashlib.sha256).hexdigest()
        return {"X-BambooHR-Signature": digest, "X-BambooHR-Timestamp": str(timestamp)}

    def webhook_request(
        self, hr_id: str, *, kind: str = "updated", changed_fields: Iterable[str] = ("firstName",)
    ) -> RawRequest:
        """A signed event-based webhook call about `hr_id`, received now."""
        data: dict[str, Any] = {"companyId": "12345", "employeeId": hr_id}
        if kind == "updated":
            data["changedFields"] = list(changed_fields)
        payload = {"type": f"employee.{kind}", "timestamp": self.now.strftime("%Y-%m-%dT%H:%M:%SZ"), "data": data}
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json", **self.sign(body, int(self.now.timestamp()))}
        return RawRequest(headers=headers, body=body, received_at=self.now)

    # -- serving --------------------------------------------------------------------------------------------
    def is_write(self, request: httpx.Request) -> bool:
        return request.method != "GET" and not request.url.path.endswith("/data")  # dataset queries are reads

    def handle(self, request: httpx.Request) -> httpx.Response:
        route = _PATH.match(request.url.path)
        if route is None or route["domain"] not in (None, self.company_domain):
            return self._respond(httpx.Response(404, headers={"x-bamboohr-error-message": "Company not found"}))
        if not self._authorised(request):
            return self._respond(httpx.Response(401, headers={"x-bamboohr-error-message": "Invalid API key"}))
        version, rest = route["version"], route["rest"]
        if request.method == "GET" and version == "v1" and rest == "employees/changed":
            return self._respond(self._changed(request))
        if request.method == "POST" and version == "v2" and rest == "datasets/employee/data":
            return self._respond(self._dataset(request))
        return self._respond(httpx.Response(404, headers={"x-bamboohr-error-message": "Unknown endpoint"}))

    def _respond(self, response: httpx.Response) -> httpx.Response:
        self._served += 1
        response.headers["Date"] = format_datetime(self.now, usegmt=True)
        response.headers["X-Request-ID"] = f"fake-{self._served}"
        return response

    def _authorised(self, request: httpx.Request) -> bool:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        try:
            user, _, password = base64.b64decode(token, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return scheme.lower() == "basic" and hmac.compare_digest(user, self.api_key) and bool(password)

    def _changed(self, request: httpx.Request) -> httpx.Response:
        since = _instant(request.url.params.get("since", ""))
        kind = request.url.params.get("type", "all").lower()
        if since is None or kind not in ("inserted", "updated", "deleted", "all"):
            return httpx.Response(400, headers={"x-bamboohr-error-message": "Invalid since or type parameter"})
        changed = {
            hr_id: e for hr_id, e in self._employees.items() if e.changed > since and kind in ("all", e.action.lower())
        }
        latest = max((e.changed for e in changed.values()), default=since)
        employees = {
            hr_id: {"id": hr_id, "action": e.action, "lastChanged": e.changed.isoformat()}
            for hr_id, e in changed.items()
        }
        return json_response(200, {"latest": latest.isoformat(), "employees": employees})

    def _dataset(self, request: httpx.Request) -> httpx.Response:
        try:
            query = DatasetQuery.parse(request.content)
            keep = compile_filter(query.where)
        except FilterError as exc:
            return problem(exc.status, exc.code, str(exc))
        key = (self._changes, query.where, tuple(query.order))
        if self._sorted is None or self._sorted[0] != key:
            self._sorted = (key, query.sort(e.fields for e in self._candidates(query.where) if keep(e.fields)))
        rows = self._sorted[1]
        if self.truncate is not None:
            rows = rows[: self.truncate]
        pages = math.ceil(len(rows) / query.size)
        page = 1 if self.stuck_page else query.page
        start = (page - 1) * query.size
        # The spec types every value as a string: an empty field is left out rather than sent as null.
        window = rows[start : start + query.size]
        data = [{"fields": {f: row[f] for f in query.fields if row.get(f) is not None}} for row in window]
        links = {"next": f"{request.url}?page={page + 1}"} if page < pages else {}
        meta = {"page": page, "pageSize": query.size, "totalPages": pages, "totalItems": len(rows)}
        return json_response(200, {"data": data, "links": links, "meta": meta})

    def _candidates(self, where: str | None) -> list[_Employee]:
        """The employees a filter can match, in company order: those it names by id, else everyone."""
        if not where or not _ID_FILTER.fullmatch(where):
            return [e for e in self._employees.values() if not e.deleted]
        hr_ids = {i for n in _ID_LITERAL.findall(where) for i in self._by_number.get(float(n), ())}
        found = (self._employees[i] for i in sorted(hr_ids, key=self._place.__getitem__))
        return [e for e in found if not e.deleted]


def _instant(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed
