"""The fake Moodle site's data: users, courses with a manual enrolment instance, roles, enrolments, role assignments
by context, and the details Moodle's user_get_user_details() returns for a user."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

SITE_URL = "https://moodle.example.test"
SITE_ID = 1

# A fresh install's roles with their context levels (admin/roles define.php "Context types where this role may be
# assigned"), plus the custom "parent" role the docs describe for user-context mentoring
# (https://docs.moodle.org/en/Parent_role).
DEFAULT_ROLES: tuple[tuple[int, str, str, set[str]], ...] = (
    (1, "manager", "Manager", {"system", "coursecat", "course"}),
    (2, "coursecreator", "Course creator", {"system", "coursecat"}),
    (3, "editingteacher", "Teacher", {"course", "module"}),
    (4, "teacher", "Non-editing teacher", {"course", "module"}),
    (5, "student", "Student", {"course", "module"}),
    (6, "guest", "Guest", set()),
    (7, "user", "Authenticated user", set()),
    (8, "frontpage", "Authenticated user on frontpage", set()),
    (9, "parent", "Parent", {"user"}),
)
_CONTEXT_BASE = {"course": 100_000, "user": 200_000}
AUTH_PLUGINS = {"manual", "email", "nologin", "ldap", "oauth2", "saml2", "oidc", "shibboleth", "cas", "db", "lti"}
INTERNAL_AUTHS = {"manual", "email", "nologin"}


@dataclass
class FakeUser:
    id: int
    username: str
    firstname: str
    lastname: str
    email: str
    idnumber: str = ""
    auth: str = "manual"
    suspended: bool = False
    deleted: bool = False
    department: str = ""
    institution: str = ""
    city: str = ""
    country: str = ""
    lang: str = "en"
    password_mailed: bool = False
    custom: dict[str, str] = field(default_factory=dict)


@dataclass
class FakeCourse:
    id: int
    shortname: str
    fullname: str
    format: str = "topics"
    category: int = 1
    manual_instance: bool = True


@dataclass
class FakeRole:
    id: int
    shortname: str
    name: str
    levels: set[str]


@dataclass
class SiteState:
    users: dict[int, FakeUser] = field(default_factory=dict)
    courses: dict[int, FakeCourse] = field(default_factory=dict)
    roles: dict[int, FakeRole] = field(default_factory=dict)
    enrolments: dict[tuple[int, int], dict[str, int]] = field(default_factory=dict)  # (user, course) -> status
    lastaccess: dict[tuple[int, int], int] = field(default_factory=dict)
    # (role id, user id, context level, instance id); the system context's instance is 0.
    assignments: set[tuple[int, int, str, int]] = field(default_factory=set)
    profile_fields: dict[str, str] = field(default_factory=dict)  # shortname -> datatype
    next_user_id: int = 1
    next_course_id: int = 1

    def snapshot(self) -> SiteState:
        return copy.deepcopy(self)

    def restore(self, saved: SiteState) -> None:
        self.__dict__.update(copy.deepcopy(saved).__dict__)

    def live_user(self, user_id: int) -> FakeUser | None:
        user = self.users.get(user_id)
        return user if user is not None and not user.deleted else None

    def context_exists(self, level: str, instance: int) -> bool:
        if level == "system":
            return instance == 0
        if level == "course":
            return instance in self.courses
        if level == "user":
            return self.live_user(instance) is not None
        return False

    def context_id(self, level: str, instance: int) -> int:
        """Context ids as this fake numbers them: 1 is the system context, as on every Moodle site."""
        return 1 if level == "system" else _CONTEXT_BASE[level] + instance

    def context_by_id(self, context_id: int) -> tuple[str, int] | None:
        if context_id == 1:
            return "system", 0
        for level, base in _CONTEXT_BASE.items():
            if base < context_id < base + 100_000 and self.context_exists(level, context_id - base):
                return level, context_id - base
        return None

    def course_roles(self, user_id: int, course_id: int) -> list[FakeRole]:
        held = {r for r, u, level, i in self.assignments if (u, level, i) == (user_id, "course", course_id)}
        return [self.roles[r] for r in sorted(held)]


def user_details(state: SiteState, user: FakeUser) -> dict[str, Any]:
    """What user_get_user_details() returns to an admin token: empty optional fields are left out."""
    details: dict[str, Any] = {
        "id": user.id,
        "username": user.username,
        "firstname": user.firstname,
        "lastname": user.lastname,
        "fullname": f"{user.firstname} {user.lastname}",
        "email": user.email,
        "auth": user.auth,
        "suspended": user.suspended,
        "confirmed": True,
        "lang": user.lang,
        "theme": "",
        "timezone": "99",
        "mailformat": 1,
        "firstaccess": 0,
        "lastaccess": 0,
        "profileimageurlsmall": f"{SITE_URL}/theme/image.php/boost/core/1/u/f2",
        "profileimageurl": f"{SITE_URL}/theme/image.php/boost/core/1/u/f1",
    }
    for key in ("idnumber", "department", "institution", "city", "country"):
        if getattr(user, key):
            details[key] = getattr(user, key)
    custom = [
        {"type": state.profile_fields[name], "value": value, "displayvalue": value, "name": name, "shortname": name}
        for name, value in sorted(user.custom.items())
        if value and name in state.profile_fields
    ]
    if custom:
        details["customfields"] = custom
    return details


def course_record(course: FakeCourse) -> dict[str, Any]:
    """A core_course_get_courses entry (a subset of its keys)."""
    return {
        "id": course.id,
        "shortname": course.shortname,
        "categoryid": 0 if course.format == "site" else course.category,
        "fullname": course.fullname,
        "displayname": course.fullname,
        "idnumber": "",
        "summary": "",
        "summaryformat": 1,
        "format": course.format,
        "startdate": 0,
        "enddate": 0,
        "visible": 1,
        "enablecompletion": 1,
    }
