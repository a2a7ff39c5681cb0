"""A LearnUpon portal's state and the rules its API enforces on writes, without HTTP.

Each write method returns the answer body or raises `LuError(status, message)`; `server.py` turns that into the
HTTP answer. Rules taken from docs.learnupon.com/api and the support articles (see the connector's README page for
which are confirmed and which are inferred): email unique per portal (case-insensitive), username 6-30 characters
and unique, `user_type` one of four, a password of at least 6 characters on create, custom user data only for
fields the portal defines, group titles unique, one enrolment per user and course, completed enrolments removed
only with `remove_from_history`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

USER_TYPES = ("learner", "manager", "instructor", "admin")
MEMBERSHIP_TYPES = {1: "learner", 2: "admin", 3: "instructor", 4: "manager"}
STATUSES = ("not_started", "in_progress", "completed", "passed", "failed", "pending_review")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
CREATED_AT = "2025-06-02T12:00:00Z"


class LuError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Portal:
    """Users, courses, enrolments, groups and memberships of one portal, keyed by LearnUpon's integer ids."""

    custom_fields: set[str] = field(default_factory=set)
    users: dict[int, dict[str, Any]] = field(default_factory=dict)
    courses: dict[int, dict[str, Any]] = field(default_factory=dict)
    enrollments: dict[int, dict[str, Any]] = field(default_factory=dict)
    groups: dict[int, dict[str, Any]] = field(default_factory=dict)
    memberships: dict[int, dict[str, Any]] = field(default_factory=dict)
    next_id: int = 1001

    def _id(self) -> int:
        self.next_id += 1
        return self.next_id

    # -- users --------------------------------------------------------------------------------------------------
    def _check_user(self, body: dict[str, Any], user_id: int | None) -> None:
        email = body.get("email")
        if email is not None:
            if not isinstance(email, str) or not _EMAIL.match(email.strip()):
                raise LuError(422, "Email is invalid")
            for other in self.users.values():
                if other["id"] != user_id and other["email"].casefold() == email.strip().casefold():
                    raise LuError(422, "A user already exists with this email address")
        username = body.get("username")
        if username:
            if not isinstance(username, str) or not 6 <= len(username) <= 30:
                raise LuError(422, "Username must be between 6 and 30 characters")
            for other in self.users.values():
                if other["id"] != user_id and (other.get("username") or "").casefold() == username.casefold():
                    raise LuError(422, "Username is already in use")
        if "user_type" in body and body["user_type"] not in USER_TYPES:
            raise LuError(422, "User type is invalid")
        for label in body.get("CustomData") or {}:
            if label not in self.custom_fields:
                raise LuError(422, f"Custom user data field '{label}' does not exist")
        for name in ("first_name", "last_name"):
            if name in body and not str(body[name] or "").strip():
                raise LuError(422, f"{name.replace('_', ' ').capitalize()} can't be blank")

    def create_user(self, body: dict[str, Any]) -> dict[str, Any]:
        for name in ("email", "first_name", "last_name"):
            if not body.get(name):
                raise LuError(422, f"{name.replace('_', ' ').capitalize()} can't be blank")
        password = body.get("password")
        if not isinstance(password, str) or len(password) < 6:
            raise LuError(422, "Password is too short (minimum is 6 characters)")
        self._check_user(body, None)
        user_id = self._id()
        self.users[user_id] = {
            "id": user_id,
            "email": body["email"].strip(),
            "username": body.get("username") or None,
            "first_name": body["first_name"],
            "last_name": body["last_name"],
            "user_type": body.get("user_type", "learner"),
            "enabled": bool(body.get("enabled", True)),
            "CustomData": dict(body.get("CustomData") or {}),
            "created_at": CREATED_AT,
            "sign_in_count": 0,
        }
        return {"id": user_id}

    def update_user(self, user_id: int, body: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(user_id)
        if user is None:
            raise LuError(404, "User not found")
        change = dict(body)
        if "new_email" in change:
            change["email"] = change.pop("new_email")
        if "new_username" in change:
            change["username"] = change.pop("new_username")
        self._check_user(change, user_id)
        for name in ("email", "username", "first_name", "last_name", "user_type"):
            if name in change:
                user[name] = change[name].strip() if name == "email" else change[name]
        if "enabled" in change:
            user["enabled"] = bool(change["enabled"])
        if "CustomData" in change:
            user["CustomData"] = {**user["CustomData"], **(change["CustomData"] or {})}
        return {"id": user_id}

    def search_users(self, email: str | None, username: str | None) -> list[dict[str, Any]]:
        found = [
            u
            for u in self.users.values()
            if (email is not None and u["email"].casefold() == email.strip().casefold())
            or (username is not None and (u.get("username") or "").casefold() == username.strip().casefold())
        ]
        if not found:
            raise LuError(404, "User not found")
        return found

    # -- enrolments ---------------------------------------------------------------------------------------------
    def enrol(self, user_id: Any, course_id: Any, due_date: Any = None) -> dict[str, Any]:
        due = None if due_date is None else _date_time(due_date, "due_date")
        if not isinstance(user_id, int) or user_id not in self.users:
            raise LuError(404, "User not found")
        if not isinstance(course_id, int) or course_id not in self.courses:
            raise LuError(404, "Course not found")
        if any(e["user_id"] == user_id and e["course_id"] == course_id for e in self.enrollments.values()):
            raise LuError(422, "User is already enrolled in this course")
        enrollment_id = self._id()
        self.enrollments[enrollment_id] = {
            "id": enrollment_id,
            "user_id": user_id,
            "course_id": course_id,
            "course_name": self.courses[course_id]["name"],
            "email": self.users[user_id]["email"],
            "status": "not_started",
            "percentage": None,
            "percentage_complete": 0,
            "date_enrolled": CREATED_AT,
            "date_started": None,
            "date_completed": None,
            "date_lastaccessed": None,
            "due_date": due,
            "expires_at": None,
            "is_overdue": False,
            "unenrolled": False,
            "updated_at": CREATED_AT,
        }
        return {"id": enrollment_id, "created_at": CREATED_AT, "user_id": user_id}

    def change_enrollment(self, enrollment_id: int, body: dict[str, Any]) -> dict[str, Any]:
        """`PATCH /enrollments/{id}`: only `due_date` and `expires_at` can change, each `YYYY-MM-DD`."""
        enrollment = self.enrollments.get(enrollment_id)
        if enrollment is None:
            raise LuError(404, "Enrollment not found")
        change = {name: body[name] for name in ("due_date", "expires_at") if name in body}
        if not change:
            raise LuError(400, "Nothing to update: send due_date or expires_at")
        for name, value in change.items():
            enrollment[name] = _date_time(value, name)
        enrollment["updated_at"] = CREATED_AT
        return {"id": enrollment_id}

    def unenrol(self, enrollment_id: int, *, remove_from_history: bool) -> dict[str, Any]:
        enrollment = self.enrollments.get(enrollment_id)
        if enrollment is None:
            raise LuError(404, "Enrollment not found")
        if enrollment["status"] in ("completed", "passed") and not remove_from_history:
            raise LuError(422, "Completed enrollments can only be removed with remove_from_history")
        del self.enrollments[enrollment_id]
        return {}

    # -- groups -------------------------------------------------------------------------------------------------
    def create_group(self, body: dict[str, Any]) -> dict[str, Any]:
        title = str(body.get("title") or "").strip()
        if not title:
            raise LuError(422, "Title can't be blank")
        if any(g["title"].casefold() == title.casefold() for g in self.groups.values()):
            raise LuError(422, "Title has already been taken")
        group_id = self._id()
        self.groups[group_id] = {"id": group_id, "title": title, "description": body.get("description") or ""}
        return {"id": group_id}

    def join(self, group_id: Any, user_id: Any, type_id: Any) -> dict[str, Any]:
        if not isinstance(group_id, int) or group_id not in self.groups:
            raise LuError(404, "Group not found")
        if not isinstance(user_id, int) or user_id not in self.users:
            raise LuError(404, "User not found")
        if type_id not in MEMBERSHIP_TYPES:
            raise LuError(422, "Group membership type is invalid")
        if MEMBERSHIP_TYPES[type_id] == "manager" and self.users[user_id]["user_type"] not in ("manager", "admin"):
            raise LuError(422, "Only users of type manager or admin can manage a group")
        if any(m["group_id"] == group_id and m["user_id"] == user_id for m in self.memberships.values()):
            raise LuError(422, "User is already a member of this group")
        membership_id = self._id()
        self.memberships[membership_id] = {
            "id": membership_id,
            "group_id": group_id,
            "user_id": user_id,
            "group_membership_type_id": type_id,
        }
        return {"id": membership_id}

    def leave(self, membership_id: int) -> dict[str, Any]:
        if self.memberships.pop(membership_id, None) is None:
            raise LuError(404, "Group membership not found")
        return {}

    def member_rows(self, group_id: int) -> list[dict[str, Any]]:
        """`GET /group_memberships?group_id=`: the members as user rows whose `id` is the membership's."""
        rows = []
        for m in self.memberships.values():
            if m["group_id"] == group_id:
                user = self.users[m["user_id"]]
                rows.append({**_public(user), **m})
        return rows


def _date_time(value: Any, name: str) -> str:
    """A date sent as `YYYY-MM-DD`, as LearnUpon lists it back: a UTC date/time."""
    if not isinstance(value, str) or not _DATE.match(value):
        raise LuError(422, f"{name} must be a date in the format YYYY-MM-DD")
    try:
        day = date.fromisoformat(value)
    except ValueError as error:
        raise LuError(422, f"{name} must be a date in the format YYYY-MM-DD") from error
    return f"{day.isoformat()}T00:00:00Z"


def _public(user: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in user.items() if k != "password"}


def public_user(user: dict[str, Any]) -> dict[str, Any]:
    return _public(user)
