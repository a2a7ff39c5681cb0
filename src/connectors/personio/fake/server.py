"""A stateful fake of the Personio API enrolsync reads: v2 auth, persons and employments, as Personio answers.

Served (host `https://api.personio.de`):
- `POST /v2/auth/token`: form-encoded `grant_type=client_credentials`, `client_id`, `client_secret` ->
  `{access_token, token_type, expires_in}`; tokens expire on the fake's clock; every other path needs one.
- `GET /v2/persons`: `limit` 1..50 (default 10), `cursor`, filters `id`, `email`, `first_name`, `last_name`,
  `status`, `created_at[.gt|.lt]`, `updated_at[.gt|.lt]`; `{_data, _meta: {links: {self, next}}}`.
- `GET /v2/persons/{id}` and `GET /v2/persons/{id}/employments` (`limit`, `cursor`, `updated_at[.gt|.lt]`).
Errors are `application/problem+json` with `errors[]`; throttling, timeouts and broken bodies come from
`FakeServer`'s fault injection. Every change bumps the clock (also the `Date` header) by one second.
"""

from __future__ import annotations

import base64
import hmac
import json
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qsl

import httpx

from enrolsync.connectors.model import RawRequest
from enrolsync.connectors.personio.fake.company import Record, generate_company
from enrolsync.connectors.personio.fake.wire import (
    TIME_FILTERS,
    Refused,
    iso,
    make_cursor,
    only,
    problem,
    read_offset,
    times_match,
)
from enrolsync.connectors.testing.fakes import FakeServer, json_response

START = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)
_PERSON = re.compile(r"^/v2/persons/(?P<id>[^/]+)(?P<employments>/employments)?$")
_PERSON_FILTERS = frozenset({"id", "email", "first_name", "last_name", "preferred_name", "status"})

__all__ = ["START", "PersonioFake"]


@dataclass
class _Entry:
    person: dict[str, Any]
    employment: dict[str, Any]
    deleted: bool = False


class PersonioFake(FakeServer):
    """In-memory Personio company. `repeat_cursor` makes every next link point at the first page (a looping
    server); `relative_links` sends next links without scheme and host."""

    def __init__(
        self,
        records: Iterable[Record] = (),
        *,
        client_id: str = "papi-fake-client",
        client_secret: str = "papi-fake-secret",  # noqa: S107 - the fake's own test credential
        webhook_token: str = "Bearer fake-webhook-token",  # noqa: S107 - the fake's own test token
        token_lifetime: int = 86_400,
        now: datetime = START,
    ) -> None:
        super().__init__()
        self.client_id, self.client_secret = client_id, client_secret
        self.webhook_token = webhook_token
        self.token_lifetime = token_lifetime
        self.now = now
        self.repeat_cursor = False
        self.relative_links = False
        self.tokens: dict[str, datetime] = {}
        self._served = 0
        seeded = list(records)
        self._entries: dict[str, _Entry] = {}
        for index, (person, employment) in enumerate(seeded):
            # Seeded history lies strictly before `now`, so a read made now has seen all of it.
            stamp = iso(now - timedelta(hours=len(seeded) - index))
            self._entries[person["id"]] = _Entry(
                {**person, "created_at": stamp, "updated_at": stamp}, {**employment, "updated_at": stamp}
            )

    @classmethod
    def seeded(cls, n: int, seed: int = 0, *, now: datetime = START, **options: Any) -> PersonioFake:
        return cls(generate_company(n, seed, today=now.date()), now=now, **options)

    # -- state for tests ------------------------------------------------------------------------------------
    @property
    def today(self) -> date:
        return self.now.date()

    def hr_ids(self) -> set[str]:
        return {hr_id for hr_id, entry in self._entries.items() if not entry.deleted}

    def record(self, hr_id: str) -> Record:
        entry = self._entries[hr_id]
        return dict(entry.person), dict(entry.employment)

    def token_requests(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path == "/v2/auth/token"]

    # -- mutations: each is one change at a new instant -----------------------------------------------------
    def tick(self, seconds: float = 1) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now

    def hire(self, first_name: str, last_name: str, *, job_title: str = "Software Engineer",
             manager: str | None = None, start: date | None = None) -> str:  # fmt: skip
        """A new person with one employment; `ONBOARDING` until a future start date."""
        hr_id = str(max((int(i) for i in self._entries), default=100) + 1)
        local = f"{first_name}.{last_name}{hr_id}".lower()
        begins = start or self.today
        stamp = iso(self.tick())
        person = {
            "id": hr_id, "email": f"{local}@acme.example", "first_name": first_name, "last_name": last_name,
            "preferred_name": first_name, "status": "ACTIVE", "custom_attributes": [],
            "employments": [{"id": f"emp-{hr_id}"}], "created_at": stamp, "updated_at": stamp,
        }  # fmt: skip
        employment = {
            "id": f"emp-{hr_id}", "person": {"id": hr_id}, "status": "ONBOARDING" if begins > self.today else "ACTIVE",
            "employment_start_date": begins.isoformat(), "position": {"title": job_title},
            "supervisor": {"id": manager} if manager else None, "termination": None, "updated_at": stamp,
        }  # fmt: skip
        self._entries[hr_id] = _Entry(person, employment)
        return hr_id

    def update_person(self, hr_id: str, **fields: Any) -> None:
        """Change person fields (names, email): bumps the person's `updated_at` only."""
        entry = self._entries[hr_id]
        entry.person.update(fields, updated_at=iso(self.tick()))

    def update_employment(self, hr_id: str, **fields: Any) -> None:
        """Change employment fields: bumps the employment's `updated_at`, not the person's."""
        entry = self._entries[hr_id]
        entry.employment.update(fields, updated_at=iso(self.tick()))

    def move(self, hr_id: str, *, manager: str | None = None, job_title: str | None = None) -> None:
        changes: dict[str, Any] = {}
        if manager is not None:
            changes["supervisor"] = {"id": manager}
        if job_title is not None:
            changes["position"] = {"title": job_title}
        self.update_employment(hr_id, **changes)

    def terminate(self, hr_id: str, on: date) -> None:
        """Personio keeps a future leaver ACTIVE until the termination date, then flips it to INACTIVE."""
        status = "INACTIVE" if on <= self.today else self._entries[hr_id].employment["status"]
        self.update_employment(hr_id, status=status, termination={"termination_date": on.isoformat()})

    def start(self, hr_id: str) -> None:
        """Personio's own flip of an onboarding employment to ACTIVE on the start date."""
        self.update_employment(hr_id, status="ACTIVE")

    def delete(self, hr_id: str) -> None:
        """Remove the person outright (not a termination): the API no longer knows them."""
        self._entries[hr_id].deleted = True
        self.tick()

    def throttle_next(self, n: int = 1, *, retry_after: float = 1) -> None:
        """The next `n` requests answer 429 as Personio does: `Retry-After` and a problem body."""
        refused = problem(429, "common.too_many_requests", "Too Many Requests", "Rate limit exceeded.")
        headers = {"Content-Type": "application/problem+json"}
        self.fail_next(n, status=429, retry_after=retry_after, body=refused.content, headers=headers)

    # -- webhooks -------------------------------------------------------------------------------------------
    def webhook_request(self, hr_id: str, event: str = "person.updated", *, token: str | None = None) -> RawRequest:
        """A call as Personio's webhook (auth type TOKEN) makes it, about `hr_id`, received now."""
        if event.startswith("employment."):
            payload: dict[str, Any] = {"id": f"emp-{hr_id}", "person": {"id": hr_id}}
        else:
            payload = {"id": hr_id}
        envelope = {"company_id": 4711, "event_name": event, "occurred_at": iso(self.now), "payload": payload}
        headers = {"Content-Type": "application/json", "Authorization": token or self.webhook_token}
        return RawRequest(headers=headers, body=json.dumps(envelope).encode(), received_at=self.now)

    # -- serving --------------------------------------------------------------------------------------------
    def is_write(self, request: httpx.Request) -> bool:
        return request.method != "GET" and request.url.path != "/v2/auth/token"

    def handle(self, request: httpx.Request) -> httpx.Response:
        self._served += 1
        try:
            response = self._route(request)
        except Refused as refused:
            response = refused.response
        response.headers["Date"] = format_datetime(self.now, usegmt=True)
        return response

    def _route(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/v2/auth/token":
            if request.method != "POST":
                raise Refused(405, "common.method_not_allowed", "Method Not Allowed", "Use POST.")
            return self._token(request)
        self._authorise(request)
        if request.method != "GET":
            raise Refused(405, "common.method_not_allowed", "Method Not Allowed", "Only GET is served here.")
        if path == "/v2/persons":
            return self._list(request, self._persons(request.url.params, _origin(request)))
        match = _PERSON.match(path)
        if match is None:
            raise Refused(404, "common.requested_resource_not_found", "Not Found", "Unknown path.")
        entry = self._entries.get(match["id"])
        if entry is None or entry.deleted:
            raise Refused(404, "common.requested_resource_not_found", "Resource not found",
                           "The requested resource was not found.")  # fmt: skip
        if match["employments"]:
            params = request.url.params
            only(params, TIME_FILTERS - {"created_at", "created_at.gt", "created_at.lt"})
            return self._list(request, [e for e in [entry.employment] if times_match(e, params)])
        only(request.url.params, frozenset())
        return json_response(200, self._person_out(entry, _origin(request)))

    def _token(self, request: httpx.Request) -> httpx.Response:
        if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            raise Refused(415, "common.unsupported_media_type", "Unsupported Media Type",
                           "Send the form as application/x-www-form-urlencoded.")  # fmt: skip
        form = dict(parse_qsl(request.content.decode()))
        if form.get("grant_type") != "client_credentials":
            raise Refused(400, "auth.unsupported_grant_type", "Bad Request", "Only client_credentials is supported.")
        known = hmac.compare_digest(form.get("client_id", ""), self.client_id)
        if not (known and hmac.compare_digest(form.get("client_secret", ""), self.client_secret)):
            raise Refused(401, "auth.invalid_client", "Unauthorized", "The client credentials are invalid.")
        token = "papi-" + base64.urlsafe_b64encode(secrets.token_bytes(18)).decode()
        self.tokens[token] = self.now + timedelta(seconds=self.token_lifetime)
        return json_response(200, {"access_token": token, "token_type": "Bearer", "expires_in": self.token_lifetime})

    def _authorise(self, request: httpx.Request) -> None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        expires = self.tokens.get(token) if scheme == "Bearer" else None
        if expires is None or expires <= self.now:
            raise Refused(
                401, "common.unauthorized", "Unauthorized", "The access token is missing, invalid or expired."
            )

    def _persons(self, params: httpx.QueryParams, origin: str) -> list[dict[str, Any]]:
        only(params, _PERSON_FILTERS | TIME_FILTERS)
        status = params.get("status")
        if status is not None and status not in ("ACTIVE", "INACTIVE"):
            raise Refused(400, "common.invalid_filter", "Bad Request", "status must be ACTIVE or INACTIVE.")
        chosen = []
        for entry in self._entries.values():
            person = entry.person
            if entry.deleted or not times_match(person, params):
                continue
            if all(str(person.get(name)) == params[name] for name in _PERSON_FILTERS if name in params):
                chosen.append(self._person_out(entry, origin))
        return chosen

    def _person_out(self, entry: _Entry, origin: str) -> dict[str, Any]:
        links = {"employments": {"href": f"{origin}/v2/persons/{entry.person['id']}/employments"}}
        return {**entry.person, "_meta": {"links": links}}

    def _list(self, request: httpx.Request, items: list[dict[str, Any]]) -> httpx.Response:
        params = request.url.params
        raw_limit = params.get("limit", "10")
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 50:
            raise Refused(400, "common.invalid_pagination", "Bad Request", "limit must be between 1 and 50.")
        limit, offset = int(raw_limit), read_offset(params.get("cursor"))
        window = items[offset : offset + limit]
        query = {k: v for k, v in params.multi_items() if k != "cursor"}
        links: dict[str, Any] = {"self": {"href": str(request.url)}}
        if offset + limit < len(items):
            token = make_cursor(0 if self.repeat_cursor else offset + limit)
            href = httpx.URL(f"{_origin(request)}{request.url.path}").copy_merge_params({**query, "cursor": token})
            links["next"] = {"href": f"{href.raw_path.decode()}" if self.relative_links else str(href)}
        return json_response(200, {"_data": window, "_meta": {"links": links}})


def _origin(request: httpx.Request) -> str:
    """Links name the host that was asked, as Personio's name its own (tests reach the fake under any host)."""
    return f"{request.url.scheme}://{request.url.netloc.decode()}"
