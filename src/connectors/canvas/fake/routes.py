"""The endpoints the fake answers: `(method, path pattern under /api/v1, handler)`.

Each handler takes `(fake, request, form, *path ids)` and returns a JSON value, a `Paged` list, or
`(status, body)`. Validation follows the Canvas controllers named in each docstring.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import httpx

from enrolsync.connectors.canvas.fake import render
from enrolsync.connectors.canvas.fake.state import CanvasInvalid, FakeEnrollment, FakeLogin, FakeUser, now_text
from enrolsync.connectors.canvas.fake.wire import CanvasError, Form, not_found

if TYPE_CHECKING:
    from enrolsync.connectors.canvas.fake.server import FakeCanvas

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
ID = r"([^/]+)"


# -- accounts and providers ---------------------------------------------------------------------------------------
def get_account(fake: FakeCanvas, request: httpx.Request, form: Form, account: str) -> Any:
    return render.account(fake.account_id(account), fake.account_name)


def list_providers(fake: FakeCanvas, request: httpx.Request, form: Form, account: str) -> Any:
    fake.account_id(account)
    providers = sorted(fake.state.providers.values(), key=lambda p: p.position)
    return fake.page(request, form, [render.provider(p) for p in providers])


def list_account_courses(fake: FakeCanvas, request: httpx.Request, form: Form, account: str) -> Any:
    fake.account_id(account)
    courses = [c for c in fake.state.courses.values() if c.workflow_state != "deleted"]
    return fake.page(request, form, [render.course(c) for c in sorted(courses, key=lambda c: c.id)])


def get_course(fake: FakeCanvas, request: httpx.Request, form: Form, course: str) -> Any:
    return render.course(fake.course(course))


# -- users ----------------------------------------------------------------------------------------------------------
def list_users(fake: FakeCanvas, request: httpx.Request, form: Form, account: str) -> Any:
    """UsersController#api_index: sorted by sortable name; `search_term` (at least 3 characters) matches names,
    login ids, SIS ids and email addresses (for an admin), case-insensitively; email shown with `include[]=email`."""
    fake.account_id(account)
    users = fake.state.live_users()
    term = (form.get("search_term") or "").strip().casefold()
    if form.get("search_term") is not None:
        if len(term) < 3:
            message = "search_term of 3 or more characters is required"
            raise CanvasError(400, {"errors": [{"field": "search_term", "code": "invalid", "message": message}]})
        users = [u for u in users if term in _haystack(fake, u)]
    email = "email" in form.all("include[]")
    return fake.page(request, form, [render.user(fake.state, u, email=email) for u in users], bookmarks=True)


def _haystack(fake: FakeCanvas, user: FakeUser) -> str:
    logins = fake.state.logins_of(user.id)
    words = [user.name, user.sortable_name, user.email or ""]
    words += [w for lg in logins for w in (lg.unique_id, lg.sis_user_id or "")]
    return "\n".join(words).casefold()


def get_user(fake: FakeCanvas, request: httpx.Request, form: Form, user: str) -> Any:
    return render.user(fake.state, fake.user(user))


def create_user(fake: FakeCanvas, request: httpx.Request, form: Form, account: str) -> Any:
    """UsersController#create: a user, its login (pseudonym) and, with an address, an email channel; all or none."""
    account_id = fake.account_id(account)
    unique_id = (form.get("pseudonym[unique_id]") or "").strip()
    sis_user_id = form.get("pseudonym[sis_user_id]") or None
    provider = _provider(fake, form.get("pseudonym[authentication_provider_id]"), "pseudonym")
    address = form.get("communication_channel[address]")
    if sis_user_id and form.flag("enable_sis_reactivation"):
        revived = _reactivate(fake, sis_user_id)
        if revived is not None:
            return render.user(fake.state, revived)
    fake.state.check_login(unique_id, sis_user_id, provider, obj="pseudonym")
    if address is not None and not _EMAIL.match(address.strip()):
        raise CanvasInvalid("communication_channel", "path", "invalid", "is invalid")
    name = form.get("user[name]") or unique_id
    short = form.get("user[short_name]") or name
    sortable = form.get("user[sortable_name]") or name
    user = FakeUser(fake.state.next_id(), name, short, sortable, address.strip() if address else None)
    fake.state.users[user.id] = user
    integration_id = form.get("pseudonym[integration_id]") or None
    login = FakeLogin(
        fake.state.next_id(), user.id, unique_id, sis_user_id, integration_id, provider, account_id=account_id
    )
    fake.state.logins[login.id] = login
    return render.user(fake.state, user)


def _reactivate(fake: FakeCanvas, sis_user_id: str) -> FakeUser | None:
    for login in fake.state.logins.values():
        user = fake.state.users[login.user_id]
        if login.sis_user_id == sis_user_id and (user.deleted or login.workflow_state == "deleted"):
            user.deleted, login.workflow_state = False, "active"
            return user
    return None


def _provider(fake: FakeCanvas, value: str | None, obj: str) -> int | None:
    """An authentication provider named by id or by type (the first of that type), as the Logins API accepts."""
    if not value:
        return None
    if value.isdigit() and int(value) in fake.state.providers:
        return int(value)
    by_type = sorted((p for p in fake.state.providers.values() if p.auth_type == value), key=lambda p: p.position)
    if not by_type:
        raise CanvasInvalid(obj, "authentication_provider_id", "invalid", "is invalid")
    return by_type[0].id


def update_user(fake: FakeCanvas, request: httpx.Request, form: Form, user_text: str) -> Any:
    """UsersController#update: names, the email channel, and `user[event]` = suspend | unsuspend (every login)."""
    user = fake.user(user_text)
    email = form.get("user[email]")
    if email is not None and not _EMAIL.match(email.strip()):
        raise CanvasInvalid("user", "email", "invalid", "is invalid")
    event = form.get("user[event]")
    if event is not None and event not in ("suspend", "unsuspend"):
        raise CanvasError(
            400,
            {
                "errors": {
                    "user": {
                        "event": [{"attribute": "event", "type": "inclusion", "message": "is not included in the list"}]
                    }
                }
            },
        )
    for field, attribute in (("name", "name"), ("short_name", "short_name"), ("sortable_name", "sortable_name")):
        value = form.get(f"user[{field}]")
        if value is not None:
            setattr(user, attribute, value)
    if email is not None:
        user.email = email.strip()
    if event is not None:
        for login in fake.state.logins_of(user.id):
            login.workflow_state = "suspended" if event == "suspend" else "active"
    return render.user(fake.state, user)


def delete_user(fake: FakeCanvas, request: httpx.Request, form: Form, account: str, user_text: str) -> Any:
    """AccountsController#remove_user: the user, their logins and enrolments are deleted from the root account
    (Canvas keeps the rows; an SIS-reactivating create or the restore API brings the user back)."""
    fake.account_id(account)
    user = fake.user(user_text)
    user.deleted = True
    for login in fake.state.logins_of(user.id):
        login.workflow_state = "deleted"
    for enrollment in fake.state.enrollments.values():
        if enrollment.user_id == user.id:
            enrollment.enrollment_state = "deleted"
    fake.state.observers = {(a, b) for a, b in fake.state.observers if user.id not in (a, b)}
    return render.user(fake.state, user, email=False)


# -- logins ---------------------------------------------------------------------------------------------------------
def list_user_logins(fake: FakeCanvas, request: httpx.Request, form: Form, user: str) -> Any:
    found = fake.user(user)
    logins = sorted(fake.state.logins_of(found.id), key=lambda lg: lg.id)
    return fake.page(request, form, [render.login(fake.state, lg) for lg in logins])


def create_login(fake: FakeCanvas, request: httpx.Request, form: Form, account: str) -> Any:
    account_id = fake.account_id(account)
    user = fake.user(form.get("user[id]") or "")
    unique_id = (form.get("login[unique_id]") or "").strip()
    sis_user_id = form.get("login[sis_user_id]") or None
    provider = _provider(fake, form.get("login[authentication_provider_id]"), "login")
    fake.state.check_login(unique_id, sis_user_id, provider, obj="unique_id")
    login = FakeLogin(fake.state.next_id(), user.id, unique_id, sis_user_id, form.get("login[integration_id]") or None,
                      provider, account_id=account_id)  # fmt: skip
    fake.state.logins[login.id] = login
    return render.login(fake.state, login)


def update_login(fake: FakeCanvas, request: httpx.Request, form: Form, account: str, login_id: str) -> Any:
    fake.account_id(account)
    login = fake.state.logins.get(int(login_id)) if login_id.isdigit() else None
    if login is None or login.workflow_state == "deleted":
        raise not_found()
    unique_id = form.get("login[unique_id]", login.unique_id) or ""
    sis_user_id = form.get("login[sis_user_id]", login.sis_user_id) or None
    provider_text = form.get("login[authentication_provider_id]")
    provider = _provider(fake, provider_text, "pseudonym") if provider_text else login.authentication_provider_id
    state = form.get("login[workflow_state]")
    if state is not None and state not in ("active", "suspended"):
        raise CanvasInvalid("pseudonym", "workflow_state", "inclusion", "is not included in the list")
    fake.state.check_login(unique_id, sis_user_id, provider, obj="pseudonym", ignore=login.id)
    login.unique_id, login.sis_user_id, login.authentication_provider_id = unique_id.strip(), sis_user_id, provider
    if state is not None:
        login.workflow_state = state
    return render.login(fake.state, login)


# -- enrolments -------------------------------------------------------------------------------------------------------
def list_course_enrollments(fake: FakeCanvas, request: httpx.Request, form: Form, course_text: str) -> Any:
    """EnrollmentsApiController#index: `type[]`, `role[]`, `state[]` (default active and invited), `user_id`."""
    course = fake.course(course_text)
    states = set(form.all("state[]")) or {"active", "invited"}
    types, roles = set(form.all("type[]")), set(form.all("role[]"))
    user_text = form.get("user_id")
    user_id = fake.user(user_text).id if user_text else None
    found = [
        e for e in fake.state.enrollments_in(course.id)
        if e.enrollment_state in states and (not types or e.type in types) and (not roles or e.role in roles)
        and (user_id is None or e.user_id == user_id)
    ]  # fmt: skip
    rows = sorted(found, key=lambda e: e.id)
    return fake.page(request, form, rows, render=lambda e: render.enrollment(fake.state, e, base_url=fake.base_url))


def bulk_user_progress(fake: FakeCanvas, request: httpx.Request, form: Form, course_text: str) -> Any:
    """CoursesController#bulk_user_progress: each student of the course (one row per user, by sortable name) with
    their module progress; paged like every list. Students as the course's user search finds them by default:
    active and invited enrolments (a concluded student's progress is not listed; the connector dates their
    completion from the enrolment instead)."""
    course = fake.course(course_text)
    students: dict[int, FakeEnrollment] = {}
    for e in sorted(fake.state.enrollments_in(course.id), key=lambda e: e.id):
        if e.type == "StudentEnrollment" and e.enrollment_state in ("active", "invited"):
            students.setdefault(e.user_id, e)
    rows = sorted(students.values(), key=lambda e: (fake.state.users[e.user_id].sortable_name.casefold(), e.user_id))
    return fake.page(request, form, rows, render=lambda e: render.user_progress(fake.state, e, base_url=fake.base_url))


def enroll(fake: FakeCanvas, request: httpx.Request, form: Form, course_text: str) -> Any:
    """EnrollmentsApiController#create."""
    course = fake.course(course_text)
    user_text = form.get("enrollment[user_id]")
    if not user_text:
        raise CanvasError(
            400,
            {
                "message": "Can't create an enrollment without a user. "
                "Include enrollment[user_id] to create an enrollment"
            },
        )
    user = fake.user(user_text)
    role = fake.role_for(form)
    state = form.get("enrollment[enrollment_state]") or "invited"
    if state not in ("active", "invited", "inactive"):
        raise CanvasError(400, {"message": "Invalid enrollment_state"})
    associated = form.get("enrollment[associated_user_id]")
    observee = fake.user(associated).id if associated else None
    if course.workflow_state == "completed":
        raise CanvasError(400, {"message": "Can't add an enrollment to a concluded course."})
    created = fake.state.enroll(course, user.id, role, state, observee)
    return render.enrollment(fake.state, created, base_url=fake.base_url)


_TASKS = {"conclude": "completed", "delete": "deleted", "inactivate": "inactive", "deactivate": "inactive"}


def end_enrollment(fake: FakeCanvas, request: httpx.Request, form: Form, course_text: str, enrollment_id: str) -> Any:
    """EnrollmentsApiController#destroy: `task` conclude (the default), delete, inactivate or deactivate."""
    course = fake.course(course_text)
    found = fake.state.enrollments.get(int(enrollment_id)) if enrollment_id.isdigit() else None
    if found is None or found.course_id != course.id or found.enrollment_state == "deleted":
        raise not_found()
    task = form.get("task") or "conclude"
    if task not in _TASKS:
        raise CanvasError(400, {"message": f"{task} is not a valid task"})
    found.enrollment_state, found.updated_at = _TASKS[task], now_text()
    return render.enrollment(fake.state, found, base_url=fake.base_url)


def reactivate_enrollment(
    fake: FakeCanvas, request: httpx.Request, form: Form, course_text: str, enrollment_id: str
) -> Any:
    course = fake.course(course_text)
    found = fake.state.enrollments.get(int(enrollment_id)) if enrollment_id.isdigit() else None
    if found is None or found.course_id != course.id:
        raise not_found()
    if found.enrollment_state != "inactive":
        raise CanvasError(400, {"error": "enrollment not inactive"})
    found.enrollment_state, found.updated_at = "active", now_text()
    return render.enrollment(fake.state, found, base_url=fake.base_url)


# -- observers (User Observees API: /doc/api/user_observees.html) -----------------------------------------------------
def list_observees(fake: FakeCanvas, request: httpx.Request, form: Form, user_text: str) -> Any:
    observer = fake.user(user_text)
    ids = sorted(observee for holder, observee in fake.state.observers if holder == observer.id)
    users = [fake.state.users[i] for i in ids if not fake.state.users[i].deleted]
    return fake.page(request, form, [render.user(fake.state, u, email=False) for u in users])


def add_observee(fake: FakeCanvas, request: httpx.Request, form: Form, user_text: str, observee_text: str) -> Any:
    observer, observee = fake.user(user_text), fake.user(observee_text)
    if observer.id == observee.id:
        raise CanvasError(400, {"errors": [{"message": "can't observe self"}]})
    fake.state.link_observer(observer.id, observee.id)
    return render.user(fake.state, observee, email=False)


def remove_observee(fake: FakeCanvas, request: httpx.Request, form: Form, user_text: str, observee_text: str) -> Any:
    observer, observee = fake.user(user_text), fake.user(observee_text)
    if (observer.id, observee.id) not in fake.state.observers:
        raise not_found()
    fake.state.unlink_observer(observer.id, observee.id)
    return render.user(fake.state, observee, email=False)


ROUTES: list[tuple[str, str, Any]] = [
    ("GET", rf"/accounts/{ID}", get_account),
    ("GET", rf"/accounts/{ID}/authentication_providers", list_providers),
    ("GET", rf"/accounts/{ID}/courses", list_account_courses),
    ("GET", rf"/accounts/{ID}/users", list_users),
    ("POST", rf"/accounts/{ID}/users", create_user),
    ("POST", rf"/accounts/{ID}/logins", create_login),
    ("PUT", rf"/accounts/{ID}/logins/{ID}", update_login),
    ("DELETE", rf"/accounts/{ID}/users/{ID}", delete_user),
    ("GET", rf"/users/{ID}", get_user),
    ("PUT", rf"/users/{ID}", update_user),
    ("GET", rf"/users/{ID}/logins", list_user_logins),
    ("GET", rf"/users/{ID}/observees", list_observees),
    ("PUT", rf"/users/{ID}/observees/{ID}", add_observee),
    ("DELETE", rf"/users/{ID}/observees/{ID}", remove_observee),
    ("GET", rf"/courses/{ID}", get_course),
    ("GET", rf"/courses/{ID}/enrollments", list_course_enrollments),
    ("GET", rf"/courses/{ID}/bulk_user_progress", bulk_user_progress),
    ("POST", rf"/courses/{ID}/enrollments", enroll),
    ("DELETE", rf"/courses/{ID}/enrollments/{ID}", end_enrollment),
    ("PUT", rf"/courses/{ID}/enrollments/{ID}/reactivate", reactivate_enrollment),
]
