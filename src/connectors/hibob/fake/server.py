"""A stateful fake of the HiBob API that enrolsync reads, with Bob's paths, field paths, body rules and errors.

Served paths (`https://api.hibob.com/v1/...`):
- `POST people/search`: `{fields (<= 400), filters (at most one, equals on root.id / root.email), showInactive,
  humanReadable}`; everyone in one answer `{"employees": [...]}`; a bad filter or field is a 400.
- `POST people/{identifier}`: one employee by backend id or email, wrapped in `employees` as the document says.
- `GET company/people/fields`: field metadata with categories.
Auth is HTTP Basic with the service user's id and token (401 otherwise). Fields of categories the service user's
permission group does not grant are left out silently (`permitted`); `people/search` answers 429 past 50
requests in a minute of the fake's clock. Injected faults come from `FakeServer`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx

from enrolsync.connectors.hibob.fake.company import CATEGORIES, FIELDS, render
from enrolsync.connectors.model import RawRequest
from enrolsync.connectors.testing.company import FIRST_ID, Employee, generate_people
from enrolsync.connectors.testing.fakes import FakeServer, json_response

START = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)
SEARCH_LIMIT = 50  # requests per minute on people/search (https://apidocs.hibob.com/reference/rate-limiting)
MAX_FIELDS = 400
_PERSON = re.compile(r"^/v1/people/(?P<identifier>[^/]+)$")
_BODY_KEYS = {"fields", "filters", "showInactive", "humanReadable"}

__all__ = ["START", "HiBobFake"]


class _BadRequest(Exception):
    pass


class HiBobFake(FakeServer):
    """In-memory Bob company. `permitted` holds the category ids the service user's permission group grants."""

    def __init__(
        self,
        people: list[Employee],
        *,
        service_user_id: str = "SERVICE-USER-7",
        token: str = "fake-service-user-token",  # noqa: S107 - a fake's stand-in credential
        webhook_secret: str = "fake-webhook-secret",  # noqa: S107 - a fake's stand-in credential
        now: datetime = START,
    ) -> None:
        super().__init__()
        self.service_user_id = service_user_id
        self.token = token
        self.webhook_secret = webhook_secret
        self.now = now
        self.permitted: set[str] = set(CATEGORIES)
        self._people = {person.hr_id: person for person in people}
        self._deleted: set[str] = set()
        self._searches: list[datetime] = []

    @classmethod
    def seeded(cls, n: int, seed: int = 0, *, now: datetime = START, **options: Any) -> HiBobFake:
        """A company of `n` from `generate_people(n, seed)`, its dates relative to `now`."""
        return cls(generate_people(n, seed, today=now.date()), now=now, **options)

    # -- state for tests ------------------------------------------------------------------------------------
    @property
    def today(self) -> date:
        return self.now.date()

    def hr_ids(self) -> set[str]:
        return set(self._people) - self._deleted

    def person(self, hr_id: str) -> Employee:
        return self._people[hr_id]

    def tick(self, seconds: float = 1) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now

    # -- mutations ------------------------------------------------------------------------------------------
    def hire(
        self,
        first_name: str,
        last_name: str,
        *,
        department: str,
        manager: str | None = None,
        job_title: str = "Software Engineer",
        location: str = "London",
        start: date | None = None,
    ) -> str:
        """Add an employee (the next id); a future start is `Hired` (Inactive) until that day."""
        hr_id = str(max((int(i) for i in self._people), default=FIRST_ID - 1) + 1)
        local = f"{first_name}.{last_name}{hr_id}".lower()
        self._people[hr_id] = Employee(
            hr_id=hr_id, employee_number=f"E{int(hr_id):05d}", first_name=first_name, last_name=last_name,
            email=f"{local}@acme.example", username=local, status="active", employment="full_time",
            department=department, job_title=job_title, location=location, manager_id=manager,
            hire_date=start or self.today, termination_date=None, cost_center="CC-001",
        )  # fmt: skip
        self.tick()
        return hr_id

    def move(self, hr_id: str, *, department: str | None = None, manager: str | None = None) -> None:
        """A work table entry: new department and/or manager."""
        person = self._people[hr_id]
        person.department = department or person.department
        person.manager_id = manager or person.manager_id
        self.tick()

    def terminate(self, hr_id: str, on: date) -> None:
        """A lifecycle entry `Terminated` effective `on`; Bob flips the status at midnight on that day."""
        person = self._people[hr_id]
        person.status, person.termination_date = "terminated", on
        self.tick()

    def place_on_leave(self, hr_id: str) -> None:
        self._people[hr_id].status = "on_leave"
        self.tick()

    def delete(self, hr_id: str) -> None:
        """Remove the employee outright (not a termination): Bob no longer returns them."""
        self._deleted.add(hr_id)
        self.tick()

    # -- webhooks -------------------------------------------------------------------------------------------
    def sign(self, body: bytes, *, encoding: str = "base64") -> str:
        digest = hmac.new(self.webhook_secret.encode(), body, hashlib.sha512).digest()
        return base64.b64encode(digest).decode() if encoding == "base64" else digest.hex()

    def webhook_request(self, hr_id: str, *, kind: str = "employee.updated", encoding: str = "base64") -> RawRequest:
        """A signed v2 webhook call about `hr_id`, received now."""
        payload = {
            "companyId": 636192,
            "type": kind,
            "triggeredBy": "3332883804594373380",
            "triggeredAt": self.now.replace(tzinfo=None).isoformat(),
            "version": "v2",
            "data": {
                "employeeId": hr_id,
                **({"fieldUpdates": ["work.department"]} if kind == "employee.updated" else {}),
            },
        }
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json", "Bob-Signature": self.sign(body, encoding=encoding)}
        return RawRequest(headers=headers, body=body, received_at=self.now)

    # -- serving --------------------------------------------------------------------------------------------
    def is_write(self, request: httpx.Request) -> bool:
        return False  # every call enrolsync makes reads, the POSTs included

    def handle(self, request: httpx.Request) -> httpx.Response:
        response = self._route(request)
        response.headers["Date"] = format_datetime(self.now, usegmt=True)
        return response

    def _route(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if not self._authorised(request):
            return _error(401, "unauthorized", "Invalid service user credentials")
        if request.method == "GET" and path == "/v1/company/people/fields":
            return json_response(200, [self._meta(f.path) for f in FIELDS.values()])
        try:
            if request.method == "POST" and path == "/v1/people/search":
                return self._search(request)
            if request.method == "POST" and (match := _PERSON.match(path)):
                return self._one(request, match["identifier"])
        except _BadRequest as exc:
            return _error(400, "bad.request", str(exc))
        return _error(404, "not.found", "Unknown endpoint")

    def _authorised(self, request: httpx.Request) -> bool:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        try:
            user, _, password = base64.b64decode(token, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return (
            scheme.lower() == "basic"
            and hmac.compare_digest(user, self.service_user_id)
            and hmac.compare_digest(password, self.token)
        )

    def _meta(self, path: str) -> dict[str, Any]:
        field = FIELDS[path]
        return {
            "id": path, "name": field.name, "categoryId": field.category,
            "categoryDisplayName": CATEGORIES[field.category], "category": field.category,
            "jsonPath": path.removeprefix("root."), "type": field.kind, "historical": False,
        }  # fmt: skip

    def _search(self, request: httpx.Request) -> httpx.Response:
        minute_ago = self.now - timedelta(minutes=1)
        self._searches = [t for t in self._searches if t > minute_ago] + [self.now]
        if len(self._searches) > SEARCH_LIMIT:
            return _error(429, "too.many.requests", "Rate limit exceeded", {"Retry-After": "60"})
        body = _body(request)
        fields, readable = _fields(body), body.get("humanReadable")
        people = [p for hr_id, p in self._people.items() if hr_id not in self._deleted]
        for rule in _filters(body):
            key = "hr_id" if rule["fieldPath"] == "root.id" else "email"
            people = [p for p in people if getattr(p, key) in rule["values"]]
        rendered = [self._employee(p, fields, readable) for p in people]
        if body.get("showInactive") is not True:  # Bob's default: active employees only
            rendered = [(e, access) for e, access in rendered if access == "Active"]
        return json_response(200, {"employees": [e for e, _ in rendered]})

    def _one(self, request: httpx.Request, identifier: str) -> httpx.Response:
        body = _body(request, allowed={"fields", "humanReadable"})
        live = [p for hr_id, p in self._people.items() if hr_id not in self._deleted]
        found = [p for p in live if identifier in (p.hr_id, p.email)]
        if not found:
            return _error(404, "employee.not.found", "Employee not found")
        employee, _ = self._employee(found[0], _fields(body), body.get("humanReadable"))
        return json_response(200, {"employees": [employee]})

    def _employee(self, person: Employee, fields: list[str], readable: Any) -> tuple[dict[str, Any], str]:
        """The employee as asked for (fields the service user may not see left out), and its access status."""
        machine, display = render(person, self._people, self.today)
        access = str(machine["internal"]["status"])
        visible = [f for f in fields if FIELDS[f].category in self.permitted]
        if readable == "REPLACE":
            return _select(display, visible), access
        employee = _select(machine, visible)
        if readable == "APPEND":
            employee["humanReadable"] = _select(display, visible)
        return employee, access


def _select(record: dict[str, Any], paths: list[str]) -> dict[str, Any]:
    """The requested paths of a record, nested as Bob nests them (`root.*` at the top level)."""
    out: dict[str, Any] = {}
    for path in paths:
        parts = path.split(".")
        keys = parts[1:] if parts[0] == "root" else parts
        source: Any = record
        for key in keys:
            source = source.get(key) if isinstance(source, dict) else None
        node = out
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = source
    return out


def _body(request: httpx.Request, allowed: set[str] = _BODY_KEYS) -> dict[str, Any]:
    try:
        body = json.loads(request.content or b"{}")
    except ValueError:
        raise _BadRequest("The request body is not JSON") from None
    if not isinstance(body, dict) or set(body) - allowed:
        raise _BadRequest(f"Unknown body properties: {sorted(set(body) - allowed) if isinstance(body, dict) else body}")
    return body


def _fields(body: dict[str, Any]) -> list[str]:
    fields = body.get("fields", ["root.id", "root.firstName", "root.surname", "root.email"])
    if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields) or len(fields) > MAX_FIELDS:
        raise _BadRequest(f"fields must be a list of at most {MAX_FIELDS} field paths")
    if unknown := sorted(set(fields) - set(FIELDS)):
        raise _BadRequest(f"Unknown field(s): {', '.join(unknown)}")
    return list(dict.fromkeys(fields))


def _filters(body: dict[str, Any]) -> list[dict[str, Any]]:
    filters = body.get("filters", [])
    if not isinstance(filters, list) or len(filters) > 1:
        raise _BadRequest("At most one filter is supported")
    for rule in filters:
        values = rule.get("values") if isinstance(rule, dict) else None
        if not isinstance(rule, dict) or rule.get("fieldPath") not in ("root.id", "root.email"):
            raise _BadRequest("Filters support only root.id and root.email")
        if rule.get("operator") != "equals" or not isinstance(values, list) or not values:
            raise _BadRequest("Filters support only the equals operator with a non-empty list of values")
    return filters


def _error(status: int, key: str, message: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return json_response(status, {"key": key, "error": message}, headers)
