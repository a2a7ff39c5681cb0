"""A stateful fake of the SuccessFactors OData v2 API that enrolsync reads, answering as SAP's EDMX documents say.

Served (`https://{api-server}/odata/v2/...`): `GET User`, `PerPerson`, `PerPersonal`, `PerEmail`, `EmpEmployment`,
`EmpJob` with `$select` (navigation paths too), `$expand`, `$filter` (see `odata.py`), `$top`, `$skip`,
`$inlinecount=allpages`, `$format=json`, `customPageSize` (<= 1000) and the effective-dating parameters `asOfDate`
(default today), `fromDate`, `toDate`; answers `{"d": {"results": [...], "__next": "...", "__count": "N"}}` with
`/Date(ms)/` dates. Server paging is snapshot paging: the first request fixes the result, `__next` carries a
`$skiptoken` into it. `User` returns only active users unless the filter names `status`, as SF does.
`POST /oauth/token` takes a SAML 2.0 bearer assertion (`fake/saml.py`). Auth otherwise is HTTP Basic
`user@companyId` or the bearer token. Errors are SF's error JSON; injected faults come from `FakeServer`, and
`repeat_next_page` / `skip_next_page` make the server misbehave the ways a page can go wrong.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode

import httpx

from enrolsync.connectors.successfactors.fake import saml
from enrolsync.connectors.successfactors.fake.company import (
    EFFECTIVE_DATED,
    END_OF_TIME,
    KEYS,
    NAVIGATION,
    NO_MANAGER,
    SCHEMA,
    Job,
    SfPerson,
    from_employee,
)
from enrolsync.connectors.successfactors.fake.odata import ODataError, edm_json, parse_filter
from enrolsync.connectors.successfactors.fake.query import int_param, key_literal, shape, window
from enrolsync.connectors.testing.company import Employee, generate_people
from enrolsync.connectors.testing.fakes import FakeServer, json_response

START = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)
ROOT = "/odata/v2/"
MAX_PAGE = 1000  # records per page, SF's cap (KBA 2920680)
_ACTIVE_USERS = ("t", "T", "e")

__all__ = ["START", "SuccessFactorsFake"]


@dataclass
class _Snapshot:
    rows: list[dict[str, Any]]
    size: int
    query: dict[str, str]


class SuccessFactorsFake(FakeServer):
    """An EC tenant. `api_user` / `password` authenticate Basic calls as `api_user@company_id`; the OAuth client
    `client_id` trusts `certificate` (the signer of SAML assertions, `saml.signing_key()` by default)."""

    def __init__(
        self,
        people: list[Employee],
        *,
        company_id: str = "ACMECORP01",
        api_user: str = "sfapi",
        password: str = "fake-sf-password",  # noqa: S107 - a fake's stand-in credential
        client_id: str = "ZmFrZS1zZi1jbGllbnQtaWQ",
        now: datetime = START,
    ) -> None:
        super().__init__()
        self.company_id, self.api_user, self.password, self.client_id = company_id, api_user, password, client_id
        self.certificate = saml.signing_key().certificate_pem
        self.now = now
        self.tokens_issued = 0
        self._tokens: dict[str, datetime] = {}
        stamp = now - timedelta(days=30)
        self._people = {e.hr_id: from_employee(e, now.date(), stamp) for e in people}
        self._purged: set[str] = set()
        self._snapshots: dict[str, tuple[_Snapshot, int]] = {}
        self._page_fault: str | None = None
        self._origin = "https://api4.successfactors.com"  # the host `__metadata` URIs name: the one asked

    @classmethod
    def seeded(cls, n: int, seed: int = 0, *, now: datetime = START, **options: Any) -> SuccessFactorsFake:
        """A tenant holding `generate_people(n, seed)`, its dates relative to `now`."""
        return cls(generate_people(n, seed, today=now.date()), now=now, **options)

    # -- state for tests ------------------------------------------------------------------------------------
    @property
    def today(self) -> date:
        return self.now.date()

    def hr_ids(self) -> set[str]:
        return set(self._people) - self._purged

    def person(self, hr_id: str) -> SfPerson:
        return self._people[hr_id]

    def tick(self, seconds: float = 1) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now

    def revoke_tokens(self) -> None:
        """Every bearer token issued so far stops working (as when the OAuth client's tokens are revoked)."""
        self._tokens.clear()

    def repeat_next_page(self) -> None:
        """The next `__next` link points at the page just served again (with a fresh token)."""
        self._page_fault = "repeat"

    def skip_next_page(self) -> None:
        """The next `__next` link jumps over one page."""
        self._page_fault = "skip"

    def throttle_next(self, n: int = 1, *, retry_after: float | None = 300) -> None:
        """SF's rate-limit answer: 429 with its error JSON (SAP KBA 3308165 says retry after 300 s)."""
        body = b'{"error":{"code":"TOO_MANY_REQUESTS","message":{"lang":"en-US","value":"Rate limit exceeded"}}}'
        self.fail_next(n, status=429, retry_after=retry_after, body=body, headers={"Content-Type": "application/json"})

    # -- mutations (each stamps lastModifiedDateTime of what it touches with the fake's clock) ----------------
    def _touch(self, person: SfPerson, *entities: str) -> None:
        self.tick()
        for entity in entities:
            person.modified[entity] = self.now

    def _user_id(self, hr_id: str | None) -> str:
        return self._people[hr_id].user_id if hr_id else NO_MANAGER

    def hire(
        self, first_name: str, last_name: str, *, department: str, manager: str | None = None,
        job_title: str = "Software Engineer", location: str = "London", start: date | None = None,
    ) -> str:  # fmt: skip
        """A hire: person, user, employment and a hire segment; a `start` ahead is a future-dated hire."""
        hr_id = str(max((int(i) for i in self._people), default=100) + 1)
        local = f"{first_name}.{last_name}{hr_id}".lower()
        begins = start or self.today
        job = Job(begins, END_OF_TIME, 1, department, job_title, location, self._user_id(manager), "A", "H",
                  "CC-001", self.now)  # fmt: skip
        person = SfPerson(
            person_id=hr_id, user_id=f"E{int(hr_id):05d}", username=local, first_name=first_name,
            last_name=last_name, email=f"{local}@acme.example", start=begins, end=None, jobs=[job],
        )  # fmt: skip
        self._people[hr_id] = person
        self._touch(person, *SCHEMA)
        for current in person.jobs:
            current.modified = self.now
        return hr_id

    def _new_segment(self, person: SfPerson, on: date, **changes: Any) -> None:
        """A job change effective `on`: the segment then in force ends the day before, a copy with `changes` begins."""
        base = person.job_on(on) or person.jobs[-1]
        later = [j for j in person.jobs if j.start > on]
        same_day = base.start == on
        segment = Job(**{**base.__dict__, "start": on, "seq": base.seq + 1 if same_day else 1, **changes})
        if not same_day:
            base.end = on - timedelta(days=1)
        segment.end = min((j.start for j in later), default=END_OF_TIME) - timedelta(days=0 if not later else 1)
        if not later:
            segment.end = END_OF_TIME
        person.jobs = sorted([*[j for j in person.jobs if not (same_day and j is base)], segment],
                             key=lambda j: (j.start, j.seq))  # fmt: skip
        self._touch(person, "EmpJob")
        segment.modified = self.now

    def move(
        self, hr_id: str, *, department: str | None = None, manager: str | None = None,
        job_title: str | None = None, on: date | None = None,
    ) -> None:  # fmt: skip
        """A job change (event `5`, data change) effective `on` (today by default; a date ahead is future-dated)."""
        person = self._people[hr_id]
        changes: dict[str, Any] = {"event": "5"}
        if department:
            changes["department"] = department
        if manager:
            changes["manager"] = self._user_id(manager)
        if job_title:
            changes["title"] = job_title
        self._new_segment(person, on or self.today, **changes)

    def terminate(self, hr_id: str, on: date) -> None:
        """A termination with `on` as the last day: the employment ends then, a `T` segment begins the day after."""
        person = self._people[hr_id]
        person.end = on
        self._new_segment(person, on + timedelta(days=1), status="T", event="26")
        self._touch(person, "EmpEmployment")

    def place_on_leave(self, hr_id: str, on: date | None = None) -> None:
        self._new_segment(self._people[hr_id], on or self.today, status="U", event="10")

    def change_email(self, hr_id: str, email: str) -> None:
        person = self._people[hr_id]
        person.email = email
        self._touch(person, "PerEmail", "User")

    def delete(self, hr_id: str) -> None:
        """Purge the person (data retention): SF no longer returns any of their records."""
        self._purged.add(hr_id)
        self.tick()

    # -- serving --------------------------------------------------------------------------------------------
    def handle(self, request: httpx.Request) -> httpx.Response:
        try:
            response = self._route(request)
        except ODataError as exc:
            response = exc.response()
        response.headers["Date"] = format_datetime(self.now, usegmt=True)
        return response

    def _route(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "POST" and path == "/oauth/token":
            return self._token(request)
        if not self._authorised(request):
            raise ODataError(401, "UNAUTHORIZED", "[LGN0022]Authentication failed. Please try with valid credentials.")
        entity = path.removeprefix(ROOT)
        if request.method != "GET" or not path.startswith(ROOT) or entity not in SCHEMA:
            raise ODataError(404, "COE_RESOURCE_NOT_FOUND", f"[COE0002]Resource not found for the segment '{entity}'.")
        params = dict(request.url.params)
        if params.get("$format") != "json":
            raise ODataError(406, "COE_NOT_ACCEPTABLE", "This fake answers JSON only: add $format=json")
        if token := params.get("$skiptoken"):
            return self._next_page(request, entity, token)
        return self._first_page(request, entity, params)

    def _authorised(self, request: httpx.Request) -> bool:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            expires = self._tokens.get(value)
            return expires is not None and self.now < expires
        try:
            user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return (
            scheme.lower() == "basic"
            and hmac.compare_digest(user, f"{self.api_user}@{self.company_id}")
            and hmac.compare_digest(password, self.password)
        )

    def _token(self, request: httpx.Request) -> httpx.Response:
        form = dict(httpx.QueryParams(request.content.decode()))
        if form.get("grant_type") != saml.GRANT_TYPE:
            return json_response(400, {"error": "unsupported_grant_type"})
        if form.get("company_id") != self.company_id or form.get("client_id") != self.client_id:
            return json_response(401, {"error": "invalid_client", "error_description": "Unknown client or company"})
        problem = saml.verify(form.get("assertion", ""), self.certificate, client_id=self.client_id,
                              users={self.api_user})  # fmt: skip
        if problem:
            return json_response(401, {"error": "invalid_grant", "error_description": problem})
        token = secrets.token_urlsafe(24)
        self._tokens[token] = self.now + timedelta(hours=24)
        self.tokens_issued += 1
        return json_response(200, {"access_token": token, "token_type": "Bearer", "expires_in": 86399})

    # -- queries --------------------------------------------------------------------------------------------
    def _rows(self, entity: str, params: dict[str, str]) -> list[dict[str, Any]]:
        predicate = parse_filter(params.get("$filter"), SCHEMA[entity])
        today = self.today
        rows = [
            (person, row)
            for hr_id, person in self._people.items()
            if hr_id not in self._purged
            for row in person.records(today)[entity]
        ]
        if entity in EFFECTIVE_DATED:
            span = window(params, today)
            rows = [(p, r) for p, r in rows if r["startDate"] <= span[1] and (r["endDate"] or END_OF_TIME) >= span[0]]
        if entity == "User" and "status" not in (params.get("$filter") or ""):
            rows = [(p, r) for p, r in rows if r["status"] in _ACTIVE_USERS]
        chosen = sorted(
            ((p, r) for p, r in rows if predicate(r)), key=lambda pr: tuple(str(pr[1][k]) for k in KEYS[entity])
        )
        select, expand = shape(entity, params)
        return [self._render(entity, person, row, select, expand, params) for person, row in chosen]

    def _render(
        self, entity: str, person: SfPerson, row: dict[str, Any], select: set[str] | None,
        expand: dict[str, set[str] | None], params: dict[str, str],
    ) -> dict[str, Any]:  # fmt: skip
        keys = ",".join(key_literal(k, row[k], SCHEMA[entity][k]) for k in KEYS[entity])
        out: dict[str, Any] = {
            "__metadata": {"uri": f"{self._origin}{ROOT}{entity}({keys})", "type": f"SFOData.{entity}"}
        }
        for name, edm_type in SCHEMA[entity].items():
            if select is None or name in select:
                out[name] = edm_json(row[name], edm_type)
        for nav, (target, _many) in NAVIGATION.get(entity, {}).items():
            if nav in expand:
                related = person.records(self.today)[target]
                if target in EFFECTIVE_DATED:
                    span = window(params, self.today)
                    related = [
                        r for r in related if r["startDate"] <= span[1] and (r["endDate"] or END_OF_TIME) >= span[0]
                    ]
                fields = expand[nav]
                out[nav] = {"results": [
                    {"__metadata": {"type": f"SFOData.{target}"},
                     **{n: edm_json(r[n], t) for n, t in SCHEMA[target].items() if fields is None or n in fields}}
                    for r in related
                ]}  # fmt: skip
            elif select is None:
                out[nav] = {"__deferred": {"uri": f"{self._origin}{ROOT}{entity}({keys})/{nav}"}}
        return out

    def _first_page(self, request: httpx.Request, entity: str, params: dict[str, str]) -> httpx.Response:
        self._origin = f"{request.url.scheme}://{request.url.netloc.decode()}"
        rows = self._rows(entity, params)
        count = len(rows)
        skip, top = int_param(params, "$skip", 0) or 0, int_param(params, "$top", None)
        rows = rows[skip:] if top is None else rows[skip : skip + top]
        size = min(int_param(params, "customPageSize", MAX_PAGE) or MAX_PAGE, MAX_PAGE)
        query = {k: v for k, v in params.items() if k not in ("$skip", "$top", "$inlinecount", "$skiptoken")}
        snapshot = _Snapshot(rows, size, query)
        data = self._page(request, entity, snapshot, 0)
        if params.get("$inlinecount") == "allpages":
            data["__count"] = str(count)
        return json_response(200, {"d": data})

    def _next_page(self, request: httpx.Request, entity: str, token: str) -> httpx.Response:
        found = self._snapshots.get(token)
        if found is None:
            raise ODataError(400, "COE_INVALID_SKIPTOKEN", "[COE0044]The $skiptoken is invalid or expired.")
        snapshot, offset = found
        return json_response(200, {"d": self._page(request, entity, snapshot, offset)})

    def _page(self, request: httpx.Request, entity: str, snapshot: _Snapshot, offset: int) -> dict[str, Any]:
        page = snapshot.rows[offset : offset + snapshot.size]
        data: dict[str, Any] = {"results": page}
        following = offset + snapshot.size
        if following >= len(snapshot.rows):
            pass  # the last page: a fault waits for a read with pages to misbehave in
        elif self._page_fault == "repeat":
            following, self._page_fault = offset, None
        elif self._page_fault == "skip":
            following, self._page_fault = following + snapshot.size, None
        if following < len(snapshot.rows):
            token = secrets.token_urlsafe(12)
            self._snapshots[token] = (snapshot, following)
            query = urlencode({**snapshot.query, "$skiptoken": token})
            data["__next"] = f"{request.url.scheme}://{request.url.netloc.decode()}{ROOT}{entity}?{query}"
        return data
