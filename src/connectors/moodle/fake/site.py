"""The fake Moodle site's data: users, courses with a manual enrolment instance, roles, enrolments, role assignments
by context, and the details Moodle's user_get_user_details() returns for a user."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from enrolsync.connectors.moodle.fake.tables import Assignment, Assignments, Enrolments, Journal, Table, Users

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

    # Not a field: the table holding this user, told of every attribute set so its indexes and journal follow
    # writes made by hand (a test deleting and renaming an account as Moodle's UI would) as well as the fake's own.
    def attach(self, table: Users | None) -> None:
        object.__setattr__(self, "_table", table)

    def __setattr__(self, name: str, value: Any) -> None:
        table: Users | None = self.__dict__.get("_table")
        if table is None or name not in self.__dict__:
            object.__setattr__(self, name, value)
        else:
            table.changed(self, name, getattr(self, name), lambda: object.__setattr__(self, name, value))


@dataclass
class FakeCourse:
    id: int
    shortname: str
    fullname: str
    format: str = "topics"
    category: int = 1
    manual_instance: bool = True
    idnumber: str = ""  # the course ID number (often the SIS or catalogue code); unique when set
    completion: bool = True  # enablecompletion: completion tracking on in this course
    criteria: bool = True  # course completion criteria set (the fake's one: manual self completion)


@dataclass
class FakeRole:
    id: int
    shortname: str
    name: str
    levels: set[str]


class SiteState:
    """Everything the site holds. Write functions run inside `transaction()`: all of a call's writes or none."""

    def __init__(self) -> None:
        self.journal = Journal()
        self.users = Users(self.journal)
        self.courses: dict[int, FakeCourse] = {}
        self.roles: dict[int, FakeRole] = {}
        self.enrolments = Enrolments(self.journal)  # (user, course) -> {"status": 0 | 1}
        self.lastaccess: Table[tuple[int, int], int] = Table(self.journal)
        self.completed: Table[tuple[int, int], int] = Table(self.journal)  # (user, course) -> timecompleted
        self._assignments = Assignments(self.journal)
        self.profile_fields: dict[str, str] = {}  # shortname -> datatype
        self.next_user_id = 1
        self.next_course_id = 1

    @property
    def assignments(self) -> Assignments:
        return self._assignments

    @assignments.setter
    def assignments(self, rows: Iterable[Assignment]) -> None:
        # Tests replace the whole set by hand (`state.assignments = {...}`), as an admin would; it stays indexed.
        self._assignments = Assignments(self.journal, rows)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Moodle's delegated transaction around one write function: the first error undoes all its writes."""
        # Ids are not given back: a rolled-back insert still consumed its value of the database sequence
        # (PostgreSQL sequences and MySQL auto-increment are outside transactions; measured on PostgreSQL).
        with self.journal.transaction():
            yield

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
        return [self.roles[r] for r in sorted(self.assignments.roles_at(user_id, "course", course_id))]


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
        "idnumber": course.idnumber,
        "summary": "",
        "summaryformat": 1,
        "format": course.format,
        "startdate": 0,
        "enddate": 0,
        "visible": 1,
        "enablecompletion": int(course.completion),
    }
