"""TalentLMS's v2 API imitated in memory, as its published document says (`talentlms-v2-openapi.yaml`).

Every call needs `X-API-Key` (401 otherwise) and an `X-API-Version` of the form YYYY-MM-DD (400); answers are
JSON, errors `{"error": {"type": "invalid_request_error" | "api_error", "message": ...}}`. Lists page with
`page[number]` / `page[size]` (at most 100) and answer `_data`, `_links` (no `next` on the last page) and
`_meta.pagination`. The rate limits are the document's: `hourly_limit` calls per clock hour (2,000 on the
smaller plans) and 200 calls per 5 seconds; every answer carries `X-RateLimit-Limit` / `X-RateLimit-Remaining`,
and a call past a limit is a 429 (with `Retry-After`, the seconds until the window frees up).
"""

from __future__ import annotations

import json
import re
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx

from enrolsync.connectors.talentlms.fake.portal import USER_TYPES, Enrollment, Named, Portal, PortalError, User
from enrolsync.connectors.testing.fakes import FakeServer, json_response

HOUR, BURST, BURST_SECONDS = 3600.0, 200, 5.0
_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}$")
PREFIX = "/api/v2"


def _error(status: int, message: str, kind: str = "invalid_request_error", **headers: str) -> httpx.Response:
    return json_response(status, {"error": {"type": kind, "message": message}}, headers)


class TalentLMSFake(FakeServer):
    def __init__(
        self,
        *,
        api_key: str = "talentlms-test-key",
        hourly_limit: int = 2000,
        clock: Callable[[], float] = time.monotonic,
        domain: str = "acme.talentlms.com",
    ) -> None:
        super().__init__()
        self.api_key = api_key
        self.hourly_limit = hourly_limit
        self.clock = clock
        self.domain = domain
        self.portal = Portal()
        self.throttled = 0
        self._hour: tuple[int, int] = (0, 0)  # (window number, calls in it)
        self._burst: deque[float] = deque()
        self.portal.custom_fields[1] = "Employee ID"
        self.portal.branches[1] = Named(1, "Headquarters")
        self._routes: list[tuple[str, re.Pattern[str], Callable[..., httpx.Response]]] = [
            ("GET", re.compile(r"/users"), self._list_users),
            ("POST", re.compile(r"/users"), self._create_user),
            ("GET", re.compile(r"/users/(\d+)"), self._get_user),
            ("PATCH", re.compile(r"/users/(\d+)"), self._update_user),
            ("DELETE", re.compile(r"/users/(\d+)"), self._delete_user),
            ("GET", re.compile(r"/courses"), self._list_courses),
            ("GET", re.compile(r"/courses/(\d+)"), self._get_course),
            ("POST", re.compile(r"/enrollments"), self._enrol),
            ("DELETE", re.compile(r"/enrollments"), self._unenrol),
            ("GET", re.compile(r"/course-progress"), self._progress),
            ("GET", re.compile(r"/groups"), self._list_groups),
            ("POST", re.compile(r"/groups"), self._create_group),
            ("POST", re.compile(r"/group-memberships"), self._member("group", join=True)),
            ("DELETE", re.compile(r"/group-memberships"), self._member("group", join=False)),
            ("GET", re.compile(r"/branches"), self._list_branches),
            ("POST", re.compile(r"/branch-users"), self._member("branch", join=True)),
            ("DELETE", re.compile(r"/branch-users"), self._member("branch", join=False)),
        ]

    # -- seeding and inspection (tests, demo) -----------------------------------------------------------------
    @classmethod
    def seeded(cls, **options: Any) -> TalentLMSFake:
        """A portal with three courses, two people (one an instructor of the first course) and a group."""
        fake = cls(**options)
        for name, code in (("Safety basics", "SAFETY-101"), ("Secure coding", "SEC-200"), ("Leading", "LEAD-1")):
            fake.add_course(name, code)
        first = fake.add_user("jane.roe", "Jane", "Roe", "jane.roe@example.com", employee_id="E-1")
        fake.add_user("john.doe", "John", "Doe", "john.doe@example.com")
        fake.portal.enrol(first, min(fake.portal.courses), "instructor")
        fake.add_group("Night shift")
        return fake

    def add_course(self, name: str, code: str = "") -> int:
        course = Named(self.portal.next_id(), name, code)
        self.portal.courses[course.id] = course
        return course.id

    def add_group(self, name: str) -> int:
        return self.portal.create_group({"name": name}).id

    def add_user(self, login: str, name: str, surname: str, email: str, *, employee_id: str | None = None) -> int:
        body: dict[str, Any] = {"login": login, "name": name, "surname": surname, "email": email}
        extra = {"custom_field_1": employee_id} if employee_id else {}
        return self.portal.create_user({**body, **extra, "password": "Seeded-pass-1"}).id

    def user_by(self, *, email: str | None = None, employee_id: str | None = None) -> User | None:
        for user in self.portal.users.values():
            if (email and user.email.casefold() == email.casefold()) or (
                employee_id and user.custom.get(1) == employee_id
            ):
                return user
        return None

    def courses_of(self, user_id: int) -> dict[int, str]:
        """course id -> role, for every course `user_id` is enrolled in."""
        return {c: e.role for (u, c), e in self.portal.enrollments.items() if u == user_id}

    def groups_of(self, user_id: int) -> set[str]:
        return {self.portal.groups[g].name for g, u in self.portal.group_members if u == user_id}

    def start(self, user_id: int, course_id: int, percent: int = 10) -> None:
        """The learner works through part of the course (below 100: not completed)."""
        held = self.portal.enrollments[(user_id, course_id)]
        held.completion_percentage, held.completed_on = percent, None

    def complete(self, user_id: int, course_id: int, at: datetime) -> None:
        """The learner completes the course at `at` (tz-aware)."""
        held = self.portal.enrollments[(user_id, course_id)]
        held.completion_percentage, held.completed_on = 100, at

    # -- serving ------------------------------------------------------------------------------------------------
    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.headers.get("X-API-Key") != self.api_key:
            return _error(401, "Invalid API key provided.")
        if not _VERSION.match(request.headers.get("X-API-Version", "")):
            return _error(400, "The X-API-Version header is required (YYYY-MM-DD).")
        refused = self._spend()
        if refused is not None:
            return refused
        response = self._route(request)
        response.headers["X-RateLimit-Limit"] = str(self.hourly_limit)
        response.headers["X-RateLimit-Remaining"] = str(max(self.hourly_limit - self._hour[1], 0))
        return response

    def _spend(self) -> httpx.Response | None:
        now = self.clock()
        window = int(now // HOUR)
        used = self._hour[1] if self._hour[0] == window else 0
        while self._burst and self._burst[0] <= now - BURST_SECONDS:
            self._burst.popleft()
        headers = {"X-RateLimit-Limit": str(self.hourly_limit), "X-RateLimit-Remaining": "0"}
        if used >= self.hourly_limit:
            self.throttled += 1
            wait = str(int((window + 1) * HOUR - now) + 1)
            return _error(429, "API rate limit exceeded.", "api_error", **headers, **{"Retry-After": wait})
        if len(self._burst) >= BURST:
            self.throttled += 1
            return _error(429, "API rate limit exceeded.", "api_error", **headers, **{"Retry-After": "5"})
        self._hour = (window, used + 1)
        self._burst.append(now)
        return None

    def _route(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if not path.startswith(PREFIX):
            return _error(404, "Not found.")
        for method, pattern, answer in self._routes:
            found = pattern.fullmatch(path.removeprefix(PREFIX))
            if found and method == request.method:
                try:
                    return answer(request, *(int(g) for g in found.groups()))
                except PortalError as error:
                    return _error(error.status, error.message, error.kind)
        return _error(404, "Not found.")

    def _body(self, request: httpx.Request) -> dict[str, Any]:
        try:
            body = json.loads(request.content or b"{}")
        except ValueError:
            raise PortalError(400, "The request body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise PortalError(400, "The request body must be a JSON object.")
        return body

    def _ids(self, request: httpx.Request, *names: str) -> list[int]:
        body = self._body(request)
        values = [body.get(name) for name in names]
        for name, value in zip(names, values, strict=True):
            if not isinstance(value, int) or isinstance(value, bool):
                raise PortalError(400, f"The {name} field is required and must be an integer.")
        return [int(v) for v in values if isinstance(v, int)]

    def _page(self, request: httpx.Request, rows: list[dict[str, Any]]) -> httpx.Response:
        params = request.url.params
        try:
            number, size = int(params.get("page[number]", "1")), int(params.get("page[size]", "20"))
        except ValueError:
            raise PortalError(400, "The page parameters must be integers.") from None
        if number < 1 or not 1 <= size <= 100:
            raise PortalError(400, "The page size must be between 1 and 100.")
        pages = max(1, -(-len(rows) // size))
        base = f"https://{self.domain}{request.url.path}"

        def link(n: int) -> str:
            return f"{base}?page[number]={n}&page[size]={size}"

        links = {"self": link(number), "first": link(1), "last": link(pages)}
        if number > 1:
            links["prev"] = link(number - 1)
        if number < pages:
            links["next"] = link(number + 1)
        meta = {"page": number, "page_size": size, "total_items": len(rows), "total_pages": pages}
        page = rows[(number - 1) * size : number * size]
        return json_response(200, {"_data": page, "_links": links, "_meta": {"pagination": meta}})

    # -- users -----------------------------------------------------------------------------------------------------
    def _list_item(self, user: User) -> dict[str, Any]:
        return {
            "id": user.id, "login": user.login, "name": user.name, "surname": user.surname, "email": user.email,
            "timezone": "UTC", "language": "en", "type": USER_TYPES[user.user_type_id],
            "registration": user.registration, "last_login": None, "status": user.status,
            "last_updated": user.last_updated, "integration_user_id": None,
        }  # fmt: skip

    def _detail(self, user: User) -> dict[str, Any]:
        fields = self.portal.custom_fields
        custom = [{"id": i, "name": n, "value": user.custom.get(i), "type": "text"} for i, n in fields.items()]
        types = [{"id": i, "name": n, "is_default": i == 4} for i, n in USER_TYPES.items()]
        return {
            "id": user.id, "login": user.login, "name": user.name, "surname": user.surname, "email": user.email,
            "credits": None, "description": None, "avatar": None, "custom_fields": custom,
            "email_notifications": True, "timezone": "UTC", "locale": "en-US",
            "user_type": {"id": user.user_type_id, "name": USER_TYPES[user.user_type_id]},
            "status": user.status, "deactivation_date": None, "available_types": types,
        }  # fmt: skip

    def _matches(self, user: User, params: httpx.QueryParams) -> bool:
        """Whether `user` passes the documented `filter[...]` parameters (text compared case-insensitively)."""
        for name in ("status", "login", "email"):
            value = params.get(f"filter[{name}][eq]")
            if value is not None and getattr(user, name).casefold() != value.casefold():
                return False
        value = params.get("filter[custom_field_value][eq]")
        if value is not None and value not in user.custom.values():
            return False
        for kind, members in (("group", self.portal.group_members), ("branch", self.portal.branch_members)):
            holder = params.get(f"filter[{kind}_id][eq]")
            if holder is None:
                continue
            if not holder.isdigit():
                raise PortalError(400, f"The {kind} id must be an integer.")
            if (int(holder), user.id) not in members:
                return False
        return True

    def _list_users(self, request: httpx.Request) -> httpx.Response:
        users = sorted(self.portal.users.values(), key=lambda u: u.id)
        rows = [self._list_item(u) for u in users if self._matches(u, request.url.params)]
        return self._page(request, rows)

    def _create_user(self, request: httpx.Request) -> httpx.Response:
        user = self.portal.create_user(self._body(request))
        return json_response(200, {"_data": self._detail(user)})

    def _get_user(self, request: httpx.Request, user_id: int) -> httpx.Response:
        return json_response(200, {"_data": self._detail(self.portal.user(user_id))})

    def _update_user(self, request: httpx.Request, user_id: int) -> httpx.Response:
        self.portal.update_user(user_id, self._body(request))
        return httpx.Response(204)

    def _delete_user(self, request: httpx.Request, user_id: int) -> httpx.Response:
        self.portal.delete_user(user_id)
        return json_response(200, {"_data": {"id": user_id}})

    # -- courses and enrollments ---------------------------------------------------------------------------------
    def _course(self, course: Named) -> dict[str, Any]:
        return {"id": course.id, "name": course.name, "code": course.description or None, "status": "active"}

    def _list_courses(self, request: httpx.Request) -> httpx.Response:
        return self._page(request, [self._course(c) for c in sorted(self.portal.courses.values(), key=lambda c: c.id)])

    def _get_course(self, request: httpx.Request, course_id: int) -> httpx.Response:
        course = self.portal.course(course_id)
        users = [self._course_user(u, e) for (u, c), e in sorted(self.portal.enrollments.items()) if c == course_id]
        return json_response(200, {"_data": {**self._course(course), "users": users}})

    def _course_user(self, user_id: int, held: Enrollment) -> dict[str, Any]:
        """A course's `users[]` entry, after v1's `getcoursebyid` (completion date as ISO and as seconds)."""
        done = held.completed_on if held.completion_status == "completed" else None
        return {
            "id": user_id, "role": held.role, "enrolled_on": held.enrolled_on,
            "completion_status": held.completion_status, "completion_percentage": held.completion_percentage,
            "completed_on": done.isoformat() if done else None,
            "completed_on_timestamp": str(int(done.timestamp())) if done else None,
        }  # fmt: skip

    def _enrol(self, request: httpx.Request) -> httpx.Response:
        course_id, user_id = self._ids(request, "course_id", "user_id")
        role = self._body(request).get("role", "learner")
        enrollment = self.portal.enrol(user_id, course_id, role)
        return json_response(200, {"_data": {"user_id": user_id, "course_id": course_id, "role": enrollment.role}})

    def _unenrol(self, request: httpx.Request) -> httpx.Response:
        course_id, user_id = self._ids(request, "course_id", "user_id")
        self.portal.unenrol(user_id, course_id)
        return httpx.Response(204)

    def _progress(self, request: httpx.Request) -> httpx.Response:
        p = request.url.params
        user_id, course_id = p.get("user_id", ""), p.get("course_id", "")
        if not (user_id.isdigit() and course_id.isdigit()):
            raise PortalError(400, "The user_id and course_id parameters are required.")
        held = self.portal.progress(int(user_id), int(course_id))
        data = {
            "user_id": int(user_id), "course_id": int(course_id), "role": held.role,
            "completion_status": held.completion_status, "completion_percentage": held.completion_percentage,
        }  # fmt: skip
        return json_response(200, {"_data": data})

    # -- groups and branches -------------------------------------------------------------------------------------
    def _named(self, item: Named) -> dict[str, Any]:
        return {"id": item.id, "name": item.name, "description": item.description}

    def _list_groups(self, request: httpx.Request) -> httpx.Response:
        return self._page(request, [self._named(g) for g in sorted(self.portal.groups.values(), key=lambda g: g.id)])

    def _create_group(self, request: httpx.Request) -> httpx.Response:
        return json_response(200, {"_data": self._named(self.portal.create_group(self._body(request)))})

    def _list_branches(self, request: httpx.Request) -> httpx.Response:
        rows = [self._named(b) for b in sorted(self.portal.branches.values(), key=lambda b: b.id)]
        return self._page(request, rows)

    def _member(self, kind: str, *, join: bool) -> Callable[[httpx.Request], httpx.Response]:
        def answer(request: httpx.Request) -> httpx.Response:
            holder_id, user_id = self._ids(request, f"{kind}_id", "user_id")
            if join:
                self.portal.join(kind, holder_id, user_id)
                return json_response(200, {"_data": {f"{kind}_id": holder_id, "user_id": user_id}})
            self.portal.leave(kind, holder_id, user_id)
            return httpx.Response(204)

        return answer
