"""A faithful fake Canvas LMS REST API (`/api/v1`) for tests, the demo and the benchmarks.

It answers as Canvas does (instructure/canvas-lms `doc/api/*.md` and the controllers' API doc comments): a bearer
token (401 `{"errors":[{"message":"Invalid access token."}]}` otherwise); form-encoded writes with `user[name]`-style
fields; ids that may be written `sis_user_id:...`, `sis_login_id:...`, `sis_course_id:...`; paging by `per_page`
(default 10, at most 100) and an RFC 8288 `Link` header (bookmark tokens for users, page numbers elsewhere);
validation errors as 400 with `{"errors": {object: {attribute: [...]}}}`; and throttling as Canvas's leaky bucket
(`doc/api/throttling.md`): every answer carries `X-Request-Cost`, `X-Rate-Limit-Remaining` appears once throttling
is on, and an empty bucket answers `403 Forbidden (Rate Limit Exceeded)`. Learner progress (activity, grades,
module requirements met, concluded enrolments) is moved by tests through `visit`, `grade`, `require`, `meet` and
`conclude`, as Canvas records it while people work; the API only reads it.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, unquote

import httpx

from enrolsync.connectors.canvas.fake import render, routes
from enrolsync.connectors.canvas.fake.state import (
    BASE_ROLES,
    ROOT_ACCOUNT_ID,
    AccountState,
    CanvasInvalid,
    FakeCourse,
    FakeEnrollment,
    FakeLogin,
    FakeProvider,
    FakeRole,
    FakeUser,
)
from enrolsync.connectors.canvas.fake.wire import CanvasError, Form, Paged, not_found
from enrolsync.connectors.kit.clock import Clock
from enrolsync.connectors.testing.fakes import FakeServer, json_response

DEFAULT_TOKEN = "fake-canvas-token"  # a stand-in instance's token, not a credential
MAX_PER_PAGE = 100
THROTTLED = b"403 Forbidden (Rate Limit Exceeded)\n"


class FakeCanvas(FakeServer):
    """One Canvas root account (id 1, also reachable as `self`) in memory."""

    def __init__(self, *, token: str = DEFAULT_TOKEN, clock: Clock | None = None) -> None:
        super().__init__()
        self.token = token
        self.state = AccountState()
        self.account_name = "Acme Learning"
        self.clock = clock
        # Throttling (off until `throttle()`): Canvas's default bucket is 700 units draining 10 per second.
        self.quota: float | None = None
        self.request_cost = 1.0
        self.outflow = 10.0
        self._bucket = 0.0
        self._drained_at = 0.0
        self.throttled = 0

    # -- seeding --------------------------------------------------------------------------------------------------
    @classmethod
    def seeded(cls, *, token: str = DEFAULT_TOKEN, clock: Clock | None = None) -> FakeCanvas:
        """Three people, one of them signing in through SAML, two courses (one with an SIS id) and a SAML IdP."""
        fake = cls(token=token, clock=clock)
        saml = fake.add_provider("saml", idp_entity_id="https://idp.example.test/saml")
        fake.add_user("Alex", "Example", "alex.example", sis_user_id="E-100", email="alex.example@example.com")
        fake.add_user("Sam", "Sample", "sam.sample", sis_user_id="E-101", email="sam.sample@example.com")
        fake.add_user("Kim", "Placeholder", "kim@example.com", email="kim@example.com", provider_id=saml)
        fake.add_course("Workplace Safety", sis_course_id="SAFETY-101")
        fake.add_course("Secure Coding")
        return fake

    def add_provider(self, auth_type: str, **fields: Any) -> int:
        provider_id = self.state.next_id()
        position = len(self.state.providers) + 1
        self.state.providers[provider_id] = FakeProvider(provider_id, auth_type, position, **fields)
        return provider_id

    def add_user(
        self,
        given: str,
        family: str,
        unique_id: str,
        *,
        sis_user_id: str | None = None,
        email: str | None = None,
        provider_id: int | None = None,
    ) -> int:
        user = FakeUser(self.state.next_id(), f"{given} {family}", given, f"{family}, {given}", email)
        self.state.users[user.id] = user
        login = FakeLogin(self.state.next_id(), user.id, unique_id, sis_user_id, None, provider_id)
        self.state.logins[login.id] = login
        return user.id

    def add_course(self, name: str, *, sis_course_id: str | None = None) -> int:
        return self.state.add_course(name, sis_course_id=sis_course_id).id

    def add_role(self, label: str, base_role_type: str) -> int:
        role = FakeRole(self.state.next_id(), label, base_role_type)
        self.state.roles[role.id] = role
        return role.id

    def throttle(self, quota: float = 700.0, *, used: float = 0.0, cost: float = 1.0) -> None:
        """Turn Canvas's rate limiting on: `quota` units, `used` of them already spent, `cost` per request."""
        self.quota, self._bucket, self.request_cost = quota, used, cost
        self._drained_at = self.clock.monotonic() if self.clock else 0.0

    # -- what tests inspect ---------------------------------------------------------------------------------------
    def user_by_sis(self, sis_user_id: str) -> FakeUser | None:
        login = self.state.login_by("sis_user_id", sis_user_id)
        return self.state.users[login.user_id] if login else None

    def enrollments_of(self, user_id: int, *, states: tuple[str, ...] = ("active", "invited")) -> dict[int, str]:
        """Course id -> enrolment type of the user's enrolments in `states` (one type per course: for tests whose
        people hold one enrolment in a course)."""
        return {
            e.course_id: e.type
            for e in self.state.enrollments.values()
            if e.user_id == user_id and e.enrollment_state in states
        }

    def suspended(self, user_id: int) -> bool:
        logins = self.state.logins_of(user_id)
        return bool(logins) and all(lg.workflow_state == "suspended" for lg in logins)

    # -- a learner's progress, as Canvas records it while they work (tests move it; nothing in the API writes it) --
    def student_enrollment(self, user_id: int, course_id: int) -> FakeEnrollment:
        """The user's StudentEnrollment in the course (the first, if they are in several sections)."""
        for e in sorted(self.state.enrollments_in(course_id), key=lambda e: e.id):
            if e.user_id == user_id and e.type == "StudentEnrollment":
                return e
        raise KeyError((user_id, course_id))

    def visit(self, user_id: int, course_id: int, at: str, *, seconds: int = 300) -> None:
        """The learner works in the course at `at` (ISO 8601): Canvas's activity record moves on."""
        e = self.student_enrollment(user_id, course_id)
        e.last_activity_at, e.total_activity_time = at, e.total_activity_time + seconds

    def grade(self, user_id: int, course_id: int, *, current: float | None, final: float | None) -> None:
        e = self.student_enrollment(user_id, course_id)
        e.current_score, e.final_score = current, final

    def require(self, course_id: int, requirements: int) -> None:
        """Give the course modules with `requirements` completion requirements (0: not module based)."""
        self.state.courses[course_id].requirements = requirements

    def meet(self, user_id: int, course_id: int, met: int, at: str) -> None:
        """The learner has met `met` of the course's module requirements, the last at `at`."""
        e = self.student_enrollment(user_id, course_id)
        e.requirements_met = met
        e.modules_completed_at = at if met >= self.state.courses[course_id].requirements else None

    def conclude(self, user_id: int, course_id: int, at: str) -> None:
        """A teacher concludes the learner's enrolment (Enrollment#conclude): `completed`, updated at `at`."""
        e = self.student_enrollment(user_id, course_id)
        e.enrollment_state, e.updated_at = "completed", at

    # -- serving --------------------------------------------------------------------------------------------------
    def handle(self, request: httpx.Request) -> httpx.Response:
        cost = self.request_cost
        headers = {"X-Request-Cost": f"{cost:.4f}"}
        if self.quota is not None:
            remaining = self._spend(cost)
            headers["X-Rate-Limit-Remaining"] = f"{max(remaining, 0.0):.4f}"
            if remaining < 0:
                self.throttled += 1
                return httpx.Response(403, content=THROTTLED, headers={**headers, "Content-Type": "text/plain"})
        try:
            self._authenticate(request)
            status, body, extra = self._route(request)
        except CanvasInvalid as error:
            status, body, extra = 400, error.body, {}
        except CanvasError as error:
            status, body, extra = error.status, error.body, {}
            if status == 401:
                extra = {"WWW-Authenticate": 'Bearer realm="canvas-lms"'}
        return json_response(status, body, {**headers, **extra})

    def _spend(self, cost: float) -> float:
        assert self.quota is not None
        if self.clock is not None:
            now = self.clock.monotonic()
            self._bucket = max(0.0, self._bucket - (now - self._drained_at) * self.outflow)
            self._drained_at = now
        if self._bucket + cost > self.quota:
            return self.quota - self._bucket - cost
        self._bucket += cost
        return self.quota - self._bucket

    def _authenticate(self, request: httpx.Request) -> None:
        header = request.headers.get("Authorization", "")
        if not header:
            raise CanvasError(
                401, {"status": "unauthenticated", "errors": [{"message": "user authorization required"}]}
            )
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or token != self.token:
            raise CanvasError(401, {"errors": [{"message": "Invalid access token."}]})

    def _route(self, request: httpx.Request) -> tuple[int, Any, dict[str, str]]:
        # Routed on the raw path: an escaped `/` inside an SIS id (`sis_user_id:E%2F1`) is part of one segment.
        path = request.url.raw_path.decode("ascii").split("?", 1)[0]
        if not path.startswith("/api/v1/"):
            raise not_found()
        rest = path[len("/api/v1") :]
        pairs = list(parse_qsl(request.url.query.decode(), keep_blank_values=True))
        if request.method in ("POST", "PUT", "DELETE") and request.content:
            content_type = request.headers.get("Content-Type", "")
            if "json" in content_type:
                pairs += _flatten(json.loads(request.content))
            else:
                pairs += parse_qsl(request.content.decode(), keep_blank_values=True)
        form = Form(pairs)
        for method, pattern, handler in routes.ROUTES:
            match = re.fullmatch(pattern, rest)
            if match and method == request.method:
                args = [unquote(g) for g in match.groups()]
                return _answer(handler(self, request, form, *args))
        raise not_found()

    # -- helpers the routes use -----------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return "https://canvas.example.test"

    def account_id(self, text: str) -> int:
        if text in ("self", str(ROOT_ACCOUNT_ID)):
            return ROOT_ACCOUNT_ID
        raise not_found()

    def user(self, text: str) -> FakeUser:
        """A user by id, `sis_user_id:`, `sis_login_id:` or `sis_integration_id:`."""
        for prefix, attribute in (("sis_user_id:", "sis_user_id"), ("sis_login_id:", "unique_id"),
                                  ("sis_integration_id:", "integration_id")):  # fmt: skip
            if text.startswith(prefix):
                login = self.state.login_by(attribute, text[len(prefix) :])
                if login is None:
                    raise not_found()
                return self.state.users[login.user_id]
        found = self.state.users.get(int(text)) if text.isdigit() else None
        if found is None or found.deleted:
            raise not_found()
        return found

    def course(self, text: str) -> FakeCourse:
        if text.startswith("sis_course_id:"):
            sis = text[len("sis_course_id:") :]
            found = next((c for c in self.state.courses.values() if c.sis_course_id == sis), None)
        else:
            found = self.state.courses.get(int(text)) if text.isdigit() else None
        if found is None or found.workflow_state == "deleted":
            raise not_found()
        return found

    def role_for(self, form: Form) -> FakeRole:
        """The role of a new enrolment: `role_id`, else `type` (a base role), else StudentEnrollment."""
        role_id, kind = form.get("enrollment[role_id]"), form.get("enrollment[type]")
        if role_id:
            role = self.state.roles.get(int(role_id)) if role_id.isdigit() else None
            if role is None:
                raise CanvasError(400, {"message": "Invalid role"})
            if kind and kind != role.base_role_type:
                raise CanvasError(400, {"message": "The specified type must match the base type for the role"})
            return role
        if kind is None:
            kind = "StudentEnrollment"
        if kind not in BASE_ROLES:
            raise CanvasError(400, {"message": "Invalid type"})
        return self.state.roles[BASE_ROLES[kind]]

    def page(
        self,
        request: httpx.Request,
        form: Form,
        items: list[Any],
        *,
        bookmarks: bool = False,
        render: Callable[[Any], Any] | None = None,
    ) -> Any:
        """One page of `items` and its Link header, as `Api.paginate` builds them; `render` turns only the page's
        records into JSON (a large course's roster is not rendered whole for every page)."""
        per_page = min(max(int(form.get("per_page") or 10), 1), MAX_PER_PAGE)
        token = form.get("page") or "1"
        if bookmarks and token.startswith("bookmark:"):
            start = int(json.loads(base64.urlsafe_b64decode(token[len("bookmark:") :] + "==")))
        elif token.isdigit() and int(token) >= 1:
            start = (int(token) - 1) * per_page
        else:
            raise CanvasError(400, {"errors": [{"message": "invalid page"}]})
        chunk = items[start : start + per_page]
        if render is not None:
            chunk = [render(item) for item in chunk]

        def link(page: str, rel: str) -> str:
            url = request.url.copy_merge_params({"page": page, "per_page": str(per_page)})
            return f'<{url}>; rel="{rel}"'

        def name(offset: int) -> str:
            if bookmarks:
                return "bookmark:" + base64.urlsafe_b64encode(json.dumps(offset).encode()).decode().rstrip("=")
            return str(offset // per_page + 1)

        links = [link(token, "current")]
        if start + per_page < len(items):
            links.append(link(name(start + per_page), "next"))
        if start > 0:
            links.append(link(name(max(start - per_page, 0)), "prev"))
        links.append(link(name(0) if not bookmarks else "1", "first"))
        if not bookmarks:
            links.append(link(name(max(len(items) - 1, 0) // per_page * per_page), "last"))
        return Paged(chunk, ",".join(links))


def _answer(result: Any) -> tuple[int, Any, dict[str, str]]:
    if isinstance(result, Paged):
        return 200, result.items, {"Link": result.link}
    if isinstance(result, tuple):
        return result[0], result[1], {}
    return 200, result, {}


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    """A JSON body as the form fields Rails would see (`{"user": {"name": "A"}}` -> `user[name]=A`)."""
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _flatten(v, f"{prefix}[{k}]" if prefix else str(k))]
    if isinstance(value, list):
        return [p for v in value for p in _flatten(v, f"{prefix}[]")]
    if isinstance(value, bool):
        return [(prefix, "true" if value else "false")]
    return [] if value is None else [(prefix, str(value))]


Handler = Callable[..., Any]
__all__ = ["DEFAULT_TOKEN", "FakeCanvas", "render"]
