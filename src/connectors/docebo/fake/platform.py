"""A Docebo platform's state and its rules: users (levels, status, branches, managers, additional fields),
courses, enrollments and the org chart's branches.

Rules enforced as Docebo's user screens and API answer them: a username is required, unique (case-insensitively)
and at most 255 characters; an email, when given, is well formed and unique; first and last names are at most 255
characters; `level` is one of `user`, `power_user`, `godadmin`; a manager must be an existing user and not the
user themselves. Violations raise `PlatformError`, which the server answers with Docebo's error body
`{"name", "message": [...], "code", "status"}`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

MAX_TEXT = 255
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
LEVELS = ("user", "power_user", "godadmin")
COURSE_LEVELS = ("student", "tutor", "instructor")
DIRECT_MANAGER = 1  # Docebo's built-in manager type ("Direct Manager")
CODE_INVALID, CODE_EXISTS, CODE_NOT_FOUND = 1006, 1007, 1008  # codes this fake answers with (Docebo's are numeric)


class PlatformError(Exception):
    def __init__(self, status: int, message: str, code: int = CODE_INVALID) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


@dataclass
class User:
    id: int
    username: str
    email: str
    firstname: str
    lastname: str
    level: str = "user"
    valid: bool = True  # Docebo's `status`: 1 active, 0 suspended
    branches: set[int] = field(default_factory=set)
    managers: dict[int, int] = field(default_factory=dict)  # manager type id -> manager's user id
    fields: dict[int, str] = field(default_factory=dict)  # additional field id -> value


@dataclass
class Course:
    id: int
    name: str
    code: str


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@dataclass
class Enrollment:
    level: str = "student"
    status: str = "subscribed"  # subscribed (not started), in_progress, completed
    created_at: datetime = field(default_factory=_now)
    updated_at: datetime = field(default_factory=_now)  # the enrolment's last change (the learner's or an admin's)
    completed_at: datetime | None = None
    score: float | None = None


@dataclass
class Branch:
    id: int
    code: str
    title: str


def _text(body: dict[str, Any], name: str, *, required: bool) -> str | None:
    value = body.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise PlatformError(400, f"Missing required field: {name}")
        return None
    if not isinstance(value, str):
        raise PlatformError(400, f"Invalid value for field: {name}")
    if len(value) > MAX_TEXT:
        raise PlatformError(400, f"Field {name} is longer than {MAX_TEXT} characters")
    return value.strip()


def validate_user(body: dict[str, Any], *, creating: bool, username_key: str = "userid") -> None:
    """The checks Docebo makes on a user body before touching anything (a bad one refuses the whole request)."""
    _text(body, username_key, required=creating)
    for name in ("firstname", "lastname"):
        _text(body, name, required=False)
    email = _text(body, "email", required=False)
    if email is not None and not _EMAIL.match(email):
        raise PlatformError(400, "Invalid email address")
    level = body.get("level")
    if level is not None and level not in LEVELS:
        raise PlatformError(400, f"Invalid user level: {level}")


class Platform:
    def __init__(self) -> None:
        self.users: dict[int, User] = {}
        self.courses: dict[int, Course] = {}
        self.enrollments: dict[tuple[int, int], Enrollment] = {}
        self.branches: dict[int, Branch] = {}
        self.additional_fields: dict[int, str] = {}
        self._next = 12300

    def next_id(self) -> int:
        self._next += 1
        return self._next

    def user(self, user_id: int) -> User:
        if user_id not in self.users:
            raise PlatformError(404, f"User not found: {user_id}", CODE_NOT_FOUND)
        return self.users[user_id]

    def course(self, course_id: int) -> Course:
        if course_id not in self.courses:
            raise PlatformError(404, f"Course not found: {course_id}", CODE_NOT_FOUND)
        return self.courses[course_id]

    def branch(self, branch_id: int) -> Branch:
        if branch_id not in self.branches:
            raise PlatformError(404, f"Branch not found: {branch_id}", CODE_NOT_FOUND)
        return self.branches[branch_id]

    # -- users ------------------------------------------------------------------------------------------------
    def _unique(self, user_id: int | None, username: str | None, email: str | None) -> None:
        for other in self.users.values():
            if other.id == user_id:
                continue
            if username is not None and other.username.casefold() == username.casefold():
                raise PlatformError(400, "Username already exists", CODE_EXISTS)
            if email is not None and other.email and other.email.casefold() == email.casefold():
                raise PlatformError(400, "Email already exists", CODE_EXISTS)

    def _relations(self, user: User, body: dict[str, Any]) -> None:
        managers = body.get("manager")
        if isinstance(managers, dict):
            for kind, manager in managers.items():
                if manager in (None, "", 0):
                    user.managers.pop(int(kind), None)
                    continue
                if not str(manager).isdigit() or int(manager) not in self.users or int(manager) == user.id:
                    raise PlatformError(400, f"Invalid manager: {manager}")
                user.managers[int(kind)] = int(manager)
        extra = body.get("additional_fields")
        if isinstance(extra, dict):
            for key, value in extra.items():
                if not str(key).isdigit() or int(key) not in self.additional_fields:
                    raise PlatformError(400, f"Invalid additional field: {key}")
                user.fields[int(key)] = str(value)

    def create_user(self, body: dict[str, Any], *, username_key: str = "userid") -> User:
        validate_user(body, creating=True, username_key=username_key)
        username = str(_text(body, username_key, required=True))
        email = _text(body, "email", required=False) or ""
        self._unique(None, username, email or None)
        user = User(
            id=self.next_id(),
            username=username,
            email=email,
            firstname=_text(body, "firstname", required=False) or "",
            lastname=_text(body, "lastname", required=False) or "",
            level=str(body.get("level") or "user"),
        )
        self.users[user.id] = user
        try:
            self._relations(user, body)
        except PlatformError:
            del self.users[user.id]
            raise
        return user

    def update_user(self, user_id: int, body: dict[str, Any]) -> User:
        user = self.user(user_id)
        validate_user(body, creating=False)
        username, email = _text(body, "userid", required=False), _text(body, "email", required=False)
        self._unique(user_id, username, email)
        self._relations(user, body)
        user.username = username or user.username
        user.email = email if email is not None else user.email
        user.firstname = _text(body, "firstname", required=False) or user.firstname
        user.lastname = _text(body, "lastname", required=False) or user.lastname
        user.level = str(body.get("level") or user.level)
        return user

    def change_status(self, user_ids: list[int], valid: bool) -> None:
        for user_id in user_ids:
            self.user(user_id)  # all known, or nothing changes
        for user_id in user_ids:
            self.users[user_id].valid = valid

    # -- enrollments ------------------------------------------------------------------------------------------
    def enrol(self, user_id: int, course_id: int, level: str) -> bool:
        """Enrol; False when the user was enrolled already (nothing changes)."""
        self.user(user_id)
        self.course(course_id)
        if level not in COURSE_LEVELS:
            raise PlatformError(400, f"Invalid enrollment level: {level}")
        if (user_id, course_id) in self.enrollments:
            return False
        self.enrollments[(user_id, course_id)] = Enrollment(level=level)
        return True

    def set_level(self, user_id: int, course_id: int, level: str) -> None:
        if level not in COURSE_LEVELS:
            raise PlatformError(400, f"Invalid enrollment level: {level}")
        if (user_id, course_id) not in self.enrollments:
            raise PlatformError(404, "Enrollment not found", CODE_NOT_FOUND)
        held = self.enrollments[(user_id, course_id)]
        held.level, held.updated_at = level, _now()  # an admin's change moves the enrolment's last update too

    def unenrol(self, user_id: int, course_id: int) -> None:
        if self.enrollments.pop((user_id, course_id), None) is None:
            raise PlatformError(404, "Enrollment not found", CODE_NOT_FOUND)

    # -- branches ---------------------------------------------------------------------------------------------
    def assign(self, branch_id: int, user_ids: list[int], *, join: bool) -> None:
        self.branch(branch_id)
        for user_id in user_ids:
            self.user(user_id)
        for user_id in user_ids:
            if join:
                self.users[user_id].branches.add(branch_id)
            else:
                self.users[user_id].branches.discard(branch_id)
