"""A stateful fake of the Workday APIs enrolsync reads, serving the shared generated company.

Served:
- `POST /ccx/service/{tenant}/Human_Resources/{version}`: SOAP `Get_Workers` (`fake/soap.py`) with WS-Security
  UsernameToken `user@tenant` or a bearer token; `Request_References` (with `Skip_Non_Existing_Instances`),
  `Transaction_Log_Criteria_Data` (updated or effective window), `Response_Filter` (`As_Of_Effective_Date`,
  `As_Of_Entry_DateTime`, `Page`, `Count` <= 999) and `Response_Results`. Errors are SOAP faults with HTTP 500.
- `GET /ccx/service/customreport2/{tenant}/{owner}/{report}?format=json&<prompts>`: the RaaS report as one JSON
  document `{"Report_Entry": [...]}` (no paging), rows keyed by the report's aliases; HTTP Basic or bearer.
- `POST /ccx/oauth2/{tenant}/token`: `grant_type=refresh_token`, client id and secret as HTTP Basic.

`repeat_next_page` / `skip_next_page` make the SOAP paging misbehave; injected faults come from `FakeServer`.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import math
import secrets
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx

from enrolsync.connectors.testing.company import Employee, generate_people
from enrolsync.connectors.testing.fakes import FakeServer, json_response
from enrolsync.connectors.workday.fake.company import Event, WdWorker, from_employee, terminate_event
from enrolsync.connectors.workday.fake.soap import SoapFault, WorkersQuery, read_request, render_response, render_worker

START = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)
REPORT_OWNER, REPORT_NAME = "ISU_Enrolsync", "Enrolsync_Workers"
UPDATED_FROM = "Updated_From"

__all__ = ["REPORT_NAME", "REPORT_OWNER", "START", "WorkdayFake"]


class WorkdayFake(FakeServer):
    """A Workday tenant. `username`/`password` are the ISU's; `client_id`/`client_secret`/`refresh_token` the API
    client for integrations'."""

    def __init__(
        self,
        people: list[Employee],
        *,
        tenant: str = "acme_pt1",
        username: str = "ISU_Enrolsync",
        password: str = "fake-workday-isu-password",  # noqa: S107 - a fake's stand-in credential
        client_id: str = "NjQ2ZmFrZS13b3JrZGF5LWNsaWVudA",
        client_secret: str = "fake-workday-client-secret",  # noqa: S107
        refresh_token: str = "fake-workday-refresh-token",  # noqa: S107
        now: datetime = START,
    ) -> None:
        super().__init__()
        self.tenant, self.username, self.password = tenant, username, password
        self.client_id, self.client_secret, self.refresh_token = client_id, client_secret, refresh_token
        self.now = now
        self.tokens_issued = 0
        self._tokens: set[str] = set()
        self._workers = {e.hr_id: from_employee(e, now - timedelta(days=30)) for e in people}
        self._page_fault: str | None = None

    @classmethod
    def seeded(cls, n: int, seed: int = 0, *, now: datetime = START, **options: Any) -> WorkdayFake:
        return cls(generate_people(n, seed, today=now.date()), now=now, **options)

    # -- state for tests ------------------------------------------------------------------------------------
    @property
    def today(self) -> date:
        return self.now.date()

    def hr_ids(self) -> set[str]:
        """Workers as of today (a future-dated hire is none yet; a rescinded hire none at all)."""
        return {h for h, w in self._workers.items() if w.state(self.today, self.now) is not None}

    def worker(self, hr_id: str) -> dict[str, Any] | None:
        return self._workers[hr_id].state(self.today, self.now)

    def tick(self, seconds: float = 1) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now

    def revoke_tokens(self) -> None:
        self._tokens.clear()

    def repeat_next_page(self) -> None:
        """The next Get_Workers page after the first answers the previous page's workers again."""
        self._page_fault = "repeat"

    def skip_next_page(self) -> None:
        """The next Get_Workers page after the first answers the page after it."""
        self._page_fault = "skip"

    # -- business processes (each entered at the fake's clock) ----------------------------------------------
    def _enter(self, hr_id: str, kind: str, effective: date | None, **changes: Any) -> None:
        self.tick()
        self._workers[hr_id].events.append(Event(kind, effective or self.today, self.now, changes))

    def hire(
        self, first_name: str, last_name: str, *, department: str, manager: str | None = None,
        job_title: str = "Software Engineer", location: str = "London", start: date | None = None,
    ) -> str:  # fmt: skip
        """Hire Employee; a `start` ahead is a future-dated hire (no worker as of today until then)."""
        hr_id = str(max((int(i) for i in self._workers), default=100) + 1)
        local = f"{first_name}.{last_name}{hr_id}".lower()
        begins = start or self.today
        self.tick()
        base = {
            "first_name": first_name, "last_name": last_name, "email": f"{local}@acme.example", "username": local,
            "department": department, "job_title": job_title, "location": location, "manager_id": manager,
            "cost_center": "CC-001", "hire_date": begins, "full_time": True, "active": True, "terminated": False,
            "termination_date": None, "on_leave": False, "leave_start": None,
        }  # fmt: skip
        self._workers[hr_id] = WdWorker(hr_id, [Event("Hire", begins, self.now, base)])
        return hr_id

    def move(
        self, hr_id: str, *, department: str | None = None, manager: str | None = None,
        job_title: str | None = None, on: date | None = None,
    ) -> None:  # fmt: skip
        """Change Job effective `on` (today by default; a date ahead is future-dated)."""
        changes = {k: v for k, v in (("department", department), ("manager_id", manager), ("job_title", job_title))
                   if v is not None}  # fmt: skip
        self._enter(hr_id, "Change_Job", on, **changes)

    def terminate(self, hr_id: str, on: date) -> None:
        """Terminate Employee with `on` as the last day of work (inactive from the day after)."""
        self.tick()
        self._workers[hr_id].events.append(terminate_event(on, self.now))

    def place_on_leave(self, hr_id: str, on: date | None = None) -> None:
        self._enter(hr_id, "Leave_of_Absence", on, on_leave=True, leave_start=on or self.today)

    def change_email(self, hr_id: str, email: str) -> None:
        self._enter(hr_id, "Change_Work_Contact_Information", None, email=email)

    def rescind_hire(self, hr_id: str) -> None:
        """Rescind the hire: the worker disappears from every answer (Workday's nearest thing to a deletion)."""
        self.tick()
        self._workers[hr_id].rescinded_at = self.now

    # -- serving --------------------------------------------------------------------------------------------
    def is_write(self, request: httpx.Request) -> bool:
        return False  # Get_Workers and the token endpoint are POSTs that change nothing

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "POST" and path == f"/ccx/oauth2/{self.tenant}/token":
            response = self._token(request)
        elif request.method == "POST" and path.startswith(f"/ccx/service/{self.tenant}/Human_Resources/"):
            response = self._soap(request, path.rsplit("/", 1)[-1])
        elif (
            request.method == "GET" and path == f"/ccx/service/customreport2/{self.tenant}/{REPORT_OWNER}/{REPORT_NAME}"
        ):
            response = self._report(request)
        else:
            response = httpx.Response(404, content=b"Not Found")
        response.headers["Date"] = format_datetime(self.now, usegmt=True)
        return response

    def _basic(self, request: httpx.Request) -> tuple[str, str] | None:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return user, password

    def _bearer_ok(self, request: httpx.Request) -> bool | None:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        return value in self._tokens if scheme.lower() == "bearer" else None

    def _token(self, request: httpx.Request) -> httpx.Response:
        form = dict(httpx.QueryParams(request.content.decode()))
        client = self._basic(request)
        if client is None or not (hmac.compare_digest(client[0], self.client_id)
                                  and hmac.compare_digest(client[1], self.client_secret)):  # fmt: skip
            return json_response(401, {"error": "invalid_client"})
        if form.get("grant_type") != "refresh_token":
            return json_response(400, {"error": "unsupported_grant_type"})
        if not hmac.compare_digest(form.get("refresh_token", ""), self.refresh_token):
            return json_response(400, {"error": "invalid_grant", "error_description": "Invalid refresh token"})
        token = secrets.token_urlsafe(24)
        self._tokens.add(token)
        self.tokens_issued += 1
        return json_response(200, {"access_token": token, "token_type": "Bearer", "refresh_token": self.refresh_token})

    # -- SOAP -----------------------------------------------------------------------------------------------
    def _soap(self, request: httpx.Request, version: str) -> httpx.Response:
        bearer = self._bearer_ok(request)
        if bearer is False:
            return httpx.Response(401, content=b"invalid_token")
        try:
            query = read_request(request.content)
            if bearer is None and not (
                query.username is not None and query.password is not None
                and hmac.compare_digest(query.username, f"{self.username}@{self.tenant}")
                and hmac.compare_digest(query.password, self.password)
            ):  # fmt: skip
                raise SoapFault("Client.authenticationError", "invalid username or password")
            if query.version != version:
                raise SoapFault("Client.validationError", f"Version {query.version} does not match {version}")
            return self._workers_page(query)
        except SoapFault as fault:
            return httpx.Response(500, content=fault.body(), headers={"Content-Type": "text/xml; charset=UTF-8"})

    def _matching(self, query: WorkersQuery) -> list[dict[str, Any]]:
        as_of, entry = query.as_of or self.today, query.entry or self.now
        if query.ids is not None:
            out = []
            for kind, value in query.ids:
                found = self._workers.get(value) if kind == "Employee_ID" else None
                data = found.state(as_of, entry) if found is not None else None
                if data is None and not query.skip_missing:
                    raise SoapFault("Client.validationError", f"Invalid ID value. '{value}' is not a valid ID value "
                                    f"for type = '{kind}'")  # fmt: skip
                if data is not None:
                    out.append(data)
            return out
        chosen = []
        for hr_id in sorted(self._workers, key=int):
            worker = self._workers[hr_id]
            data = worker.state(as_of, entry)
            if data is None or (query.exclude_inactive and not data["active"]):
                continue
            if (query.updated or query.effective) and not worker.logged(
                entry, updated=query.updated, effective=query.effective
            ):
                continue
            chosen.append(data)
        return chosen

    def _workers_page(self, query: WorkersQuery) -> httpx.Response:
        # Workday's defaults (today, now), echoed in the answer's Response_Filter.
        query.as_of, query.entry = query.as_of or self.today, query.entry or self.now
        rows = self._matching(query)
        pages = max(1, math.ceil(len(rows) / query.count))
        served = query.page
        if query.page > 1 and self._page_fault == "repeat":
            served, self._page_fault = query.page - 1, None
        elif query.page > 1 and self._page_fault == "skip" and query.page < pages:
            served, self._page_fault = query.page + 1, None
        chunk = rows[(served - 1) * query.count : served * query.count]
        workers = [render_worker(data, query.as_of or self.today, query.groups) for data in chunk]
        body = render_response(query, workers, total=len(rows), page=query.page, pages=pages)
        return httpx.Response(200, content=body, headers={"Content-Type": "text/xml; charset=UTF-8"})

    # -- RaaS -----------------------------------------------------------------------------------------------
    def _report(self, request: httpx.Request) -> httpx.Response:
        bearer = self._bearer_ok(request)
        basic = self._basic(request)
        authorised = bearer if bearer is not None else basic is not None and (
            hmac.compare_digest(basic[0], self.username) and hmac.compare_digest(basic[1], self.password))  # fmt: skip
        if not authorised:
            return httpx.Response(401, content=b"Unauthorized", headers={"WWW-Authenticate": 'Basic realm="Workday"'})
        params = request.url.params
        if params.get("format") != "json":
            return httpx.Response(400, content=b"This fake serves format=json only")
        window = None
        if UPDATED_FROM in params:  # the report's prompt: workers with a transaction entered or effective since
            try:
                window = (datetime.fromisoformat(params[UPDATED_FROM]), self.now)
            except ValueError:
                return httpx.Response(400, content=b"Invalid prompt value for Updated_From")
        rows = []
        for hr_id in sorted(self._workers, key=int):
            worker = self._workers[hr_id]
            data = worker.state(self.today, self.now)
            if data is None:
                continue
            effective = (window[0].date(), window[1].date()) if window else None
            if window and not worker.logged(self.now, updated=window, effective=effective):
                continue
            rows.append(report_row(data))
        body = json.dumps({"Report_Entry": rows}).encode()
        return httpx.Response(200, content=body, headers={"Content-Type": "application/json;charset=UTF-8"})


def report_row(data: dict[str, Any]) -> dict[str, Any]:
    """One `Report_Entry` with the aliases of `ReportFields`' defaults (booleans "1"/"0", as RaaS writes them)."""
    row: dict[str, Any] = {
        "Employee_ID": data["employee_id"], "Worker_WID": data["wid"], "First_Name": data["first_name"],
        "Last_Name": data["last_name"], "Email_-_Work": data["email"], "User_Name": data["username"],
        "Active_Status": "1" if data["active"] else "0", "Terminated": "1" if data["terminated"] else "0",
        "On_Leave": "1" if data["on_leave"] else "0", "Hire_Date": data["hire_date"].isoformat(),
        "Supervisory_Organization": data["department"], "Business_Title": data["job_title"],
        "Location": data["location"], "Cost_Center": data["cost_center"],
    }  # fmt: skip
    if data["termination_date"] is not None:
        row["Termination_Date"] = data["termination_date"].isoformat()
    if data["manager_id"]:  # a multi-instance field: RaaS writes it as a `_group` array
        row["Worker_s_Manager_group"] = [{"Manager_Employee_ID": data["manager_id"]}]
    return row
