"""A stateful fake of the LearnUpon REST API (`https://{portal}.learnupon.com/api/v1/...`) for tests and the demo.

Served: `GET/POST /users`, `GET /users/search?email=|username=`, `PUT /users/{id}`, `GET /courses`,
`POST /enrollments` (optional `due_date`), `PATCH /enrollments/{id}` (`due_date`, `expires_at`; `YYYY-MM-DD`,
listed back as UTC date/times), `GET /enrollments/search?course_id=|user_id=`, `DELETE /enrollments/{id}`,
`GET/POST /groups`, `GET/POST /group_memberships`, `DELETE /group_memberships/{id}`, and the asynchronous bulk enrolment
(`POST /bulk-operations/submit/bulk-enrollment`, `GET /bulk-operations/jobs/{id}`). As LearnUpon does: HTTP Basic
with the portal's API key pair (401 otherwise), request bodies wrapped in a capitalised resource key
(`{"User": {...}}`), lists of 500 records per page `?page=N` with the `LU-Current-Page`, `LU-Records-Per-Page`
and `LU-Has-Next-Page` headers, errors as `{"message": ...}` with 4xx statuses, and a per-portal request budget
(`per_minute`) answered with 429 and `X-LU-Rate-Limit-Remaining-*` headers once spent.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from typing import Any
from uuid import uuid4

import httpx

from enrolsync.connectors.learnupon.fake.portal import STATUSES, LuError, Portal, public_user
from enrolsync.connectors.testing.fakes import FakeServer, json_response

DEFAULT_KEY, DEFAULT_SECRET = "fake-lu-api-user", "fake-lu-api-password"  # a stand-in portal's keys
PAGE_SIZE = 500  # docs.learnupon.com/api "Data pagination": 500 records per page
BULK_MAX_ITEMS = 100_000
_PATH = re.compile(r"^/api/v1/(?P<rest>.+?)/?$")


class FakeLearnUpon(FakeServer):
    """In-memory LearnUpon portal. `per_minute` caps requests per minute of `clock` (None: no cap);
    `page_size` stands in for LearnUpon's fixed 500 so small tests page too."""

    def __init__(
        self,
        *,
        key: str = DEFAULT_KEY,
        secret: str = DEFAULT_SECRET,
        per_minute: int | None = None,
        clock: Callable[[], float] | None = None,
        page_size: int = PAGE_SIZE,
    ) -> None:
        super().__init__()
        self.key, self.secret = key, secret
        self.portal = Portal()
        self.per_minute = per_minute
        self.per_week = 100_000
        self._clock = clock or (lambda: 0.0)
        self._window = (0.0, 0)  # minute window start, requests in it
        self.week_used = 0
        self.throttled = 0
        self.page_size = page_size
        self.jobs: dict[str, dict[str, Any]] = {}

    # -- seeding ------------------------------------------------------------------------------------------------
    @classmethod
    def seeded(cls, **options: Any) -> FakeLearnUpon:
        """A portal with three courses, a custom field for the HR id, and four people (one a manager)."""
        fake = cls(**options)
        fake.portal.custom_fields.update({"employee_id", "department", "job_title", "location", "sign_in"})
        for name in ("Safety 101", "Security 200", "Leading teams"):
            fake.add_course(name)
        for n, (first, last) in enumerate((("Ann", "Ward"), ("Bo", "Lind"), ("Cy", "Moss"), ("Di", "Shah")), 1):
            fake.add_user(first, last, f"{first.lower()}.{last.lower()}@example.com", employee_id=f"S{n}")
        return fake

    def add_course(self, name: str) -> int:
        course_id = self.portal._id()
        self.portal.courses[course_id] = {"id": course_id, "name": name, "published_status_id": "published"}
        return course_id

    def add_user(self, first: str, last: str, email: str, *, user_type: str = "learner", **custom: str) -> int:
        self.portal.custom_fields.update(custom)
        body = {"email": email, "first_name": first, "last_name": last, "password": "seeded-pw", "user_type": user_type}
        return int(self.portal.create_user({**body, "CustomData": custom})["id"])

    def set_status(self, user_id: int, course_id: int, status: str) -> None:
        """The learner makes progress (`status` one of LearnUpon's enrolment statuses)."""
        assert status in STATUSES
        self.enrollment(user_id, course_id)["status"] = status

    def enrollment(self, user_id: int, course_id: int) -> dict[str, Any]:
        for enrollment in self.portal.enrollments.values():
            if enrollment["user_id"] == user_id and enrollment["course_id"] == course_id:
                return enrollment
        raise KeyError((user_id, course_id))

    def learn(
        self,
        user_id: int,
        course_id: int,
        *,
        status: str,
        at: str,
        modules: int | None = None,
        score: int | None = None,
    ) -> None:
        """The learner works in the course at `at` (UTC `YYYY-MM-DDTHH:MI:SSZ`), as LearnUpon records it: the
        status, `date_started` on the first visit, `date_lastaccessed`, `date_completed` when it ends (completed,
        passed or failed), `percentage_complete` (`modules`, the share of modules done), `percentage` (the score)."""
        assert status in STATUSES
        row = self.enrollment(user_id, course_id)
        row["status"], row["date_lastaccessed"], row["updated_at"] = status, at, at
        if status != "not_started" and row["date_started"] is None:
            row["date_started"] = at
        row["date_completed"] = at if status in ("completed", "passed", "failed") else None
        if modules is not None:
            row["percentage_complete"] = modules
        if score is not None:
            row["percentage"] = score

    def user_by_email(self, email: str) -> dict[str, Any] | None:
        return next((u for u in self.portal.users.values() if u["email"].casefold() == email.casefold()), None)

    def courses_of(self, user_id: int) -> set[int]:
        return {e["course_id"] for e in self.portal.enrollments.values() if e["user_id"] == user_id}

    def group_titled(self, title: str) -> dict[str, Any] | None:
        return next((g for g in self.portal.groups.values() if g["title"] == title), None)

    def members(self, group_id: int, type_id: int | None = None) -> set[int]:
        return {
            m["user_id"]
            for m in self.portal.memberships.values()
            if m["group_id"] == group_id and (type_id is None or m["group_membership_type_id"] == type_id)
        }

    # -- serving ------------------------------------------------------------------------------------------------
    def _authorised(self, request: httpx.Request) -> bool:
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return scheme.lower() == "basic" and (user, password) == (self.key, self.secret)

    def _budget(self) -> dict[str, str]:
        now = self._clock()
        start, used = self._window
        if now - start >= 60:
            start, used = now, 0
        self._window = (start, used + 1)
        self.week_used += 1
        remaining = None if self.per_minute is None else self.per_minute - used - 1
        headers = {"X-LU-Rate-Limit-Remaining-Week": str(max(self.per_week - self.week_used, 0))}
        headers["X-LU-Rate-Limit-Remaining-Minute"] = str(max(remaining, 0)) if remaining is not None else "1000"
        if remaining is not None and remaining < 0:
            headers["X-LU-Throttled"] = "1"
        return headers

    def handle(self, request: httpx.Request) -> httpx.Response:
        if not self._authorised(request):
            return json_response(401, {"message": "Unauthorized: invalid API credentials"})
        headers = self._budget()
        if headers.pop("X-LU-Throttled", None):
            self.throttled += 1
            return json_response(429, {"message": "rate_limit_exceeded"}, headers)
        match = _PATH.match(request.url.path)
        if match is None:
            return json_response(404, {"message": "Not found"}, headers)
        parts = match["rest"].split("/")
        try:
            status, body, extra = self._route(request, parts)
        except LuError as error:
            return json_response(error.status, {"message": error.message}, headers)
        return json_response(status, body, {**headers, **extra})

    def _route(self, request: httpx.Request, parts: list[str]) -> tuple[int, Any, dict[str, str]]:
        method, head = request.method, parts[0]
        if head == "bulk-operations":
            return self._bulk(request, parts)
        if method == "GET":
            return self._list(request, parts)
        body = _json(request) if request.content else {}
        p = self.portal
        if (method, parts) == ("POST", ["users"]):
            return 201, p.create_user(_wrapped(body, "User")), {}
        if method == "PUT" and head == "users" and len(parts) == 2:
            return 200, p.update_user(_int(parts[1]), _wrapped(body, "User")), {}
        if (method, parts) == ("POST", ["enrollments"]):
            item = _wrapped(body, "Enrollment")
            return 201, p.enrol(item.get("user_id"), item.get("course_id"), item.get("due_date")), {}
        if method == "PATCH" and head == "enrollments" and len(parts) == 2:
            # Sent bare, as the documented example does (docs.learnupon.com/api, "Update an enrollment").
            return 200, p.change_enrollment(_int(parts[1]), body), {}
        if method == "DELETE" and head == "enrollments" and len(parts) == 2:
            forced = request.url.params.get("remove_from_history") == "true" or body.get("remove_from_history") is True
            return 200, p.unenrol(_int(parts[1]), remove_from_history=forced), {}
        if (method, parts) == ("POST", ["groups"]):
            return 201, p.create_group(_wrapped(body, "Group")), {}
        if (method, parts) == ("POST", ["group_memberships"]):
            item = _wrapped(body, "GroupMembership")
            return 201, p.join(item.get("group_id"), item.get("user_id"), item.get("group_membership_type_id", 1)), {}
        if method == "DELETE" and head == "group_memberships" and len(parts) == 2:
            return 200, p.leave(_int(parts[1])), {}
        raise LuError(404, "Not found")

    def _list(self, request: httpx.Request, parts: list[str]) -> tuple[int, Any, dict[str, str]]:
        params, p = request.url.params, self.portal
        rows: list[dict[str, Any]]
        if parts == ["users"]:
            key, rows = "user", [public_user(u) for u in p.users.values()]
        elif parts == ["users", "search"]:
            found = p.search_users(params.get("email"), params.get("username"))
            return 200, {"user": [public_user(u) for u in found]}, {}
        elif parts[0] == "users" and len(parts) == 2:
            user = p.users.get(_int(parts[1]))
            if user is None:
                raise LuError(404, "User not found")
            return 200, {"user": [public_user(user)]}, {}
        elif parts == ["courses"]:
            key, rows = "courses", list(p.courses.values())
        elif parts == ["enrollments", "search"]:
            key, rows = "enrollments", _filtered(list(p.enrollments.values()), params, ("course_id", "user_id"))
        elif parts == ["groups"]:
            key, rows = "groups", list(p.groups.values())
        elif parts == ["group_memberships"] and "group_id" in params:
            group_id = _int(params["group_id"])
            if group_id not in p.groups:
                raise LuError(404, "Group not found")
            key, rows = "user", p.member_rows(group_id)
        else:
            raise LuError(404, "Not found")
        page = max(_int(params.get("page", "1")), 1)
        chunk = rows[(page - 1) * self.page_size : page * self.page_size]
        has_next = page * self.page_size < len(rows)
        headers = {
            "LU-Current-Page": str(page),
            "LU-Records-Per-Page": str(self.page_size),
            "LU-Has-Next-Page": "true" if has_next else "false",
        }
        return 200, {key: chunk}, headers

    def _bulk(self, request: httpx.Request, parts: list[str]) -> tuple[int, Any, dict[str, str]]:
        if request.method == "POST" and parts[1:] == ["submit", "bulk-enrollment"]:
            items = _json(request).get("items")
            if not isinstance(items, list) or not items or len(items) > BULK_MAX_ITEMS:
                raise LuError(400, f"items must hold 1 to {BULK_MAX_ITEMS} enrollments")
            job_id = uuid4().hex
            self.jobs[job_id] = {"items": items, "status": "in_progress", "polls": 0}
            return 202, {"job_id": job_id, "status": "in_progress"}, {}
        if request.method == "GET" and parts[1:2] == ["jobs"] and len(parts) == 3:
            job = self.jobs.get(parts[2])
            if job is None:
                raise LuError(404, "Job not found")
            job["polls"] += 1
            if job["status"] == "in_progress" and job["polls"] >= 2:  # the second poll finds the job done
                self._run_job(job)
            counts = {"total_items": len(job["items"]), **job.get("counts", {})}
            return 200, {"job_id": parts[2], "status": job["status"], **counts, "report_url": None}, {}
        raise LuError(404, "Not found")

    def _run_job(self, job: dict[str, Any]) -> None:
        ok = failed = 0
        for item in job["items"]:
            try:
                self.portal.enrol(item.get("user_id"), item.get("course_id"))
                ok += 1
            except LuError:
                failed += 1
        job["status"] = "completed"
        job["counts"] = {"processed_items": ok, "failed_items": failed}


def _json(request: httpx.Request) -> dict[str, Any]:
    try:
        body = json.loads(request.content)
    except ValueError as error:
        raise LuError(400, "Request body is not valid JSON") from error
    if not isinstance(body, dict):
        raise LuError(400, "Request body must be a JSON object")
    return body


def _wrapped(body: dict[str, Any], key: str) -> dict[str, Any]:
    """LearnUpon wants the resource under its capitalised name; a bare object is refused."""
    inner = body.get(key)
    if not isinstance(inner, dict):
        raise LuError(400, f"Request body must be wrapped in '{key}'")
    return inner


def _int(value: str) -> int:
    try:
        return int(value)
    except ValueError as error:
        raise LuError(404, "Not found") from error


def _filtered(rows: list[dict[str, Any]], params: httpx.QueryParams, keys: tuple[str, ...]) -> list[dict[str, Any]]:
    for key in keys:
        if key in params:
            wanted = _int(params[key])
            rows = [r for r in rows if r[key] == wanted]
    return rows
