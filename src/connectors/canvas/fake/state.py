"""What a fake Canvas root account holds: users, their logins, authentication providers, courses with their default
sections, enrolments, roles and observer links. Plain records; `server.py` renders them as Instructure documents.

Behaviour kept from Canvas (instructure/canvas-lms): a login's `unique_id` is unique per account and authentication
provider, case-insensitively (Pseudonym validations); an SIS id is unique per root account; enrolling a user who
already has an enrolment of that type in the section re-uses it and sets its state (Course#enroll_user); an observer
link (`UserObservationLink`) gives the observer an `ObserverEnrollment` in every course the observee is a student in,
now and later, and removing the link removes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

BASE_ROLES = {
    "StudentEnrollment": 3,
    "TeacherEnrollment": 4,
    "TaEnrollment": 5,
    "DesignerEnrollment": 6,
    "ObserverEnrollment": 7,
}
BUILT_IN_ROLE_NAMES = {
    "StudentEnrollment",
    "TeacherEnrollment",
    "TaEnrollment",
    "DesignerEnrollment",
    "ObserverEnrollment",
}
ROOT_ACCOUNT_ID = 1


def now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class CanvasInvalid(Exception):
    """A 400 with Canvas's nested error shape: `{"errors": {object: {attribute: [{attribute, type, message}]}}}`."""

    def __init__(self, obj: str, attribute: str, kind: str, message: str) -> None:
        super().__init__(message)
        self.body = {"errors": {obj: {attribute: [{"attribute": attribute, "type": kind, "message": message}]}}}


@dataclass
class FakeUser:
    id: int
    name: str
    short_name: str
    sortable_name: str
    email: str | None = None
    deleted: bool = False
    created_at: str = field(default_factory=now_text)


@dataclass
class FakeLogin:
    id: int
    user_id: int
    unique_id: str
    sis_user_id: str | None = None
    integration_id: str | None = None
    authentication_provider_id: int | None = None
    workflow_state: str = "active"  # active | suspended | deleted
    account_id: int = ROOT_ACCOUNT_ID


@dataclass
class FakeProvider:
    id: int
    auth_type: str  # canvas | saml | openid_connect | cas | ldap | google | microsoft ...
    position: int
    login_attribute: str | None = None
    idp_entity_id: str | None = None


@dataclass
class FakeCourse:
    id: int
    name: str
    course_code: str
    sis_course_id: str | None
    section_id: int
    workflow_state: str = "available"
    account_id: int = ROOT_ACCOUNT_ID
    requirements: int = 0  # module completion requirements; 0: not module based (no module progress to report)


@dataclass
class FakeRole:
    id: int
    label: str
    base_role_type: str


@dataclass
class FakeEnrollment:
    id: int
    user_id: int
    course_id: int
    course_section_id: int
    type: str
    role_id: int
    role: str
    enrollment_state: str = "active"  # active | invited | inactive | completed | deleted | creation_pending
    associated_user_id: int | None = None
    last_activity_at: str | None = None
    total_activity_time: int = 0
    created_at: str = field(default_factory=now_text)
    updated_at: str = field(default_factory=now_text)
    current_score: float | None = None
    final_score: float | None = None
    requirements_met: int = 0  # of the course's module completion requirements (a student's, per enrolment here)
    modules_completed_at: str | None = None  # when the last requirement was met


@dataclass
class AccountState:
    users: dict[int, FakeUser] = field(default_factory=dict)
    logins: dict[int, FakeLogin] = field(default_factory=dict)
    providers: dict[int, FakeProvider] = field(default_factory=dict)
    courses: dict[int, FakeCourse] = field(default_factory=dict)
    roles: dict[int, FakeRole] = field(default_factory=dict)
    enrollments: dict[int, FakeEnrollment] = field(default_factory=dict)
    observers: set[tuple[int, int]] = field(default_factory=set)  # (observer user id, observee user id)
    _next: int = 100

    def __post_init__(self) -> None:
        for name, role_id in BASE_ROLES.items():
            self.roles[role_id] = FakeRole(role_id, name, name)
        self.providers[1] = FakeProvider(1, "canvas", 1)

    def next_id(self) -> int:
        self._next += 1
        return self._next

    # -- users and logins ---------------------------------------------------------------------------------------
    def live_users(self) -> list[FakeUser]:
        return [u for u in sorted(self.users.values(), key=lambda u: u.sortable_name.casefold()) if not u.deleted]

    def logins_of(self, user_id: int) -> list[FakeLogin]:
        return [lg for lg in self.logins.values() if lg.user_id == user_id and lg.workflow_state != "deleted"]

    def primary_login(self, user_id: int) -> FakeLogin | None:
        logins = sorted(self.logins_of(user_id), key=lambda lg: (lg.sis_user_id is None, lg.id))
        return logins[0] if logins else None

    def login_by(self, attribute: str, value: str) -> FakeLogin | None:
        for login in self.logins.values():
            if login.workflow_state == "deleted" or self.users[login.user_id].deleted:
                continue
            found = getattr(login, attribute)
            if found is not None and (
                found.casefold() == value.casefold() if attribute == "unique_id" else found == value
            ):
                return login
        return None

    def check_login(
        self, unique_id: str, sis_user_id: str | None, provider_id: int | None, *, obj: str, ignore: int | None = None
    ) -> None:
        """Canvas's uniqueness rules for a login being saved. Raises `CanvasInvalid`."""
        if not unique_id.strip():
            raise CanvasInvalid(obj, "unique_id", "too_short", "can't be blank")
        for other in self.logins.values():
            if other.id == ignore or other.workflow_state == "deleted" or self.users[other.user_id].deleted:
                continue
            same_provider = other.authentication_provider_id == provider_id
            if same_provider and other.unique_id.casefold() == unique_id.casefold():
                raise CanvasInvalid(
                    obj, "unique_id", "taken", "ID already in use for this account and authentication provider"
                )
            if sis_user_id and other.sis_user_id == sis_user_id:
                raise CanvasInvalid(obj, "sis_user_id", "taken", f"The SIS ID {sis_user_id} is already in use")
        if provider_id is not None and provider_id not in self.providers:
            raise CanvasInvalid(obj, "authentication_provider_id", "invalid", "is invalid")

    # -- courses and enrolments ---------------------------------------------------------------------------------
    def add_course(self, name: str, *, sis_course_id: str | None = None) -> FakeCourse:
        course = FakeCourse(self.next_id(), name, name, sis_course_id, section_id=self.next_id())
        self.courses[course.id] = course
        return course

    def enrollments_in(self, course_id: int) -> list[FakeEnrollment]:
        return [e for e in self.enrollments.values() if e.course_id == course_id and e.enrollment_state != "deleted"]

    def enroll(
        self, course: FakeCourse, user_id: int, role: FakeRole, state: str, associated_user_id: int | None = None
    ) -> FakeEnrollment:
        """Course#enroll_user: one enrolment per user, section, role and observee, re-used and re-stated."""
        for e in self.enrollments.values():
            key = (e.user_id, e.course_section_id, e.role_id, e.associated_user_id)
            if key == (user_id, course.section_id, role.id, associated_user_id):
                e.enrollment_state, e.updated_at = state, now_text()
                break
        else:
            e = FakeEnrollment(
                self.next_id(), user_id, course.id, course.section_id, role.base_role_type, role.id, role.label,
                state, associated_user_id,
            )  # fmt: skip
            self.enrollments[e.id] = e
        if role.base_role_type == "StudentEnrollment" and state in ("active", "invited"):
            for observer, observee in sorted(self.observers):
                if observee == user_id:
                    self.enroll(course, observer, self.roles[BASE_ROLES["ObserverEnrollment"]], state, user_id)
        return e

    def link_observer(self, observer: int, observee: int) -> None:
        self.observers.add((observer, observee))
        for e in list(self.enrollments.values()):
            if e.user_id == observee and e.type == "StudentEnrollment" and e.enrollment_state in ("active", "invited"):
                role = self.roles[BASE_ROLES["ObserverEnrollment"]]
                self.enroll(self.courses[e.course_id], observer, role, e.enrollment_state, observee)

    def unlink_observer(self, observer: int, observee: int) -> None:
        self.observers.discard((observer, observee))
        for e in self.enrollments.values():
            if e.user_id == observer and e.associated_user_id == observee:
                e.enrollment_state = "deleted"
