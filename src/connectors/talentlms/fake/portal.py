"""A TalentLMS portal's state and its rules: users, courses, enrollments, groups, branches, custom user fields.

Rules enforced as the v2 API documents them (TalentLMS's published document, copied in
`tests/connectors/talentlms/openapi/`; its "Update a user" table): name, surname, login, email and password are
required on create, text fields hold at most 191 characters, emails must be well formed and unique, and so must
logins. Violations raise `PortalError` with the status and message the API answers with; the server turns it
into `{"error": {"type", "message"}}`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

MAX_TEXT = 191
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_LOGIN = re.compile(r"^[A-Za-z0-9._@+-]+$")
USER_TYPES = {1: "SuperAdmin", 2: "Admin-Type", 3: "Instructor-Type", 4: "Learner-Type"}
DEFAULT_USER_TYPE = 4
ROLES = ("learner", "instructor")


class PortalError(Exception):
    def __init__(self, status: int, message: str, kind: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind


@dataclass
class User:
    id: int
    login: str
    name: str
    surname: str
    email: str
    status: str = "active"
    user_type_id: int = DEFAULT_USER_TYPE
    custom: dict[int, str] = field(default_factory=dict)
    registration: str = ""
    last_updated: str = ""


@dataclass
class Enrollment:
    role: str
    enrolled_on: str
    completion_percentage: int = 0
    completed_on: datetime | None = None  # when the learner completed the course

    @property
    def completion_status(self) -> str:
        if self.completion_percentage >= 100:
            return "completed"
        return "incomplete" if self.completion_percentage > 0 else "not_attempted"


@dataclass
class Named:
    id: int
    name: str
    description: str = ""


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def _text(body: dict[str, Any], name: str, *, required: bool) -> str | None:
    value = body.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise PortalError(400, f"The {name} field is required.")
        return None
    if not isinstance(value, str):
        raise PortalError(400, f"The {name} must be a string.")
    if len(value) > MAX_TEXT:
        raise PortalError(400, f"The {name} may not be greater than {MAX_TEXT} characters.")
    return value.strip()


@dataclass
class Portal:
    users: dict[int, User] = field(default_factory=dict)
    courses: dict[int, Named] = field(default_factory=dict)
    groups: dict[int, Named] = field(default_factory=dict)
    branches: dict[int, Named] = field(default_factory=dict)
    custom_fields: dict[int, str] = field(default_factory=dict)
    enrollments: dict[tuple[int, int], Enrollment] = field(default_factory=dict)  # (user, course)
    group_members: set[tuple[int, int]] = field(default_factory=set)  # (group, user)
    branch_members: set[tuple[int, int]] = field(default_factory=set)  # (branch, user)
    _next: int = 100

    def next_id(self) -> int:
        self._next += 1
        return self._next

    # -- users ------------------------------------------------------------------------------------------------
    def user(self, user_id: int) -> User:
        if user_id not in self.users:
            raise PortalError(404, "The requested user does not exist.")
        return self.users[user_id]

    def _unique(self, name: str, value: str, user_id: int | None) -> None:
        for other in self.users.values():
            if other.id != user_id and getattr(other, name).casefold() == value.casefold():
                raise PortalError(400, f"The {name} has already been taken.")

    def _custom(self, user: User, body: dict[str, Any]) -> None:
        for key, value in body.items():
            if not key.startswith("custom_field_"):
                continue
            number = key.removeprefix("custom_field_")
            if not number.isdigit() or int(number) not in self.custom_fields:
                raise PortalError(400, f"The custom field {key} does not exist.")
            if value is not None and (not isinstance(value, str) or len(value) > MAX_TEXT):
                raise PortalError(400, f"The {key} must be a string of at most {MAX_TEXT} characters.")
            user.custom[int(number)] = value or ""

    def _check(self, user_id: int | None, login: str | None, email: str | None) -> None:
        if email is not None:
            if not _EMAIL.match(email):
                raise PortalError(400, "The email must be a valid email address.")
            self._unique("email", email, user_id)
        if login is not None:
            if not _LOGIN.match(login):
                raise PortalError(400, "The login may only contain letters, numbers and . _ @ + -")
            self._unique("login", login, user_id)

    def create_user(self, body: dict[str, Any]) -> User:
        name, surname = _text(body, "name", required=True), _text(body, "surname", required=True)
        login, email = _text(body, "login", required=True), _text(body, "email", required=True)
        password = _text(body, "password", required=True)
        if password is not None and len(password) < 8:
            raise PortalError(400, "The password must be at least 8 characters.")
        self._check(None, login, email)
        type_id = body.get("user_type_id", DEFAULT_USER_TYPE)
        if type_id not in USER_TYPES:
            raise PortalError(400, "The selected user type id is invalid.")
        now = _now()
        user = User(self.next_id(), str(login), str(name), str(surname), str(email), "active", type_id, {}, now, now)
        self._custom(user, body)
        self.users[user.id] = user
        return user

    def update_user(self, user_id: int, body: dict[str, Any]) -> None:
        user = self.user(user_id)
        values = {n: _text(body, n, required=False) for n in ("name", "surname", "login", "email") if n in body}
        for name in ("name", "surname", "login", "email"):
            if name in body and values[name] is None:
                raise PortalError(400, f"The {name} field is required.")
        self._check(user_id, values.get("login"), values.get("email"))
        status = body.get("status", user.status)
        if status not in ("active", "inactive"):
            raise PortalError(400, "The selected status is invalid.")
        type_id = body.get("user_type_id", user.user_type_id)
        if type_id not in USER_TYPES:
            raise PortalError(400, "The selected user type id is invalid.")
        self._custom(user, body)
        for name, value in values.items():
            setattr(user, name, value)
        user.status, user.user_type_id, user.last_updated = status, type_id, _now()

    def delete_user(self, user_id: int) -> None:
        """Deletes the user with their enrollments (and progress) and memberships, as TalentLMS's delete does."""
        self.user(user_id)
        del self.users[user_id]
        self.enrollments = {k: e for k, e in self.enrollments.items() if k[0] != user_id}
        self.group_members = {m for m in self.group_members if m[1] != user_id}
        self.branch_members = {m for m in self.branch_members if m[1] != user_id}

    # -- enrollments, groups, branches ----------------------------------------------------------------------
    def course(self, course_id: int) -> Named:
        if course_id not in self.courses:
            raise PortalError(404, "The requested course does not exist.")
        return self.courses[course_id]

    def enrol(self, user_id: int, course_id: int, role: str) -> Enrollment:
        self.user(user_id)
        self.course(course_id)
        if role not in ROLES:
            raise PortalError(400, "The selected role is invalid.")
        held = self.enrollments.get((user_id, course_id))
        if held is not None and held.role == role:
            raise PortalError(400, "The user is already enrolled in this course.")
        if held is not None:  # a role change keeps the enrollment and its progress
            held.role = role
            return held
        self.enrollments[(user_id, course_id)] = Enrollment(role, _now())
        return self.enrollments[(user_id, course_id)]

    def unenrol(self, user_id: int, course_id: int) -> None:
        self.user(user_id)
        self.course(course_id)
        if self.enrollments.pop((user_id, course_id), None) is None:
            raise PortalError(404, "The user is not enrolled in this course.")

    def progress(self, user_id: int, course_id: int) -> Enrollment:
        self.user(user_id)
        self.course(course_id)
        if (user_id, course_id) not in self.enrollments:
            raise PortalError(404, "The user is not enrolled in this course.")
        return self.enrollments[(user_id, course_id)]

    def create_group(self, body: dict[str, Any]) -> Named:
        name = str(_text(body, "name", required=True))
        if any(g.name.casefold() == name.casefold() for g in self.groups.values()):
            raise PortalError(400, "The name has already been taken.")
        group = Named(self.next_id(), name, _text(body, "description", required=False) or "")
        self.groups[group.id] = group
        return group

    def join(self, kind: str, holder_id: int, user_id: int) -> None:
        members, holders = self._membership(kind)
        if holder_id not in holders:
            raise PortalError(404, f"The requested {kind} does not exist.")
        self.user(user_id)
        if (holder_id, user_id) in members:
            raise PortalError(400, f"The user is already a member of this {kind}.")
        members.add((holder_id, user_id))

    def leave(self, kind: str, holder_id: int, user_id: int) -> None:
        members, holders = self._membership(kind)
        if holder_id not in holders:
            raise PortalError(404, f"The requested {kind} does not exist.")
        self.user(user_id)
        if (holder_id, user_id) not in members:
            raise PortalError(404, f"The user is not a member of this {kind}.")
        members.discard((holder_id, user_id))

    def _membership(self, kind: str) -> tuple[set[tuple[int, int]], dict[int, Named]]:
        return (self.group_members, self.groups) if kind == "group" else (self.branch_members, self.branches)
