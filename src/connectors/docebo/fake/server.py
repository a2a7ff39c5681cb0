"""Docebo's REST API imitated in memory: `/oauth2/token`, `/manage/v1/...` and `/learn/v1/...`.

Tokens come from `POST /oauth2/token` (form-encoded client credentials) and live `token_seconds` (3,600, as
Docebo issues them); every other call needs `Authorization: Bearer <token>`, else 401 (both in `gate.py`, with
the rate limit). Answers are JSON
`{"data": ..., "version": "1.0.0"}`; lists take `page` (from 1) and `page_size` (at most 200, else 400) and answer
`data.items`, `count`, `has_more_data`, `current_page`, `total_page_count`, `total_count`. Errors are Docebo's
body `{"name": "Bad Request", "message": [...], "code": <int>, "status": <int>}`. The rate limit is a leaky bucket
per client: `capacity` calls that drain over `drain_seconds`; a call that overflows it is a 429 with `Retry-After`
(the seconds until one call fits) and counted in `throttled`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from enrolsync.connectors.docebo.fake.gate import TOKEN_PATH, Gate, error_response
from enrolsync.connectors.docebo.fake.platform import (
    DIRECT_MANAGER,
    Branch,
    Course,
    Platform,
    PlatformError,
    User,
    validate_user,
)
from enrolsync.connectors.testing.fakes import FakeServer, json_response

MAX_PAGE_SIZE = 200
MAX_BATCH = 1000  # rows one batch call accepts
_error = error_response


def _stamp(at: datetime | None) -> str | None:
    """Docebo's date-time text: `YYYY-MM-DD HH:MM:SS` in UTC."""
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if at else None


def _ok(data: Any) -> httpx.Response:
    return json_response(200, {"data": data, "version": "1.0.0", "_links": []})


class DoceboFake(Gate, FakeServer):
    def __init__(
        self,
        *,
        client_id: str = "enrolsync",
        client_secret: str = "docebo-test-secret",  # noqa: S107 (the fake's own test secret)
        capacity: int = 1000,
        drain_seconds: float = 3600.0,
        token_seconds: int = 3600,
        clock: Callable[[], float] | None = None,
        domain: str = "acme.docebosaas.com",
    ) -> None:
        FakeServer.__init__(self)
        Gate.__init__(self, client_id, client_secret, capacity, drain_seconds, token_seconds, clock)
        self.domain = domain
        self.platform = Platform()
        self.platform.additional_fields[1] = "Employee ID"
        self.platform.branches[1] = Branch(1, "root", "Acme")
        P = r"(\d+)"
        self._routes: list[tuple[str, re.Pattern[str], Callable[..., httpx.Response]]] = [
            ("GET", re.compile(r"/manage/v1/user"), self._list_users),
            ("POST", re.compile(r"/manage/v1/user"), self._create_user),
            ("PUT", re.compile(r"/manage/v1/user/change_status"), self._change_status),
            ("POST", re.compile(r"/manage/v1/user/batch"), self._batch_users),
            ("GET", re.compile(rf"/manage/v1/user/{P}"), self._get_user),
            ("PUT", re.compile(rf"/manage/v1/user/{P}"), self._update_user),
            ("GET", re.compile(r"/learn/v1/courses"), self._list_courses),
            ("GET", re.compile(r"/learn/v1/enrollments"), self._list_enrollments),
            ("GET", re.compile(r"/course/v1/courses/enrollments"), self._course_enrollments),
            ("POST", re.compile(r"/learn/v1/enrollment/batch"), self._batch_enrol),
            ("DELETE", re.compile(rf"/learn/v1/enrollments/{P}/{P}"), self._unenrol),
            ("PUT", re.compile(rf"/learn/v1/enrollments/{P}/{P}"), self._update_enrollment),
            ("GET", re.compile(r"/manage/v1/orgchart"), self._list_branches),
            ("POST", re.compile(rf"/manage/v1/orgchart/{P}/users"), self._branch_users(join=True)),
            ("DELETE", re.compile(rf"/manage/v1/orgchart/{P}/users"), self._branch_users(join=False)),
        ]

    # -- seeding and inspection (tests, demo) -----------------------------------------------------------------
    @classmethod
    def seeded(cls, **options: Any) -> DoceboFake:
        """A platform with three courses (by code), two users (one a power user) and a second branch."""
        fake = cls(**options)
        for name, code in (("Safety basics", "SAFETY-101"), ("Secure coding", "SEC-200"), ("Leading", "LEAD-1")):
            fake.add_course(name, code)
        fake.add_user("jane.roe", "Jane", "Roe", "jane.roe@example.com", employee_id="E-1", level="power_user")
        fake.add_user("john.doe", "John", "Doe", "john.doe@example.com")
        fake.add_branch("NIGHT", "Night shift")
        return fake

    def add_course(self, name: str, code: str) -> int:
        course = Course(self.platform.next_id(), name, code)
        self.platform.courses[course.id] = course
        return course.id

    def add_branch(self, code: str, title: str) -> int:
        branch = Branch(self.platform.next_id(), code, title)
        self.platform.branches[branch.id] = branch
        return branch.id

    def add_user(
        self, username: str, first: str, last: str, email: str, *, employee_id: str | None = None, level: str = "user"
    ) -> int:
        body: dict[str, Any] = {"userid": username, "firstname": first, "lastname": last, "email": email}
        extra = {"additional_fields": {"1": employee_id}} if employee_id else {}
        return self.platform.create_user({**body, **extra, "level": level}).id

    def user_by(self, *, email: str | None = None, employee_id: str | None = None) -> User | None:
        for user in self.platform.users.values():
            if (email and user.email.casefold() == email.casefold()) or (
                employee_id and user.fields.get(1) == employee_id
            ):
                return user
        return None

    def courses_of(self, user_id: int) -> dict[int, str]:
        """course id -> enrollment level, for every course `user_id` is enrolled in."""
        return {c: e.level for (u, c), e in self.platform.enrollments.items() if u == user_id}

    def reports_of(self, manager_id: int) -> set[int]:
        return {u.id for u in self.platform.users.values() if u.managers.get(DIRECT_MANAGER) == manager_id}

    def start(self, user_id: int, course_id: int, status: str = "in_progress", *, at: datetime | None = None) -> None:
        """The learner's enrolment moves to `status`; `at` is when (the enrolment's last update)."""
        held = self.platform.enrollments[(user_id, course_id)]
        held.status, held.completed_at = status, None
        held.updated_at = at or held.updated_at

    def complete(self, user_id: int, course_id: int, at: datetime, *, score: float | None = None) -> None:
        """The learner completes the course at `at` (tz-aware), with a score where the course gives one."""
        held = self.platform.enrollments[(user_id, course_id)]
        held.status, held.completed_at, held.updated_at, held.score = "completed", at, at, score

    def is_write(self, request: httpx.Request) -> bool:
        """Getting a token changes nothing on the platform."""
        return super().is_write(request) and request.url.path != TOKEN_PATH

    # -- serving ------------------------------------------------------------------------------------------------
    def handle(self, request: httpx.Request) -> httpx.Response:
        refused = self.admit(request)
        if refused is not None:
            return refused
        return self._route(request)

    def _route(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        for method, pattern, answer in self._routes:
            found = pattern.fullmatch(path)
            if found and method == request.method:
                try:
                    return answer(request, *(int(g) for g in found.groups()))
                except PlatformError as error:
                    return _error(error.status, error.message, error.code)
        return _error(404, "Endpoint not found")

    def _body(self, request: httpx.Request) -> dict[str, Any]:
        try:
            body = json.loads(request.content or b"{}")
        except ValueError:
            raise PlatformError(400, "Malformed JSON body") from None
        if not isinstance(body, dict):
            raise PlatformError(400, "The body must be a JSON object")
        return body

    def _page(self, request: httpx.Request, rows: list[dict[str, Any]]) -> httpx.Response:
        params = request.url.params
        try:
            page, size = int(params.get("page", "1")), int(params.get("page_size", "10"))
        except ValueError:
            raise PlatformError(400, "page and page_size must be integers") from None
        if page < 1 or not 1 <= size <= MAX_PAGE_SIZE:
            raise PlatformError(400, f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        pages = max(1, -(-len(rows) // size))
        items = rows[(page - 1) * size : page * size]
        return _ok({
            "items": items, "count": len(items), "has_more_data": page < pages, "current_page": page,
            "current_page_size": size, "total_page_count": pages, "total_count": len(rows),
        })  # fmt: skip

    # -- users -----------------------------------------------------------------------------------------------------
    def _item(self, user: User) -> dict[str, Any]:
        managers = {
            str(kind): {"manager_id": str(m), "manager_username": self.platform.users[m].username}
            for kind, m in user.managers.items() if m in self.platform.users
        }  # fmt: skip
        extra = {f"field_{i}": user.fields.get(i) for i in self.platform.additional_fields}
        return {
            "user_id": str(user.id), "username": user.username, "first_name": user.firstname,
            "last_name": user.lastname, "email": user.email, "level": user.level, "status": "1" if user.valid else "0",
            "manager_names": managers, "branches": [{"id": b} for b in sorted(user.branches)], **extra,
        }  # fmt: skip

    def _list_users(self, request: httpx.Request) -> httpx.Response:
        params = request.url.params
        text = (params.get("search_text") or "").casefold()
        branch = params.get("branch_id")
        rows = []
        for user in sorted(self.platform.users.values(), key=lambda u: u.id):
            haystack = (user.username, user.email, user.firstname, user.lastname)
            if text and not any(text in value.casefold() for value in haystack):
                continue
            if branch is not None and (not branch.isdigit() or int(branch) not in user.branches):
                continue
            rows.append(self._item(user))
        return self._page(request, rows)

    def _get_user(self, request: httpx.Request, user_id: int) -> httpx.Response:
        return _ok({"user_data": self._item(self.platform.user(user_id))})

    def _create_user(self, request: httpx.Request) -> httpx.Response:
        user = self.platform.create_user(self._body(request))
        return _ok({"success": True, "user_id": user.id})

    def _update_user(self, request: httpx.Request, user_id: int) -> httpx.Response:
        self.platform.update_user(user_id, self._body(request))
        return _ok({"success": True, "user_id": user_id})

    def _change_status(self, request: httpx.Request) -> httpx.Response:
        body = self._body(request)
        ids, status = body.get("user_ids"), str(body.get("status"))
        if not isinstance(ids, list) or not ids or not all(str(i).isdigit() for i in ids) or status not in ("0", "1"):
            raise PlatformError(400, "user_ids (a list of ids) and status (0 or 1) are required")
        self.platform.change_status([int(i) for i in ids], status == "1")
        return _ok({"success": True})

    def _batch_users(self, request: httpx.Request) -> httpx.Response:
        """Every row is checked first: a malformed row refuses the whole call (400, nothing imported). Then rows
        import one by one; a row that conflicts (username or email taken) fails alone."""
        body = self._body(request)
        items, options = body.get("items"), body.get("options") or {}
        if not isinstance(items, list) or not items or len(items) > MAX_BATCH:
            raise PlatformError(400, f"items must hold 1 to {MAX_BATCH} users")
        if "branch_option" not in options:
            raise PlatformError(400, "Required option not set: branch_option")
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                raise PlatformError(400, f"Row {index}: not an object")
            try:
                validate_user(item, creating=True, username_key="username")
            except PlatformError as error:
                raise PlatformError(400, f"Row {index}: {error.message}") from None
        rows: list[dict[str, Any]] = []
        for index, item in enumerate(items):
            try:
                user = self.platform.create_user(item, username_key="username")
            except PlatformError as error:
                rows.append({"row_index": index, "success": False, "message": [error.message]})
                continue
            rows.append({"row_index": index, "success": True, "user_id": user.id})
        return _ok(rows)

    # -- courses and enrollments ---------------------------------------------------------------------------------
    def _list_courses(self, request: httpx.Request) -> httpx.Response:
        rows = [
            {"id_course": c.id, "name": c.name, "code": c.code, "type": "elearning", "status": "published"}
            for c in sorted(self.platform.courses.values(), key=lambda c: c.id)
        ]
        return self._page(request, rows)

    def _list_enrollments(self, request: httpx.Request) -> httpx.Response:
        params = request.url.params
        users = {int(v) for v in params.get_list("id_user[]") if v.isdigit()}
        courses = {int(v) for v in params.get_list("id_course[]") if v.isdigit()}
        rows = []
        for (user_id, course_id), e in sorted(self.platform.enrollments.items()):
            if (users and user_id not in users) or (courses and course_id not in courses):
                continue
            course = self.platform.courses[course_id]
            rows.append({
                "user_id": user_id, "id": course_id, "code": course.code, "name": course.name,
                "level": e.level, "status": e.status,
            })  # fmt: skip
        return self._page(request, rows)

    def _course_enrollments(self, request: httpx.Request) -> httpx.Response:
        """The course service's enrolment list (`course_id[]`, `user_id[]` filters), with each enrolment's status,
        dates (`YYYY-MM-DD HH:MM:SS`, UTC) and score. A not-started enrolment is `enrolled` here."""
        params = request.url.params
        users = {int(v) for v in params.get_list("user_id[]") if v.isdigit()}
        courses = {int(v) for v in params.get_list("course_id[]") if v.isdigit()}
        rows = []
        for (user_id, course_id), e in sorted(self.platform.enrollments.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            if (users and user_id not in users) or (courses and course_id not in courses):
                continue
            rows.append({
                "user_id": user_id, "course_id": course_id, "enrollment_level": e.level,
                "enrollment_status": "enrolled" if e.status == "subscribed" else e.status,
                "enrollment_created_at": _stamp(e.created_at), "enrollment_date_last_updated": _stamp(e.updated_at),
                "enrollment_completion_date": _stamp(e.completed_at), "enrollment_score": e.score,
            })  # fmt: skip
        return self._page(request, rows)

    def _batch_enrol(self, request: httpx.Request) -> httpx.Response:
        items = self._body(request).get("items")
        if not isinstance(items, list) or not items or len(items) > MAX_BATCH:
            raise PlatformError(400, f"items must hold 1 to {MAX_BATCH} enrollments")
        rows: list[dict[str, Any]] = []
        for index, item in enumerate(items):
            try:
                if not isinstance(item, dict):
                    raise PlatformError(400, "not an object")
                user_id, course_id = item.get("user_id"), item.get("course_id")
                if not isinstance(user_id, int) or not isinstance(course_id, int):
                    raise PlatformError(400, "user_id and course_id are required integers")
                if not self.platform.enrol(user_id, course_id, str(item.get("level") or "student")):
                    raise PlatformError(400, "User already enrolled in the course")
            except PlatformError as error:
                rows.append({"row_index": index, "success": False, "message": [error.message]})
                continue
            rows.append({"row_index": index, "success": True})
        return _ok(rows)

    def _update_enrollment(self, request: httpx.Request, course_id: int, user_id: int) -> httpx.Response:
        self.platform.set_level(user_id, course_id, str(self._body(request).get("level") or ""))
        return _ok({"success": True})

    def _unenrol(self, request: httpx.Request, course_id: int, user_id: int) -> httpx.Response:
        self.platform.unenrol(user_id, course_id)
        return _ok([])

    # -- org chart -----------------------------------------------------------------------------------------------
    def _list_branches(self, request: httpx.Request) -> httpx.Response:
        rows = [
            {"id": b.id, "code": b.code, "title": b.title}
            for b in sorted(self.platform.branches.values(), key=lambda b: b.id)
        ]
        return self._page(request, rows)

    def _branch_users(self, *, join: bool) -> Callable[[httpx.Request, int], httpx.Response]:
        def answer(request: httpx.Request, branch_id: int) -> httpx.Response:
            ids = self._body(request).get("user_ids")
            if not isinstance(ids, list) or not ids or not all(str(i).isdigit() for i in ids):
                raise PlatformError(400, "user_ids (a list of ids) is required")
            self.platform.assign(branch_id, [int(i) for i in ids], join=join)
            return _ok({"success": True})

        return answer
